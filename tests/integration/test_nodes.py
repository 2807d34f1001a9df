"""Many nodes for real: a Ray head that takes no work and two worker nodes joining it (their own
raylets, object stores, ports and CPUs, started by the local stack), sharing the test stack's S3
and MLflow. Every stage must run its work on the workers."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from local_stack.ray_nodes import cluster_nodes
from local_stack.stack import Stack
from ray_jobs.core.jobs_client import JobsClient
from ray_jobs.core.settings import Settings
from ray_jobs.ingest import raw_prefix, upload_synthetic
from ray_jobs.submit import run_job, summary_line
from tests.conftest import free_port_block, processes_mentioning, ray_cluster_settings, run_module

pytestmark = pytest.mark.integration

NODES = ("ray", "ray-worker-1", "ray-worker-2")


@pytest.fixture(scope="module")
def cluster(settings: Settings) -> Iterator[Settings]:
    top = Path(tempfile.mkdtemp(prefix="br-nodes-", dir="/tmp"))
    multi = ray_cluster_settings(
        settings,
        top / ".run",
        free_port_block(),
        ray_num_cpus=0,
        ray_workers=2,
        ray_worker_num_cpus=1,
        # Its own registered model: this cluster's training must not move the session's champion.
        model_name="burnout-rate-nodes",
        serve_max_replicas_per_node=1,
    )
    nodes = Stack(multi)
    try:
        nodes.up(NODES)
        yield multi
    finally:
        nodes.down(NODES)
        leftovers = processes_mentioning(str(top)) + processes_mentioning(str(multi.socket_dir))
        for process in leftovers:
            process.kill()
        shutil.rmtree(top, ignore_errors=True)
    assert not leftovers, [" ".join(p.info["cmdline"] or [])[:200] for p in leftovers]


def node_ids(settings: Settings) -> tuple[str, set[str]]:
    """(head node id, worker node ids) of the alive nodes."""
    alive = [n for n in cluster_nodes(settings) if n["state"] == "ALIVE"]
    (head,) = [n["node_id"] for n in alive if n["is_head_node"]]
    return head, {n["node_id"] for n in alive if not n["is_head_node"]}


def submit(settings: Settings, entrypoint: str) -> dict[str, Any]:
    info = run_job(settings, entrypoint, echo=False, timeout_s=900)
    return summary_line(JobsClient.from_settings(settings).logs(info["submission_id"]))


def assert_on_workers(summary: dict[str, Any], head: str, workers: set[str]) -> set[str]:
    placement = summary["nodes"]
    assert placement["driver_node"] == head, placement  # the job's driver: on the head
    used = set(placement["task_nodes"])
    assert used, placement
    assert used <= workers, (used, workers)
    return used


def test_worker_nodes_join_the_head_as_real_nodes(cluster: Settings) -> None:
    nodes = {n["node_id"]: n for n in cluster_nodes(cluster) if n["state"] == "ALIVE"}
    assert len(nodes) == 3, nodes
    head, workers = node_ids(cluster)
    assert nodes[head]["resources_total"].get("CPU", 0) == 0  # the head takes no work
    assert [nodes[w]["resources_total"]["CPU"] for w in workers] == [1.0, 1.0]
    assert {nodes[n]["node_ip"] for n in nodes} == {"127.0.0.1"}
    base = cluster.ray_internal_base_port
    names = {nodes[w]["node_name"] for w in workers}  # each worker its own raylet port
    assert names == {f"127.0.0.1:{base + 1000 * i + 1}" for i in (1, 2)}, names
    status = run_module(cluster, "local_stack.stack", "status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "ray-worker-1" in status.stdout and "ray-worker-2" in status.stdout


@pytest.fixture(scope="module")
def multi_node_version(cluster: Settings) -> str:
    target = raw_prefix(cluster, "nodes")
    upload_synthetic(cluster, 6_000, 5, target)
    summary = submit(cluster, f"python -m ray_jobs.etl --input {target} --force")
    head, workers = node_ids(cluster)
    assert_on_workers(summary, head, workers)
    rows = summary["rows"]
    assert rows["in"] == rows["out"] + rows["rejected"], rows
    return str(summary["dataset_version"])


def test_the_etl_runs_its_tasks_on_worker_nodes(multi_node_version: str) -> None:
    assert multi_node_version.startswith("ds-")


@pytest.fixture(scope="module")
def multi_node_training(cluster: Settings, multi_node_version: str) -> dict[str, Any]:
    return submit(
        cluster, f"python -m ray_jobs.train --dataset-version {multi_node_version} --trials 2"
    )


def test_training_spreads_trials_over_both_workers_and_keeps_tune_state_on_s3(
    cluster: Settings, multi_node_training: dict[str, Any]
) -> None:
    from ray_jobs.core import s3

    head, workers = node_ids(cluster)
    used = assert_on_workers(multi_node_training, head, workers)
    assert used == workers  # three families on two one-CPU workers: both busy
    assert set(multi_node_training["families"]) == {"lightgbm", "knn", "svm"}
    storage = s3.S3Uri.parse(f"s3://{cluster.tune_storage}")
    keys = [o["Key"] for o in s3.iter_objects(s3.client(cluster), storage)]
    run_name = f"{multi_node_training['dataset_version']}-"
    for family in ("lightgbm", "knn", "svm"):  # each Tuner's experiment state, on S3
        assert any(run_name in k and f"-{family}/" in k and "experiment_state" in k for k in keys)


def test_serve_replicas_spread_over_the_workers(
    cluster: Settings, multi_node_training: dict[str, Any]
) -> None:
    from serve_app.deploy import replicas, wait_running

    pinned = {"BURNOUT_SERVE_MIN_REPLICAS": "2", "BURNOUT_SERVE_MAX_REPLICAS": "2"}
    result = run_module(cluster, "serve_app.deploy", "up", timeout=400, extra_env=pinned)
    try:
        assert result.returncode == 0, result.stderr[-3000:]
        wait_running(cluster, 2, 180)
        _, workers = node_ids(cluster)
        placed = {r["node_id"] for r in replicas(cluster)}
        assert placed == workers, (placed, workers)
        answer = httpx.get(f"http://127.0.0.1:{cluster.serve_http_port}/health", timeout=30)
        assert answer.json()["model"]["version"]
    finally:
        run_module(cluster, "serve_app.deploy", "down", timeout=120)
