"""Blocks of free loopback ports for extra stacks and Ray clusters on this machine (the test
suite's private stacks, benchmarks that compare cluster shapes side by side).

A stack at base port B takes B..B+19 (S3, MLflow, Ray, Serve, Airflow), Ray's worker ports and
Serve's replica ports above B+10,000, and worker node i its ports around B+1000*i.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path
from typing import Any

from ray_jobs.core.settings import Settings, load_settings


def is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def ephemeral_low() -> int:
    """The first port the kernel hands out to outgoing connections (Linux default 32768)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def free_port_block() -> int:
    """A base port B such that the ports the stack derives from it are all free.

    The block stays below the ephemeral range: there, any outgoing connection (the stack's own
    services connect to each other while starting) may take a port between this check and the
    server's bind, which is how SeaweedFS once failed with "port ... is not available".
    """
    top = min(ephemeral_low(), 65_536) - 10_200  # the highest derived port is base + 10_119
    for _ in range(200):
        base = random.randrange(10_000, max(top, 10_020), 20)
        wanted = [base + i for i in range(20)] + [base + 10_000 + i for i in range(6)]
        wanted += [base + 200 + i for i in range(0, 800, 50)]
        wanted += [base + 10_020 + i for i in range(0, 100, 10)]
        # Worker nodes (local_stack.ray_nodes): base + 10 + 1000 * i + ...
        for i in (1, 2):
            wanted += [base + 1000 * i + j for j in (*range(11, 17), *range(110, 1010, 50))]
        if all(is_free(p) for p in wanted):
            return base
    raise RuntimeError("no free port block found")


def ray_ports(base: int) -> dict[str, int]:
    """The Ray and Serve ports of a stack on the block at `base` (see free_port_block)."""
    return {
        "ray_gcs_port": base + 6,
        "ray_dashboard_port": base + 7,
        "ray_internal_base_port": base + 10,
        "serve_http_port": base + 8,
        "serve_grpc_port": base + 9,
        "serve_haproxy_stats_port": base + 17,
        "serve_haproxy_metrics_port": base + 18,
        "serve_replica_base_port": base + 10_020,
    }


def ray_cluster_settings(settings: Settings, run_dir: Path, base: int, **extra: Any) -> Settings:
    """Settings for another Ray cluster (own ports and run folder) using the same S3 and MLflow."""
    values = settings.model_dump()
    for derived in ("ray_address", "socket_dir"):
        values.pop(derived)
    return load_settings(
        _env_file=None,
        **{
            **values,
            "run_dir": run_dir,
            **ray_ports(base),
            **extra,
        },
    )
