"""One sample call per protocol against the running Serve app (used by the demo and Airflow)."""

from __future__ import annotations

from typing import Any

import httpx

from ray_jobs.settings import Settings

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


def rest(settings: Settings) -> dict[str, Any]:
    """POST /predict with the sample record."""
    url = f"http://{settings.host}:{settings.serve_http_port}/predict"
    response = httpx.post(url, json={"records": [SAMPLE]}, timeout=30)
    response.raise_for_status()
    return dict(response.json()["predictions"][0])


def graphql(settings: Settings) -> dict[str, Any]:
    """The predict query with the sample record."""
    url = f"http://{settings.host}:{settings.serve_http_port}/graphql"
    record = {
        "employeeId": SAMPLE["employee_id"], "dateOfJoining": SAMPLE["date_of_joining"],
        "gender": SAMPLE["gender"], "companyType": SAMPLE["company_type"],
        "wfhSetupAvailable": SAMPLE["wfh_setup_available"], "designation": SAMPLE["designation"],
        "resourceAllocation": SAMPLE["resource_allocation"],
        "mentalFatigueScore": SAMPLE["mental_fatigue_score"],
    }  # fmt: skip
    response = httpx.post(
        url, json={"query": GRAPHQL_QUERY, "variables": {"r": [record]}}, timeout=30
    )
    response.raise_for_status()
    body = response.json()
    if body.get("errors"):
        raise RuntimeError(f"GraphQL errors: {body['errors']}")
    return dict(body["data"]["predict"][0])


def grpc_predict(settings: Settings) -> dict[str, Any]:
    """BurnoutService/Predict with the sample record."""
    import grpc

    from serve_app.protos import burnout_pb2 as pb
    from serve_app.protos import burnout_pb2_grpc

    with grpc.insecure_channel(f"{settings.host}:{settings.serve_grpc_port}") as channel:
        stub = burnout_pb2_grpc.BurnoutServiceStub(channel)
        reply = stub.Predict(
            pb.PredictRequest(records=[pb.Employee(**SAMPLE)]),
            metadata=(("application", settings.serve_app_name),),
            timeout=30,
        )
    prediction = reply.predictions[0]
    return {
        "employee_id": prediction.employee_id,
        "burn_rate": prediction.burn_rate,
        "risk_level": prediction.risk_level,
        "model": {"alias": prediction.model.alias, "version": prediction.model.version},
    }
