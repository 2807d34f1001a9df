"""One Ray worker node on this machine, joined to the local stack's head over loopback.

    python -m local_stack.worker_node --gcs 127.0.0.1:6380 --num-cpus 1 --base-port 22000 ...

Why not `ray start --address` (written for ray 2.60): the local stack keeps every Ray server on
127.0.0.1 with Ray's single-machine mode (`RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`, see
`Settings.ray_env`), and in that mode `ray start` refuses to add a node; with the mode off it
resolves 127.0.0.1 to the machine's outward IP and the node could not reach a loopback head.
Ray's own multi-node test harness (`ray.cluster_utils.Cluster.add_node`) starts worker nodes with
`ray._private.node.Node` directly; this does exactly that, in its own process, and then blocks
like `ray start --block`: it exits (stopping the node's processes) on SIGTERM or when one of them
dies. On a real cluster worker nodes are started with `ray start --address` (cluster.yaml).
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import typer

from ray_jobs.core import cli

log = logging.getLogger(__name__)

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
def main(
    gcs: str = typer.Option(..., help="the head's GCS address, host:port"),
    node_ip: str = typer.Option("127.0.0.1"),
    num_cpus: int = typer.Option(1, min=1),
    object_store_bytes: int = typer.Option(384 * 1024 * 1024, min=78 * 1024 * 1024),
    base_port: int = typer.Option(..., help="this node's ports: base+1..base+6, base+100..+999"),
    node_id_file: str = typer.Option("", help="write the joined node's id to this file"),
) -> None:
    """Start the node and block until SIGTERM or until one of its processes dies."""
    import ray._private.node
    import ray._private.parameter

    params = ray._private.parameter.RayParams(
        gcs_address=gcs,
        node_ip_address=node_ip,
        node_name=f"{node_ip}:{base_port + 1}",  # = ray_nodes.worker_node_name
        num_cpus=num_cpus,
        num_gpus=0,
        object_store_memory=object_store_bytes,
        node_manager_port=base_port + 1,
        object_manager_port=base_port + 2,
        dashboard_agent_listen_port=base_port + 3,
        metrics_agent_port=base_port + 4,
        metrics_export_port=base_port + 5,
        runtime_env_agent_port=base_port + 6,
        min_worker_port=base_port + 100,
        max_worker_port=base_port + 999,
        # One log monitor per machine: the head's already forwards this machine's logs.
        include_log_monitor=False,
    )
    # Ray's own startup messages (GCS retries, "Failed to get node info") into this node's log:
    # a node that does not join says where it waits.
    logging.getLogger("ray").setLevel(logging.INFO)
    log.info("joining %s as %s:%d (%d CPUs)", gcs, node_ip, base_port + 1, num_cpus)
    node = ray._private.node.Node(params, head=False, shutdown_at_exit=True, spawn_reaper=True)
    log.info("worker node %s joined %s (%d CPUs)", node.node_id, gcs, num_cpus)
    if node_id_file:
        Path(node_id_file).write_text(node.node_id)
    while True:
        time.sleep(1)
        if dead := node.dead_processes():
            log.error("node process(es) died: %s; stopping the node", [name for name, _ in dead])
            sys.exit(1)  # the node's exit hooks stop its other processes


if __name__ == "__main__":
    cli.run(app)
