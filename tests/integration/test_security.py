"""Security of the running stack: listeners on loopback only, optional API token on all APIs."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from ray_jobs.core.settings import Settings
from serve_app import client as serve_client
from serve_app.client import ServeClient
from tests.conftest import is_loopback, run_module, stack_listeners

pytestmark = pytest.mark.integration


def test_every_listening_socket_of_the_stack_and_serve_binds_loopback(
    settings: Settings, served: dict[str, Any]
) -> None:
    listeners = stack_listeners(settings)
    ports = {port for _, port, _ in listeners}
    # The check must see the stack: S3, MLflow, Ray's GCS and dashboard, Serve's front door
    # (HAProxy: HTTP, gRPC, stats, Prometheus), Ray's own ports and a replica's direct ingress.
    expected = {
        settings.s3_port,
        settings.mlflow_port,
        settings.ray_gcs_port,
        settings.ray_dashboard_port,
        settings.serve_http_port,
        settings.serve_grpc_port,
        settings.serve_haproxy_stats_port,
        settings.serve_haproxy_metrics_port,
        settings.ray_internal_base_port + 1,  # raylet
        settings.ray_internal_base_port + 5,  # metrics agent
    }
    assert expected <= ports, sorted(expected - ports)
    assert any(
        settings.serve_replica_base_port <= port < settings.serve_replica_base_port + 100
        for port in ports
    ), "no replica direct-ingress port seen"
    exposed = sorted({(h, p, n) for h, p, n in listeners if not is_loopback(h)})
    assert not exposed, f"listening beyond loopback: {exposed}"


@pytest.fixture
def token_on(settings: Settings, served: dict[str, Any]) -> Iterator[Settings]:
    """The same app redeployed with BURNOUT_SERVE_API_TOKEN set; redeployed without it after."""
    token = secrets.token_urlsafe(24)
    result = run_module(
        settings, "serve_app.deploy", "up", extra_env={"BURNOUT_SERVE_API_TOKEN": token}
    )
    assert result.returncode == 0, result.stderr[-3000:]
    try:
        yield settings.model_copy(update={"serve_api_token": SecretStr(token)})
    finally:
        restored = run_module(settings, "serve_app.deploy", "up")
        assert restored.returncode == 0, restored.stderr[-3000:]
        assert ServeClient.for_settings(settings).rest()["burn_rate"] >= 0  # open again


def test_api_token_guards_rest_graphql_and_grpc(token_on: Settings) -> None:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from serve_app.protos import burnout_pb2 as pb
    from serve_app.protos import burnout_pb2_grpc

    base = f"http://{token_on.host}:{token_on.serve_http_port}"
    graphql_body = {
        "query": serve_client.GRAPHQL_QUERY,
        "variables": {"r": [serve_client.camel(serve_client.SAMPLE)]},
    }
    for headers in ({}, {"Authorization": "Bearer not-the-token"}):
        rest = httpx.post(
            f"{base}/predict", json={"records": [serve_client.SAMPLE]}, headers=headers
        )
        assert rest.status_code == 401 and rest.headers["www-authenticate"].startswith("Bearer")
        assert httpx.post(f"{base}/graphql", json=graphql_body, headers=headers).status_code == 401
    assert httpx.get(f"{base}/health").status_code == 200
    # With the token all three answer.
    assert ServeClient.for_settings(token_on).rest()["risk_level"] in {"Low", "Medium", "High"}
    assert ServeClient.for_settings(token_on).graphql()["riskLevel"] in {"Low", "Medium", "High"}
    assert ServeClient.for_settings(token_on).grpc_predict()["risk_level"] in {
        "Low",
        "Medium",
        "High",
    }

    app = (("application", token_on.serve_app_name),)
    with grpc.insecure_channel(f"{token_on.host}:{token_on.serve_grpc_port}") as channel:
        stub = burnout_pb2_grpc.BurnoutServiceStub(channel)
        request = pb.PredictRequest(records=[pb.Employee(**serve_client.SAMPLE)])
        for metadata in (app, (*app, ("authorization", "Bearer not-the-token"))):
            with pytest.raises(grpc.RpcError) as refused:
                stub.Predict(request, metadata=metadata, timeout=30)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert "API token" in (refused.value.details() or "")
            with pytest.raises(grpc.RpcError) as listing:
                stub.ListModels(pb.ListModelsRequest(), metadata=metadata, timeout=30)
            assert listing.value.code() == grpc.StatusCode.UNAUTHENTICATED
        health = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), metadata=app, timeout=30
        )
        assert health.status == health_pb2.HealthCheckResponse.SERVING
