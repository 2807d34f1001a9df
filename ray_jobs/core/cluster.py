"""Connecting a job's driver to Ray: inside a submitted job, or from a shell to the local stack."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys

from ray_jobs.core import ray_rules
from ray_jobs.core.errors import ServiceUnavailable
from ray_jobs.core.settings import Settings

log = logging.getLogger(__name__)


def connect(settings: Settings) -> None:
    """ray.init() against the job's cluster, or the local stack's head when run by hand.

    Call it before anything imports ray: Ray reads RAY_AUTH_* from the environment at import.
    """
    unset = sorted(k for k, v in settings.ray_env().items() if os.environ.get(k) != v)
    if unset and "ray" in sys.modules:
        # Ray read its constants without them: on loopback it would look for the head on the
        # machine's outward IP and wait there for minutes.
        raise RuntimeError(
            f"ray was imported before connect() set {', '.join(unset)} (Ray reads them at "
            "import): import ray after calling connect()"
        )
    os.environ.update(settings.ray_env())
    for name, value in ray_rules.DATA_ENV.items():
        os.environ.setdefault(name, value)
    import ray
    from ray.data import DataContext

    if not ray.is_initialized():
        if "RAY_ADDRESS" in os.environ or "RAY_JOB_ID" in os.environ:
            ray.init(log_to_driver=True)
        else:
            if not port_open(settings.host, settings.ray_gcs_port):
                raise ServiceUnavailable(
                    f"Ray head at {settings.host}:{settings.ray_gcs_port} is unreachable: start "
                    "the local stack with `make up` or set RAY_ADDRESS"
                )
            ray.init(address=f"{settings.host}:{settings.ray_gcs_port}", log_to_driver=True)
    ray_rules.apply_data_context(DataContext.get_current())
    log.info("connected to Ray: %s CPUs", ray.cluster_resources().get("CPU", 0))


def warm_workers(module: str) -> None:
    """Ask for one task per cluster CPU importing `module`, without waiting for them.

    A job's tasks run in worker processes of its own, started on demand: each paid ~2 s of
    process start and imports (pandas, pyarrow) before its first task did anything. Called
    right after connect(), that cost overlaps with what the driver does next (S3 listing, header
    reads), and the job's later tasks reuse the warm idle workers (Ray may run two of these
    tasks in one worker if it is free first). Actors (Tune trials, Serve replicas) get workers
    of their own: this does not warm them. Nothing waits for these tasks.
    """
    import ray

    @ray.remote(num_cpus=1, scheduling_strategy="SPREAD", max_retries=0)
    def _import(name: str) -> None:
        __import__(name)

    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    for _ in range(cpus):
        _import.remote(module)


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False
