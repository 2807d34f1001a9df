"""Connecting a job's driver to Ray: inside a submitted job, or from a shell to the local stack."""

from __future__ import annotations

import contextlib
import logging
import os
import socket

from ray_jobs.core.errors import ServiceUnavailable
from ray_jobs.core.settings import Settings

log = logging.getLogger(__name__)


def connect(settings: Settings) -> None:
    """ray.init() against the job's cluster, or the local stack's head when run by hand.

    Call it before anything imports ray: Ray reads RAY_AUTH_* from the environment at import.
    """
    os.environ.update(settings.ray_env())
    # Datasource V2 starts many footer-reader actors per read on small machines (6-14 s a read).
    os.environ.setdefault("RAY_DATA_USE_DATASOURCE_V2", "0")
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
    context = DataContext.get_current()
    # LightGBM and pandas 3 reject Arrow-backed dtypes; keep plain numpy-backed frames.
    context.enable_arrow_backed_pandas_conversion = False
    # The environment variable only counts when ray.data is first imported (ray.tune imports it).
    context.use_datasource_v2 = False
    log.info("connected to Ray: %s CPUs", ray.cluster_resources().get("CPU", 0))


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False
