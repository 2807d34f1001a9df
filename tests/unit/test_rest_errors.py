"""Error mapping at the REST edge with a real PredictionService whose registry is empty.

The same mapping is exercised over real sockets in tests/integration/test_serve.py; the
"no model registered yet" case needs an empty registry, which is cheaper to build here.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from ray_jobs.core.errors import ModelUnavailable
from serve_app.auth import TokenCheck, digest
from serve_app.predictor import LoadedModel, PredictionService
from serve_app.rest import build_app

RECORD = {
    "gender": "Male",
    "company_type": "Service",
    "wfh_setup_available": "No",
    "designation": 2,
}


def no_model(alias: str) -> LoadedModel:
    raise ModelUnavailable("no model is registered as 'burnout-rate' yet: run training")


class Backend:
    max_body_bytes = 2_000
    auth = TokenCheck(None)

    def __init__(self) -> None:
        self.service = PredictionService(no_model, "champion", max_records=10)

    async def predict(
        self,
        records: list[dict[str, Any]],
        alias: str | None,
        explain: bool = False,
        protocol: str = "rest",
    ) -> list[dict[str, Any]]:
        return self.service.predict(records, alias, explain)

    def health(self) -> dict[str, Any]:
        return {"status": "no_model", "ready": False, "loaded": {}}


def test_no_model_is_503_with_a_hint_and_validation_still_comes_first() -> None:
    client = TestClient(build_app(Backend()))  # type: ignore[arg-type]
    response = client.post("/predict", json={"records": [RECORD]})
    assert response.status_code == 503
    assert "run training" in response.json()["detail"]
    bad = client.post("/predict", json={"records": [{**RECORD, "designation": 8}]})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "records", 0, "designation"]


def test_body_and_record_limits_are_413() -> None:
    client = TestClient(build_app(Backend()))  # type: ignore[arg-type]
    assert client.post("/predict", json={"records": [RECORD] * 11}).status_code == 413
    huge = {"records": [{**RECORD, "employee_id": "x" * 5_000}]}
    assert client.post("/predict", json=huge).status_code == 413


def test_api_token_guards_every_route_but_health_and_the_schema() -> None:
    backend = Backend()
    backend.auth = TokenCheck(digest("a-long-enough-token-123"))
    client = TestClient(build_app(backend))
    for headers in (
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": "a-long-enough-token-123"},
    ):
        response = client.post("/predict", json={"records": [RECORD]}, headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "API token" in response.json()["detail"]
        assert client.get("/models", headers=headers).status_code == 401
    good = {"Authorization": "Bearer a-long-enough-token-123"}
    # Past the guard: the empty registry answers 503, not 401.
    assert client.post("/predict", json={"records": [RECORD]}, headers=good).status_code == 503
    assert client.get("/health").status_code == 200
    assert client.get("/openapi.json").status_code == 200
