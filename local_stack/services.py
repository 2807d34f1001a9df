"""The services of the local stack: how each starts, with what environment, and when it is
healthy. `local_stack.stack.Stack` starts and stops them.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from local_stack import airflow_local, loopback, run_paths
from local_stack.airflow_service import airflow_bin, airflow_env, airflow_home
from local_stack.processes import console_script
from ray_jobs.core import ray_rules, s3
from ray_jobs.core.errors import ConfigError, ServiceUnavailable
from ray_jobs.core.polling import http_ok, wait_until
from ray_jobs.core.settings import Settings, child_env

log = logging.getLogger(__name__)

S3_PROBE_KEY = ".stack/ready-probe"  # outside every prefix the pipeline lists
WORKER_PREFIX = "ray-worker-"  # the local stack's Ray worker nodes: ray-worker-1, ...


@dataclass(frozen=True)
class Service:
    """One service of the stack: how to start it and how to tell it is healthy."""

    name: str
    url: str
    port: int
    marker: str
    argv: Callable[[], list[str]]
    healthy: Callable[[], bool]
    after_start: Callable[[], None] | None = None
    stray_markers: tuple[str, ...] = ()
    stop_signal: signal.Signals = signal.SIGTERM
    stop_timeout_s: float = 20.0
    start_timeout_s: float = 90.0
    # Starts to try before giving up; a Python service started with `-X faulthandler` has its
    # stacks written to its log (see Owned.dump_stacks) each time it is given up on.
    start_attempts: int = 1
    dumps_stacks: bool = False


def s3_service(st: Settings) -> Service:
    # `<run_dir>/s3` through the socket folder: weed reads -dir as a comma-separated list of
    # folders, so a checkout path with a comma failed at start.
    data_dir = run_paths.socket_dir(st) / "s3"
    base = st.s3_internal_base_port

    def argv() -> list[str]:
        run_paths.linked(st, data_dir.name, st.run_dir / "s3")
        config = st.run_dir / "s3-identities.json"
        config.write_text(json.dumps(_s3_identities(st)))
        config.chmod(0o600)
        return [
            console_script("weed"),
            "mini",
            f"-dir={data_dir}",
            f"-ip={st.host}",
            f"-ip.bind={st.host}",
            "-master.telemetry=false",
            f"-s3.config={config}",
            f"-s3.port={st.s3_port}",
            f"-master.port={base}",
            f"-volume.port={base + 1}",
            f"-filer.port={base + 2}",
            f"-admin.port={base + 3}",
            "-admin.ui=false",
            "-webdav=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
        ]

    def healthy() -> bool:
        # Listing buckets only asks the filer; objects are served by the volume server, which
        # registers with the master a moment later. A restarted S3 that lists but cannot yet
        # read answers INTERNAL_FAILURE, so healthy means a probe object makes the round trip.
        try:
            client = s3.client(st, attempts=1)
            names = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
            if st.bucket_data in names:
                s3.round_trip(client, s3.S3Uri(st.bucket_data, S3_PROBE_KEY))
        except Exception:  # noqa: BLE001  (any failure means "not ready yet")
            return False
        return True

    def after_start() -> None:
        created = s3.ensure_buckets(
            s3.client(st), [st.bucket_data, st.bucket_processed, st.bucket_mlflow]
        )
        if created:
            log.info("created buckets: %s", ", ".join(created))
        if not wait_until(healthy, 60):
            raise ServiceUnavailable(f"S3 at {st.s3_endpoint_url} lists buckets but cannot store")

    # weed mini shuts down in ~4 s on SIGINT (its Ctrl+C path), ~15 s on SIGTERM.
    return Service(
        "s3",
        st.s3_endpoint_url,
        st.s3_port,
        f"-dir={data_dir}",
        argv,
        healthy,
        after_start,
        stop_signal=signal.SIGINT,
    )


def mlflow_service(st: Settings) -> Service:
    db = st.run_dir / "mlflow" / "mlflow.db"

    def argv() -> list[str]:
        db.parent.mkdir(parents=True, exist_ok=True)
        return [
            console_script("mlflow"),
            "server",
            "--host",
            st.host,
            "--port",
            str(st.mlflow_port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{db}",
            "--artifacts-destination",
            f"s3://{st.bucket_mlflow}",
            "--serve-artifacts",
        ]

    def healthy() -> bool:
        return http_ok(f"{st.mlflow_tracking_uri}/health")

    return Service("mlflow", st.mlflow_tracking_uri, st.mlflow_port, str(db), argv, healthy)


def airflow_process(st: Settings) -> Service:
    url = f"http://{st.host}:{st.airflow_port}"

    def argv() -> list[str]:
        airflow_bin(st)  # a clear error if Airflow's venv is missing
        return [sys.executable, "-m", airflow_local.MODULE, str(airflow_home(st))]

    def healthy() -> bool:
        return http_ok(f"{url}/api/v2/monitor/health")

    return Service(
        "airflow",
        url,
        st.airflow_port,
        f"{airflow_local.MODULE} {airflow_home(st)}",
        argv,
        healthy,
        # Airflow's venv may serve other homes: stop by process group only, never by pattern.
        stray_markers=(),
    )


def service_env(st: Settings, name: str) -> dict[str, str]:
    """The environment a service's process starts with."""
    if name == "airflow":
        return airflow_env(st)
    extra: dict[str, str] = {}
    if name == "mlflow":
        access_key, secret_key = local_s3_keys(st)
        extra = {
            # MLflow's job runner (six huey consumers, ~1.8 GiB) serves GenAI features this
            # project never uses; tracking, registry and artifacts do not need it.
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            "MLFLOW_S3_ENDPOINT_URL": st.s3_endpoint_url,
            "AWS_ACCESS_KEY_ID": access_key,
            "AWS_SECRET_ACCESS_KEY": secret_key,
            "AWS_DEFAULT_REGION": st.s3_region,
        }
    if name == "ray" or name.startswith(WORKER_PREFIX):
        # Jobs (and the tasks, trials and replicas on every node) inherit their raylet's
        # environment: this is how they learn endpoints and keys without them appearing in
        # job submissions.
        # `python` in a job entrypoint must be this environment's interpreter.
        python_bin = Path(run_paths.ray_python(st)).parent
        path = f"{python_bin}{os.pathsep}{os.environ.get('PATH', '')}"
        extra = {
            "PATH": path,
            "PYTHONPATH": _pythonpath(loopback.SITE_DIR if st.on_loopback else None),
            **ray_rules.DATA_ENV,
            **run_paths.haproxy_env(st),
        }
    return child_env(st, extra)


def _pythonpath(site: str | None = None) -> str:
    """Keep a source checkout importable by Ray workers even if it is not installed; `site`
    (a folder with a sitecustomize) goes first."""
    root = str(Path(__file__).resolve().parent.parent)
    return os.pathsep.join(filter(None, [site, root, os.environ.get("PYTHONPATH")]))


def local_s3_keys(st: Settings) -> tuple[str, str]:
    """The keys the local S3 server is configured with: required here, unlike on a cluster."""
    keys = st.s3_keys()
    if keys is None:
        raise ConfigError(
            "the local stack's S3 needs BURNOUT_S3_ACCESS_KEY and BURNOUT_S3_SECRET_KEY "
            "(`make .env` writes them)"
        )
    return keys


def _s3_identities(st: Settings) -> dict[str, object]:
    access_key, secret_key = local_s3_keys(st)
    return {
        "identities": [
            {
                "name": "burnout",
                "credentials": [
                    {
                        "accessKey": access_key,
                        "secretKey": secret_key,
                    }
                ],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
