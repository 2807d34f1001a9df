"""The Python client of the Serve app: one sample call per protocol, and the pieces (sample
record, GraphQL query, auth header and gRPC metadata) that the demo, Airflow's DAG helpers, the
benchmarks and the tests share. It takes addresses, not the project's settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

SAMPLE = {
    "employee_id": "demo-1",
    "date_of_joining": "2008-09-30",
    "gender": "Female",
    "company_type": "Service",
    "wfh_setup_available": "No",
    "designation": 3,
    "resource_allocation": 7,
    "mental_fatigue_score": 8.1,
}
GRAPHQL_QUERY = """query($r: [EmployeeInput!]!) {
  predict(records: $r) { employeeId burnRate riskLevel model { alias version } }
}"""


def camel(record: dict[str, Any]) -> dict[str, Any]:
    """A wire record under GraphQL's camelCase field names."""

    def convert(name: str) -> str:
        head, *rest = name.split("_")
        return head + "".join(part.title() for part in rest)

    return {convert(k): v for k, v in record.items()}


def bearer(token: str | None) -> dict[str, str]:
    """The Authorization header for the optional API token (none when it is off)."""
    return {"Authorization": f"Bearer {token}"} if token else {}


def grpc_metadata(app_name: str, token: str | None) -> tuple[tuple[str, str], ...]:
    """gRPC call metadata: the Serve application, and the API token when it is on."""
    return (
        ("application", app_name),
        *((name.lower(), value) for name, value in bearer(token).items()),
    )


def rest_at(base_url: str, token: str | None = None, explain: bool = False) -> dict[str, Any]:
    """POST {base_url}/predict with the sample record; the prediction (with the model's version,
    and its explanation when asked)."""
    response = httpx.post(
        f"{base_url}/predict",
        params={"explain": "true"} if explain else None,
        json={"records": [SAMPLE]},
        headers=bearer(token),
        timeout=60,
    )
    if response.status_code != 200:
        raise RuntimeError(f"sample prediction failed: HTTP {response.status_code} {response.text}")
    return dict(response.json()["predictions"][0])


@dataclass(frozen=True)
class ServeClient:
    """REST, GraphQL and gRPC calls with the sample record, each returning its prediction."""

    host: str
    http_port: int
    grpc_port: int
    token: str | None = None
    app_name: str = "burnout"

    @classmethod
    def for_settings(cls, settings: Any) -> ServeClient:
        """From anything with the settings' attribute names (host, serve_*_port, api_token())."""
        return cls(
            settings.host,
            settings.serve_http_port,
            settings.serve_grpc_port,
            settings.api_token(),
            settings.serve_app_name,
        )

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    def rest(self) -> dict[str, Any]:
        """POST /predict with the sample record."""
        return rest_at(self.base_url, self.token)

    def predict(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """POST /predict with these wire records; their predictions."""
        response = httpx.post(
            f"{self.base_url}/predict",
            json={"records": records},
            headers=bearer(self.token),
            timeout=120,
        )
        if response.status_code != 200:
            raise RuntimeError(f"predict failed: HTTP {response.status_code} {response.text[:300]}")
        return list(response.json()["predictions"])

    def explained(self) -> dict[str, Any]:
        """POST /predict?explain=true with the sample record."""
        return rest_at(self.base_url, self.token, explain=True)

    def graphql(self) -> dict[str, Any]:
        """The predict query with the sample record."""
        response = httpx.post(
            f"{self.base_url}/graphql",
            json={"query": GRAPHQL_QUERY, "variables": {"r": [camel(SAMPLE)]}},
            headers=bearer(self.token),
            timeout=30,
        )
        response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            raise RuntimeError(f"GraphQL errors: {body['errors']}")
        return dict(body["data"]["predict"][0])

    def grpc_predict(self) -> dict[str, Any]:
        """BurnoutService/Predict with the sample record."""
        import grpc

        from serve_app.protos import burnout_pb2 as pb
        from serve_app.protos import burnout_pb2_grpc

        with grpc.insecure_channel(f"{self.host}:{self.grpc_port}") as channel:
            stub = burnout_pb2_grpc.BurnoutServiceStub(channel)
            reply = stub.Predict(
                pb.PredictRequest(records=[pb.Employee(**SAMPLE)]),
                metadata=grpc_metadata(self.app_name, self.token),
                timeout=30,
            )
        prediction = reply.predictions[0]
        return {
            "employee_id": prediction.employee_id,
            "burn_rate": prediction.burn_rate,
            "risk_level": prediction.risk_level,
            "model": {"alias": prediction.model.alias, "version": prediction.model.version},
        }
