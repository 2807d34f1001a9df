"""The embedded local stack: SeaweedFS (S3), an MLflow server and a Ray head, no Docker.

    burnout up | down | status      (python -m local_stack.cli ...)

Each service runs as a process group we started and recorded in `<run_dir>/pids`; `down` stops
exactly those. Data (S3 objects, the MLflow database) lives under `<run_dir>` and survives restarts.
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor

import typer

from local_stack import run_paths
from local_stack.processes import Owned, tree_usage
from local_stack.ray_nodes import ray_service, ray_worker_service
from local_stack.services import (
    WORKER_PREFIX,
    Service,
    airflow_process,
    mlflow_service,
    s3_service,
    service_env,
)
from ray_jobs.core import cli
from ray_jobs.core.cluster import port_open
from ray_jobs.core.errors import BurnoutError, ServiceUnavailable
from ray_jobs.core.polling import wait_until
from ray_jobs.core.settings import Settings, get_settings

log = logging.getLogger(__name__)

SERVICES = ("s3", "mlflow", "ray")
OPTIONAL = ("airflow",)  # started on request (`make airflow`), not by a plain `up`


class Stack:
    """The local services for one settings object (the user's, or a test's)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.run_dir = settings.run_dir
        workers = [ray_worker_service(settings, i) for i in range(1, settings.ray_workers + 1)]
        self.services = {
            s.name: s
            for s in (
                s3_service(settings),
                mlflow_service(settings),
                ray_service(settings),
                *workers,
                airflow_process(settings),
            )
        }
        self.core = (*SERVICES, *(w.name for w in workers))

    # -- lifecycle ------------------------------------------------------------------------------

    def owned(self, name: str) -> Owned:
        """The PID file and log of a service."""
        return Owned(
            name, self.run_dir / "pids" / f"{name}.pid", self.run_dir / "logs" / f"{name}.log"
        )

    def up(self, names: tuple[str, ...] | None = None) -> None:
        """Start what is not running yet and wait until each service answers.

        S3 comes first (MLflow stores artifacts there); MLflow and the Ray head then start side
        by side; worker nodes join once the head answers.
        """
        names = names or self.core
        self.run_dir.mkdir(parents=True, exist_ok=True)
        run_paths.prepare(self.settings)
        workers = [n for n in names if n.startswith(WORKER_PREFIX)]
        first = [n for n in names if n == "s3"]
        rest = [n for n in names if n != "s3" and n not in workers]
        for batch in (first, rest):
            with ThreadPoolExecutor(max_workers=max(1, len(batch))) as pool:
                for future in [pool.submit(self._up_one, n) for n in batch]:
                    future.result()
        for name in workers:  # one at a time: nodes on one machine pick socket names in turn
            self._up_one(name)

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
        for attempt in range(1, service.start_attempts + 1):
            started = time.monotonic()
            if self._start_and_wait(name, service, process):
                break
            why = self._why_not_healthy(name, service, process, time.monotonic() - started)
            if attempt == service.start_attempts:
                raise ServiceUnavailable(why)
            log.warning("%s; starting it again (attempt %d)", why, attempt + 1)
            self._down_one(name)
        if service.after_start:
            service.after_start()
        log.info("%s is up at %s", name, service.url)

    def _start_and_wait(self, name: str, service: Service, process: Owned) -> bool:
        if process.pid() is None:
            log.info("starting %s on %s", name, service.url)
            process.start(
                service.argv(), service_env(self.settings, name), service.marker, self.run_dir
            )
        return (
            wait_until(lambda: service.healthy() or process.pid() is None, service.start_timeout_s)
            and service.healthy()
        )

    def _why_not_healthy(self, name: str, service: Service, process: Owned, waited_s: float) -> str:
        """What is known of a service that did not come up, for the error or the retry."""
        if service.dumps_stacks and process.dump_stacks():
            state = "it was still starting; its stacks are at the end of its log"
        else:
            state = process.how_it_ended()
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        return (
            f"{name} did not become healthy at {service.url} in {waited_s:.0f} s "
            f"({state}; load average {load}); log "
            f"{process.log_file}:\n{process.tail(60)}"
        )

    def down(self, names: tuple[str, ...] | None = None) -> None:
        """Stop the services this stack started, all at once; leave their data."""
        names = names or self.known()
        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            stopped = dict(zip(names, pool.map(self._down_one, names), strict=True))
        for name, was_running in stopped.items():
            log.info("%s %s", name, "stopped" if was_running else "was not running")
        if not any(self.owned(n).pid() for n in self.known()):
            run_paths.remove(self.settings)

    def known(self) -> tuple[str, ...]:
        """Every service of this stack, and worker nodes left from a run with more of them."""
        pid_files = self.run_dir / "pids"
        stale = sorted(p.stem for p in pid_files.glob(f"{WORKER_PREFIX}*.pid"))
        return tuple(dict.fromkeys((*self.core, *stale, *OPTIONAL)))

    def service(self, name: str) -> Service:
        """A service by name, including worker nodes this settings object would not start."""
        return self.services.get(name) or ray_worker_service(
            self.settings, int(name.removeprefix(WORKER_PREFIX))
        )

    def _down_one(self, name: str) -> bool:
        service = self.service(name)
        return self.owned(name).stop(
            timeout=service.stop_timeout_s,
            also_matching=service.stray_markers,
            sig=service.stop_signal,
        )

    def status(self) -> list[dict[str, str]]:
        """One row per service: name, URL, PID, health, processes and resident memory."""
        rows = []
        for name in self.known():
            service, pid = self.service(name), self.owned(name).pid()
            if name not in self.core and pid is None:
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


def _names(stack: Stack, only: str | None) -> tuple[str, ...] | None:
    if not only:
        return None
    names = tuple(n.strip() for n in only.split(",") if n.strip())
    unknown = [n for n in names if n not in stack.known()]
    if unknown:
        raise BurnoutError(f"unknown service(s) {unknown}; choose from {', '.join(stack.known())}")
    return names


@app.command()
def up(
    only: str | None = typer.Option(None, help="comma-separated subset of s3,mlflow,ray,airflow"),
) -> None:
    """Start the local stack (idempotent) and print its status."""
    stack = Stack(get_settings())
    stack.up(_names(stack, only))
    typer.echo(format_status(stack.status()))


@app.command()
def down(
    only: str | None = typer.Option(None, help="comma-separated subset of s3,mlflow,ray,airflow"),
) -> None:
    """Stop the processes this stack started; data stays in the run folder."""
    stack = Stack(get_settings())
    stack.down(_names(stack, only))


@app.command()
def status() -> None:
    """Print each service: URL, PID, health, processes, memory; exit 1 if any is unhealthy."""
    rows = Stack(get_settings()).status()
    typer.echo(format_status(rows))
    if any(r["health"] != "healthy" for r in rows):
        raise typer.Exit(1)


if __name__ == "__main__":
    cli.run(app)
