"""Security of the running stack: listeners on loopback only, optional API token on all APIs."""

from __future__ import annotations

import ipaddress
from typing import Any

import psutil
import pytest

from ray_jobs.settings import Settings

pytestmark = pytest.mark.integration


def _stack_processes(settings: Settings) -> set[int]:
    """Every process the stack started (they name its run folder) and their descendants."""
    roots = [
        p
        for p in psutil.process_iter(["cmdline"])
        if str(settings.run_dir) in " ".join(p.info["cmdline"] or [])
    ]
    pids = {p.pid for p in roots}
    for process in roots:
        try:
            pids.update(child.pid for child in process.children(recursive=True))
        except psutil.NoSuchProcess:
            continue
    return pids


def _is_loopback(host: str) -> bool:
    address = ipaddress.ip_address(host)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_loopback


def test_every_listening_socket_of_the_stack_and_serve_binds_loopback(
    settings: Settings, served: dict[str, Any]
) -> None:
    pids = _stack_processes(settings)
    listeners = [
        (c.laddr.ip, c.laddr.port, psutil.Process(c.pid).name())
        for c in psutil.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN and c.pid in pids
    ]
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
    exposed = sorted({(h, p, n) for h, p, n in listeners if not _is_loopback(h)})
    assert not exposed, f"listening beyond loopback: {exposed}"
