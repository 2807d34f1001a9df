"""Deploy, inspect and remove the Serve application on the Ray cluster.

    python -m serve_app.deploy up | down | status

Proxies bind to BURNOUT_HOST (127.0.0.1): REST + GraphQL on BURNOUT_SERVE_HTTP_PORT,
gRPC on BURNOUT_SERVE_GRPC_PORT.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from pathlib import Path
from typing import Any

import httpx
import typer
import yaml

from ray_jobs.core import cli, tracking
from ray_jobs.core.cluster import connect
from ray_jobs.core.errors import ServiceUnavailable
from ray_jobs.core.polling import wait_until
from ray_jobs.core.settings import Settings, get_settings
from serve_app.options import autoscaling

log = logging.getLogger(__name__)

GRPC_SERVICERS = [
    "serve_app.protos.burnout_pb2_grpc.add_BurnoutServiceServicer_to_server",
    "grpc_health.v1.health_pb2_grpc.add_HealthServicer_to_server",
]
READY_TIMEOUT_S = 180.0
SERVE_CONFIG = Path(__file__).resolve().parent / "config.yaml"


def deploy(settings: Settings) -> None:
    """Start Serve (if needed) with our proxy options and deploy the application."""
    tracking.use_tracking_server(settings)
    connect(settings)
    from ray import serve

    from serve_app.deployment import build

    serve.start(
        http_options={"host": settings.host, "port": settings.serve_http_port},
        grpc_options={"port": settings.serve_grpc_port, "grpc_servicer_functions": GRPC_SERVICERS},
        logging_config={"log_level": "WARNING", "enable_access_log": False},
    )
    serve.run(build(settings), name=settings.serve_app_name, route_prefix="/", blocking=False)
    _wait_ready(settings)
    import ray

    # The application lives on in the cluster; a connected driver would only stream every
    # worker's log (Tune trials included) into the caller's terminal.
    ray.shutdown()
    log.info(
        "serving: REST http://%s:%d (docs /docs, GraphQL /graphql), gRPC %s:%d",
        settings.host, settings.serve_http_port, settings.host, settings.serve_grpc_port,
    )  # fmt: skip


def serve_config(settings: Settings, reload_generation: int = 0) -> dict[str, Any]:
    """serve_app/config.yaml for these settings: host, ports, replica bounds, user_config."""
    config = yaml.safe_load(SERVE_CONFIG.read_text())
    config["http_options"] = {"host": settings.host, "port": settings.serve_http_port}
    config["grpc_options"]["port"] = settings.serve_grpc_port
    (application_config,) = config["applications"]
    (deployment,) = application_config["deployments"]
    deployment["autoscaling_config"] = autoscaling(settings)
    deployment["user_config"] = {"reload_generation": reload_generation}
    application_config["args"] = {"serve_poll_interval_s": str(settings.serve_poll_interval_s)}
    return dict(config)


def apply(settings: Settings, reload_generation: int = 0) -> None:
    """Deploy declaratively, as `serve deploy` does (the dashboard's Serve REST API).

    Changing only `reload_generation` is a lightweight update: Serve keeps the replicas and
    calls their `reconfigure`, which reloads every loaded alias from the registry.
    """
    body = serve_config(settings, reload_generation)
    reply = httpx.put(
        _applications_url(settings), json=body, headers=settings.ray_auth_headers(), timeout=60
    )
    reply.raise_for_status()
    # The controller applies the config in its next loop: until then the application still
    # reads RUNNING. Catch it leaving RUNNING (a fast update may already be done), then wait.
    wait_until(lambda: application(settings)["status"] != "RUNNING", 2.0, 0.1)
    wanted = {"reload_generation": reload_generation}

    def applied() -> bool:
        info = application(settings)
        deployed = (info.get("deployed_app_config") or {}).get("deployments") or [{}]
        return info["status"] == "RUNNING" and deployed[0].get("user_config") == wanted

    if not wait_until(applied, READY_TIMEOUT_S, 0.1):
        raise ServiceUnavailable(f"the applied Serve config was not RUNNING in {READY_TIMEOUT_S} s")


def _wait_ready(settings: Settings) -> None:
    wait_healthy(f"http://{settings.host}:{settings.serve_http_port}", READY_TIMEOUT_S)


def wait_healthy(base_url: str, timeout_s: float) -> None:
    """Until GET {base_url}/health answers 200; ServiceUnavailable after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise ServiceUnavailable(f"the Serve application did not answer on {base_url}/health")


def undeploy(settings: Settings) -> None:
    """Delete the application (the Ray cluster keeps running)."""
    connect(settings)
    import ray
    from ray import serve

    from serve_app.alias_board import BOARD_NAMESPACE, board_name

    serve.delete(settings.serve_app_name)
    # The replicas' shared alias board is detached: it goes with the application.
    with contextlib.suppress(ValueError):
        ray.kill(ray.get_actor(board_name(settings.model_name), namespace=BOARD_NAMESPACE))


app = typer.Typer(help=__doc__, no_args_is_help=True, pretty_exceptions_enable=False)


@app.command()
def up() -> None:
    """Deploy (or update) the application and wait until it answers."""
    deploy(get_settings())


@app.command("apply")
def apply_command(
    reload_generation: int = typer.Option(
        0, help="change it to make every replica reload its models in place"
    ),
) -> None:
    """Deploy from serve_app/config.yaml (declarative, like `serve deploy`)."""
    apply(get_settings(), reload_generation)


@app.command()
def down() -> None:
    """Remove the application."""
    undeploy(get_settings())


def _applications_url(settings: Settings) -> str:
    return f"{settings.ray_address.rstrip('/')}/api/serve/applications/"


def application(settings: Settings) -> dict[str, Any]:
    """The application's details as the dashboard's Serve API reports them."""
    response = httpx.get(
        _applications_url(settings), headers=settings.ray_auth_headers(), timeout=10
    )
    response.raise_for_status()
    application = response.json().get("applications", {}).get(settings.serve_app_name)
    if application is None:
        raise ServiceUnavailable(f"no Serve application '{settings.serve_app_name}': `make serve`")
    return dict(application)


def replicas(settings: Settings) -> list[dict[str, Any]]:
    """Every replica of every deployment of the application: id, state, pid, node."""
    return [
        {
            "deployment": name,
            "replica_id": r["replica_id"],
            "state": r["state"],
            "pid": r.get("pid"),
            "node_ip": r.get("node_ip"),
            "node_id": r.get("node_id"),
        }
        for name, d in application(settings)["deployments"].items()
        for r in d.get("replicas", [])
    ]


def wait_running(settings: Settings, count: int, timeout_s: float) -> float:
    """Until exactly `count` replicas are RUNNING and none is starting or stopping; seconds."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        states = [r["state"] for r in replicas(settings)]
        if states.count("RUNNING") == count and len(states) == count:
            return time.monotonic() - started
        time.sleep(0.5)
    raise ServiceUnavailable(f"Serve did not settle at {count} replicas within {timeout_s:.0f} s")


def app_status(settings: Settings) -> dict[str, object]:
    """Serve's view of the application from the dashboard API: status, replicas, autoscaling."""
    info = application(settings)
    return {
        "name": info["name"],
        "status": info["status"],
        "deployments": {
            name: {
                "status": d["status"],
                "target_num_replicas": d.get("target_num_replicas"),
                "replicas": [r["state"] for r in d.get("replicas", [])],
                "autoscaling_config": d["deployment_config"].get("autoscaling_config"),
                "max_ongoing_requests": d["deployment_config"].get("max_ongoing_requests"),
            }
            for name, d in info["deployments"].items()
        },
    }


@app.command()
def status() -> None:
    """Application status, replicas and autoscaling config as JSON."""
    typer.echo(json.dumps(app_status(get_settings()), indent=2))


if __name__ == "__main__":
    cli.run(app)
