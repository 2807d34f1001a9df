"""The Ray nodes of the local stack: the head, and worker nodes joining it on this machine."""

from __future__ import annotations

from typing import Any

import httpx

from local_stack import run_paths
from local_stack.services import WORKER_PREFIX, Service
from ray_jobs.core.cluster import port_open
from ray_jobs.core.polling import ray_dashboard_up
from ray_jobs.core.settings import Settings


def ray_service(st: Settings) -> Service:
    temp_dir = run_paths.ray_temp_dir(st)
    base = st.ray_internal_base_port

    def argv() -> list[str]:
        run_paths.prepare(st)
        return [
            run_paths.ray_python(st),
            "-m",
            "ray.scripts.scripts",  # the `ray` command, run by the space-free interpreter path
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
        return ray_dashboard_up(st)

    return Service(
        "ray",
        st.ray_address,
        st.ray_dashboard_port,
        f"--temp-dir={temp_dir}",
        argv,
        healthy,
        # HAProxy (started by Serve) outlives the Ray processes and keeps the Serve ports.
        stray_markers=(str(temp_dir), str(run_paths.haproxy_files(st))),
        # raylet and the monitor outlive a dead GCS for minutes; nothing of value is lost
        # by killing them once the GCS has had its SIGTERM.
        stop_timeout_s=5.0,
    )


def cluster_nodes(st: Settings) -> list[dict[str, Any]]:
    """Every node the head knows (alive or dead), from Ray's state API."""
    reply = httpx.get(
        f"{st.ray_address}/api/v0/nodes",
        params={"limit": 1000, "detail": "true"},
        headers=st.ray_auth_headers(),
        timeout=10,
    )
    reply.raise_for_status()
    return list(reply.json()["data"]["result"]["result"])


def worker_base_port(st: Settings, index: int) -> int:
    """Worker node `index`'s ports: base+1..base+6 (raylet first), workers base+100..base+999."""
    return st.ray_internal_base_port + 1000 * index


def worker_node_name(st: Settings, index: int) -> str:
    """The node name Ray shows for worker node `index`: its raylet's address."""
    return f"{st.host}:{worker_base_port(st, index) + 1}"


def worker_name(index: int) -> str:
    return f"{WORKER_PREFIX}{index}"


def ray_worker_service(st: Settings, index: int) -> Service:
    """Worker node `index` (1-based): its own raylet, object store, ports and CPUs, joining the
    head over loopback (local_stack/worker_node.py says why not `ray start --address`)."""
    base = worker_base_port(st, index)
    raylet_port = base + 1
    # The node id this process joined as, written by local_stack.worker_node once it has. The
    # name is not enough: after a crash the head still lists the dead node of the same name as
    # ALIVE until its health checks fail, and a restart would look joined at once.
    node_id_file = st.run_dir / f"{worker_name(index)}.node-id"

    def argv() -> list[str]:
        run_paths.prepare(st)
        node_id_file.unlink(missing_ok=True)
        return [
            run_paths.ray_python(st),
            "-X",
            "faulthandler",  # so that a node stuck starting can be made to say where
            "-m",
            "local_stack.worker_node",
            f"--gcs={st.host}:{st.ray_gcs_port}",
            f"--node-ip={st.host}",
            f"--num-cpus={st.ray_worker_num_cpus}",
            f"--object-store-bytes={st.ray_worker_object_store_mb * 1024 * 1024}",
            f"--base-port={base}",
            f"--node-id-file={node_id_file}",
        ]

    def healthy() -> bool:
        """Joined: the head lists the node this process started as, ALIVE."""
        if not port_open(st.host, raylet_port) or not node_id_file.exists():
            return False
        try:
            nodes = cluster_nodes(st)
        except (httpx.HTTPError, KeyError, ValueError):
            return False
        mine = node_id_file.read_text().strip()
        return any(n["node_id"] == mine and n["state"] == "ALIVE" for n in nodes)

    return Service(
        worker_name(index),
        f"{st.host}:{raylet_port}",
        raylet_port,
        f"--base-port={base}",
        argv,
        healthy,
        # The node's raylet and agents (workers too) are found by their raylet port even if
        # they left the process group, so that a restarted node can take its ports again.
        stray_markers=(
            f"--node_manager_port={raylet_port} ",
            f"--node-manager-port={raylet_port} ",
        ),
        stop_timeout_s=5.0,
        # A node joins in ~5 s on a quiet machine. Two CI runs on a loaded one saw a worker
        # still silent (not even its first log line) after 90 and 180 s, where it joined in
        # every other run: it is given 90 s, its stacks are dumped, and it is started again.
        start_timeout_s=90.0,
        start_attempts=2,
        dumps_stacks=True,
    )
