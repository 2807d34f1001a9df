"""The embedded local stack: SeaweedFS (S3), an MLflow server and a Ray head, no Docker.

    burnout up | down | status      (python -m local_stack.cli ...)

Each service runs as a process group we started and recorded in `<run_dir>/pids`; `down` stops
exactly those. Data (S3 objects, the MLflow database) lives under `<run_dir>` and survives restarts.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import typer

from local_stack import airflow_local, loopback, run_paths
from local_stack.airflow_service import airflow_bin, airflow_env, airflow_home
from local_stack.processes import Owned, tree_usage, wait_until
from ray_jobs.core import cli, s3
from ray_jobs.core.cluster import port_open
from ray_jobs.core.errors import BurnoutError, ServiceUnavailable
from ray_jobs.core.settings import Settings, child_env, get_settings

log = logging.getLogger(__name__)

START_TIMEOUT_S = 90.0
SERVICES = ("s3", "mlflow", "ray")
OPTIONAL = ("airflow",)  # started on request (`make airflow`), not by a plain `up`


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


def _bin(name: str) -> str:
    """A console script of this environment (next to the interpreter), else from PATH."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if not found:
        raise BurnoutError(f"'{name}' is not installed: run `make install`")
    return found


class Stack:
    """The local services for one settings object (the user's, or a test's)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.run_dir = settings.run_dir
        self.services = {
            s.name: s for s in (self._s3(), self._mlflow(), self._ray(), self._airflow())
        }

    # -- the three services -------------------------------------------------------------------

    def _s3(self) -> Service:
        st = self.settings
        data_dir = self.run_dir / "s3"
        base = st.s3_internal_base_port

        def argv() -> list[str]:
            data_dir.mkdir(parents=True, exist_ok=True)
            config = self.run_dir / "s3-identities.json"
            config.write_text(json.dumps(_s3_identities(st)))
            config.chmod(0o600)
            return [
                _bin("weed"),
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
            try:
                s3.client(st).list_buckets()
            except Exception:  # noqa: BLE001  (any failure means "not ready yet")
                return False
            return True

        def after_start() -> None:
            created = s3.ensure_buckets(
                s3.client(st), [st.bucket_data, st.bucket_processed, st.bucket_mlflow]
            )
            if created:
                log.info("created buckets: %s", ", ".join(created))

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

    def _mlflow(self) -> Service:
        st = self.settings
        db = self.run_dir / "mlflow" / "mlflow.db"

        def argv() -> list[str]:
            db.parent.mkdir(parents=True, exist_ok=True)
            return [
                _bin("mlflow"),
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
            return _http_ok(f"{st.mlflow_tracking_uri}/health")

        return Service("mlflow", st.mlflow_tracking_uri, st.mlflow_port, str(db), argv, healthy)

    def _ray(self) -> Service:
        st = self.settings
        temp_dir = run_paths.ray_temp_dir(st)
        base = st.ray_internal_base_port

        def argv() -> list[str]:
            run_paths.prepare(st)
            return [
                _bin("ray"),
                "start",
                "--head",
                "--block",
                f"--node-ip-address={st.host}",
                f"--port={st.ray_gcs_port}",
                f"--num-cpus={st.ray_num_cpus}",
                f"--object-store-memory={st.ray_object_store_mb * 1024 * 1024}",
                "--include-dashboard=true",
                f"--dashboard-host={st.host}",
                f"--dashboard-port={st.ray_dashboard_port}",
                f"--temp-dir={temp_dir}",
                # `ray start` always runs a Ray Client server when ray[client]'s packages are
                # installed (ray[default] brings them); it gets a port of this stack's block.
                f"--ray-client-server-port={base}",
                f"--node-manager-port={base + 1}",
                f"--object-manager-port={base + 2}",
                f"--dashboard-agent-listen-port={base + 3}",
                f"--dashboard-agent-grpc-port={base + 4}",
                f"--metrics-export-port={base + 5}",
                f"--runtime-env-agent-port={base + 6}",
                f"--min-worker-port={base + 100}",
                f"--max-worker-port={base + 999}",
                "--disable-usage-stats",
            ]

        def healthy() -> bool:
            return _http_ok(f"{st.ray_address}/api/version", st.ray_auth_headers())

        return Service(
            "ray",
            st.ray_address,
            st.ray_dashboard_port,
            f"--temp-dir={temp_dir}",
            argv,
            healthy,
            # HAProxy (started by Serve) outlives the Ray processes and keeps the Serve ports.
            stray_markers=(str(temp_dir), str(self.run_dir / "haproxy")),
            # raylet and the monitor outlive a dead GCS for minutes; nothing of value is lost
            # by killing them once the GCS has had its SIGTERM.
            stop_timeout_s=5.0,
        )

    def _airflow(self) -> Service:
        st = self.settings
        url = f"http://{st.host}:{st.airflow_port}"

        def argv() -> list[str]:
            airflow_bin(st)  # a clear error if Airflow's venv is missing
            return [sys.executable, "-m", airflow_local.MODULE, str(airflow_home(st))]

        def healthy() -> bool:
            return _http_ok(f"{url}/api/v2/monitor/health")

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

    # -- lifecycle ------------------------------------------------------------------------------

    def owned(self, name: str) -> Owned:
        """The PID file and log of a service."""
        return Owned(
            name, self.run_dir / "pids" / f"{name}.pid", self.run_dir / "logs" / f"{name}.log"
        )

    def up(self, names: tuple[str, ...] = SERVICES) -> None:
        """Start what is not running yet and wait until each service answers.

        S3 comes first (MLflow stores artifacts there); MLflow and Ray then start side by side.
        """
        self.run_dir.mkdir(parents=True, exist_ok=True)
        run_paths.prepare(self.settings)
        first = [n for n in names if n == "s3"]
        rest = [n for n in names if n != "s3"]
        for batch in (first, rest):
            with ThreadPoolExecutor(max_workers=max(1, len(batch))) as pool:
                for future in [pool.submit(self._up_one, n) for n in batch]:
                    future.result()

    def _up_one(self, name: str) -> None:
        service = self.services[name]
        process = self.owned(name)
        if process.pid() is not None and service.healthy():
            log.info("%s already running at %s", name, service.url)
            return
        if process.pid() is None and port_open(self.settings.host, service.port):
            raise ServiceUnavailable(
                f"{name}: port {service.port} on {self.settings.host} is taken by a process "
                f"this stack did not start; stop it or choose another port in .env"
            )
        if process.pid() is None:
            log.info("starting %s on %s", name, service.url)
            process.start(service.argv(), self._env(name), service.marker, self.run_dir)
        if (
            not wait_until(lambda: service.healthy() or process.pid() is None, START_TIMEOUT_S)
            or not service.healthy()
        ):
            raise ServiceUnavailable(
                f"{name} did not become healthy at {service.url}; log "
                f"{process.log_file}:\n{process.tail()}"
            )
        if service.after_start:
            service.after_start()
        log.info("%s is up at %s", name, service.url)

    def down(self, names: tuple[str, ...] = (*SERVICES, *OPTIONAL)) -> None:
        """Stop the services this stack started, all at once; leave their data."""
        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            stopped = dict(zip(names, pool.map(self._down_one, names), strict=True))
        for name, was_running in stopped.items():
            log.info("%s %s", name, "stopped" if was_running else "was not running")
        if not any(self.owned(n).pid() for n in (*SERVICES, *OPTIONAL)):
            run_paths.remove(self.settings)

    def _down_one(self, name: str) -> bool:
        service = self.services[name]
        return self.owned(name).stop(
            timeout=service.stop_timeout_s,
            also_matching=service.stray_markers,
            sig=service.stop_signal,
        )

    def status(self) -> list[dict[str, str]]:
        """One row per service: name, URL, PID, health, processes and resident memory."""
        rows = []
        for name, service in self.services.items():
            pid = self.owned(name).pid()
            if name in OPTIONAL and pid is None:
                continue
            health = "healthy" if service.healthy() else ("starting/unhealthy" if pid else "down")
            count, rss, pss = tree_usage(pid)
            rows.append(
                {
                    "service": name,
                    "url": service.url,
                    "pid": str(pid or "-"),
                    "health": health,
                    "processes": str(count),
                    "rss": f"{rss / 2**30:.2f} GiB",
                    "pss": f"{pss / 2**30:.2f} GiB",
                }
            )
        return rows

    def _env(self, name: str) -> dict[str, str]:
        st = self.settings
        if name == "airflow":
            return airflow_env(st)
        extra: dict[str, str] = {}
        if name == "mlflow":
            extra = {
                # MLflow's job runner (six huey consumers, ~1.8 GiB) serves GenAI features this
                # project never uses; tracking, registry and artifacts do not need it.
                "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
                "MLFLOW_S3_ENDPOINT_URL": st.s3_endpoint_url,
                "AWS_ACCESS_KEY_ID": st.s3_access_key.get_secret_value(),
                "AWS_SECRET_ACCESS_KEY": st.s3_secret_key.get_secret_value(),
                "AWS_DEFAULT_REGION": st.s3_region,
            }
        if name == "ray":
            # Jobs inherit the head's environment: this is how they learn endpoints and keys
            # without them appearing in job submissions.
            # `python` in a job entrypoint must be this environment's interpreter.
            path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
            extra = {
                "PATH": path,
                "PYTHONPATH": _pythonpath(loopback.SITE_DIR if st.on_loopback else None),
                "RAY_DATA_USE_DATASOURCE_V2": "0",
                **run_paths.haproxy_env(st),
            }
        return child_env(st, extra)


def _pythonpath(site: str | None = None) -> str:
    """Keep a source checkout importable by Ray workers even if it is not installed; `site`
    (a folder with a sitecustomize) goes first."""
    root = str(Path(__file__).resolve().parent.parent)
    return os.pathsep.join(filter(None, [site, root, os.environ.get("PYTHONPATH")]))


def _s3_identities(st: Settings) -> dict[str, object]:
    return {
        "identities": [
            {
                "name": "burnout",
                "credentials": [
                    {
                        "accessKey": st.s3_access_key.get_secret_value(),
                        "secretKey": st.s3_secret_key.get_secret_value(),
                    }
                ],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }


def _http_ok(url: str, headers: dict[str, str] | None = None) -> bool:
    try:
        return httpx.get(url, headers=headers or {}, timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def format_status(rows: list[dict[str, str]]) -> str:
    """A plain-text table, with a total of processes and memory (summed RSS and PSS)."""
    headers = ["service", "url", "pid", "health", "processes", "rss", "pss"]
    total = {h: "" for h in headers}
    total["service"] = "total"
    total["processes"] = str(sum(int(r["processes"]) for r in rows))
    for memory in ("rss", "pss"):
        total[memory] = f"{sum(float(r[memory].split()[0]) for r in rows):.2f} GiB"
    shown = [*rows, total]
    widths = {h: max(len(h), *(len(r[h]) for r in shown)) for h in headers}
    lines = ["  ".join(h.ljust(widths[h]) for h in headers)]
    lines += ["  ".join(r[h].ljust(widths[h]) for h in headers) for r in shown]
    return "\n".join(lines)


app = typer.Typer(help=__doc__, no_args_is_help=True, pretty_exceptions_enable=False)


def _names(only: str | None, default: tuple[str, ...] = SERVICES) -> tuple[str, ...]:
    if not only:
        return default
    names = tuple(n.strip() for n in only.split(",") if n.strip())
    known = (*SERVICES, *OPTIONAL)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise BurnoutError(f"unknown service(s) {unknown}; choose from {', '.join(known)}")
    return names


@app.command()
def up(
    only: str | None = typer.Option(None, help="comma-separated subset of s3,mlflow,ray,airflow"),
) -> None:
    """Start the local stack (idempotent) and print its status."""
    stack = Stack(get_settings())
    stack.up(_names(only))
    typer.echo(format_status(stack.status()))


@app.command()
def down(
    only: str | None = typer.Option(None, help="comma-separated subset of s3,mlflow,ray,airflow"),
) -> None:
    """Stop the processes this stack started; data stays in the run folder."""
    Stack(get_settings()).down(_names(only, (*SERVICES, *OPTIONAL)))


@app.command()
def status() -> None:
    """Print each service: URL, PID, health, processes, memory; exit 1 if any is unhealthy."""
    rows = Stack(get_settings()).status()
    typer.echo(format_status(rows))
    if any(r["health"] != "healthy" for r in rows):
        raise typer.Exit(1)


if __name__ == "__main__":
    cli.run(app)
