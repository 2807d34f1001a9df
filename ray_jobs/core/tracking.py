"""MLflow helpers shared by the jobs."""

from __future__ import annotations

import importlib
import os
import sys
import threading

import httpx

from ray_jobs.core.errors import ServiceUnavailable
from ray_jobs.core.settings import Settings


def use_tracking_server(settings: Settings) -> None:
    """Point MLflow at the tracking server, failing fast (before any compute) if it is down."""
    client_defaults()
    check_reachable(settings)
    # Through the environment: importing mlflow costs ~2 s of CPU, which a job that logs only at
    # its end can pay in the background (import_in_background).
    os.environ["MLFLOW_TRACKING_URI"] = settings.mlflow_tracking_uri
    if "mlflow" in sys.modules:
        sys.modules["mlflow"].set_tracking_uri(settings.mlflow_tracking_uri)


def import_in_background() -> None:
    """Import mlflow in a thread while the caller waits on other work (Ray, S3)."""
    threading.Thread(
        target=importlib.import_module, args=("mlflow",), name="import-mlflow", daemon=True
    ).start()


def client_defaults() -> None:
    """No telemetry, no "View run" line per run (trials have hundreds); an outage fails a call
    in seconds instead of minutes of retries."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")


def check_reachable(settings: Settings) -> None:
    """ServiceUnavailable unless the tracking server answers its health check."""
    uri = settings.mlflow_tracking_uri
    try:
        response = httpx.get(f"{uri.rstrip('/')}/health", timeout=5.0)
        healthy = response.status_code == 200
    except httpx.HTTPError:
        healthy = False
    if not healthy:
        raise ServiceUnavailable(
            f"MLflow tracking server at {uri} is unreachable: start the local stack with "
            "`make up` or set BURNOUT_MLFLOW_TRACKING_URI"
        )


# MLflow 3's UI opens an experiment without this tag as a GenAI one (traces, judges); ours are
# classic model training, so the UI should open on their runs.
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}


def use_experiment(name: str) -> None:
    """Make `name` the active experiment (created if needed), tagged as model training."""
    import mlflow

    experiment = mlflow.set_experiment(name)
    if experiment.tags.get("mlflow.experimentKind") is None:
        for key, value in EXPERIMENT_KIND.items():
            mlflow.MlflowClient().set_experiment_tag(experiment.experiment_id, key, value)
