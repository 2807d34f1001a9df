"""Many nodes for real: a Ray head that takes no work and two worker nodes joining it (their own
raylets, object stores, ports and CPUs, started by the local stack), sharing the test stack's S3
and MLflow. Every stage must run its work on the workers."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from local_stack.port_blocks import free_port_block, ray_cluster_settings
from local_stack.ray_nodes import cluster_nodes, worker_node_name
from local_stack.stack import Stack
from ray_jobs.core.jobs_client import JobsClient
from ray_jobs.core.settings import Settings
from ray_jobs.ingest import raw_prefix, upload_synthetic
from ray_jobs.submit import run_job, summary_line
from tests.conftest import processes_mentioning, run_module

pytestmark = pytest.mark.integration
log = logging.getLogger(__name__)

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
    used = set(placement["cpu_task_nodes"])
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
    names = {nodes[w]["node_name"] for w in workers}  # each worker its own raylet port
    assert names == {worker_node_name(cluster, i) for i in (1, 2)}, names
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


class TestServingOnWorkers:
    """Two replicas, one per worker (max_replicas_per_node=1); removed after the class, so that
    the node-loss jobs below have both workers' CPUs."""

    @pytest.fixture(scope="class")
    def serving(self, cluster: Settings, multi_node_training: dict[str, Any]) -> Iterator[Settings]:
        from serve_app.deploy import wait_running

        pinned = {"BURNOUT_SERVE_MIN_REPLICAS": "2", "BURNOUT_SERVE_MAX_REPLICAS": "2"}
        result = run_module(cluster, "serve_app.deploy", "up", timeout=400, extra_env=pinned)
        try:
            assert result.returncode == 0, result.stderr[-3000:]
            wait_running(cluster, 2, 180)
            yield cluster.model_copy(update={"serve_min_replicas": 2, "serve_max_replicas": 2})
        finally:
            run_module(cluster, "serve_app.deploy", "down", timeout=120)

    def test_serve_replicas_spread_over_the_workers(self, serving: Settings) -> None:
        from serve_app.deploy import replicas

        _, workers = node_ids(serving)
        placed = {r["node_id"] for r in replicas(serving)}
        assert placed == workers, (placed, workers)
        answer = httpx.get(f"http://127.0.0.1:{serving.serve_http_port}/health", timeout=30)
        assert answer.json()["model"]["version"]

    def test_a_worker_node_lost_under_load_costs_at_most_1_percent(self, serving: Settings) -> None:
        """32 clients; the node of one replica is SIGKILLed and started again (as a node
        supervisor would); Serve is back at two replicas, on both workers."""
        from benchmarks.reliability import scenario_kill
        from serve_app.deploy import replicas

        def lose_its_node(settings: Settings, victim: dict[str, Any]) -> None:
            (index,) = [i for i in (1, 2) if node_named(settings, i) == victim["node_id"]]
            kill_node(settings, f"ray-worker-{index}")
            log.info("killed worker node %d (replica %s)", index, victim["replica_id"])
            # As a node supervisor would: a replacement once the head has declared it dead.
            wait_dead(settings, victim["node_id"])
            Stack(settings).up((f"ray-worker-{index}",))

        result = scenario_kill(serving, 32, 60.0, lose_its_node, recovery_timeout_s=180)
        log.info("node lost under load: %s", {k: v for k, v in result.items() if k != "per_second"})
        assert result["requests"] > 500, result
        assert result["failed_pct"] <= 1.0, result
        # Two RUNNING replicas again.
        assert result["recovery_s"] is not None, (result, cluster_nodes(serving), replicas(serving))
        _, workers = node_ids(serving)
        assert {r["node_id"] for r in replicas(serving)} == workers


def node_named(cluster: Settings, index: int) -> str:
    """The alive node id of local-stack worker node `index`."""
    name = worker_node_name(cluster, index)
    (node_id,) = [
        n["node_id"]
        for n in cluster_nodes(cluster)
        if n.get("node_name") == name and n["state"] == "ALIVE"
    ]
    return str(node_id)


def wait_dead(cluster: Settings, node_id: str, timeout_s: float = 120) -> float:
    """Until the head lists the node as DEAD; seconds waited."""
    started = time.monotonic()
    while {n["node_id"]: n["state"] for n in cluster_nodes(cluster)}.get(node_id) != "DEAD":
        assert time.monotonic() - started < timeout_s, f"{node_id} still not DEAD"
        time.sleep(0.5)
    return time.monotonic() - started


def kill_node(cluster: Settings, name: str) -> None:
    """SIGKILL a worker node's whole process group: its raylet, object store and workers."""
    pid = Stack(cluster).owned(name).pid()
    assert pid is not None, name
    os.killpg(pid, signal.SIGKILL)


def run_losing_a_worker(
    cluster: Settings, entrypoint: str, key: str, marker: str, pause_s: float = 0.0
) -> dict[str, Any]:
    """Submit a job, SIGKILL worker node 2 once `marker` is in its log (+ `pause_s`), wait;
    assert it SUCCEEDED and the node is really DEAD; its summary. The node is restarted after."""
    client = JobsClient.from_settings(cluster)
    job = client.submit(entrypoint, key)
    try:
        deadline = time.monotonic() + 600
        while marker not in client.logs(job):
            assert time.monotonic() < deadline, client.logs(job)[-3000:]
            time.sleep(0.3)
        time.sleep(pause_s)
        victim = node_named(cluster, 2)
        killed_at = time.monotonic()
        kill_node(cluster, "ray-worker-2")
        info = client.wait(job, timeout_s=900, sink=None)
        took = time.monotonic() - killed_at
        logs = client.logs(job)
        assert info["status"] == "SUCCEEDED", logs[-5000:]
        # The node was really lost, not just its launcher. A short job can succeed (its lost
        # work retried elsewhere) before the head's health checks declare the node dead.
        wait_dead(cluster, victim)
        log.info("%s finished %.1f s after a worker node was killed", key, took)
        return summary_line(logs)
    finally:
        Stack(cluster).up(("ray-worker-2",))


def test_a_worker_node_lost_mid_etl_loses_and_duplicates_no_row(
    cluster: Settings, multi_node_training: dict[str, Any]
) -> None:
    """Runs after the other stages (they need both workers)."""
    from ray_jobs.core import s3
    from ray_jobs.etl.job import MANIFEST
    from tests.integration.conftest import read_parquet

    target = raw_prefix(cluster, "node-lost")
    upload_synthetic(cluster, 150_000, 8, target)
    entrypoint = f"python -m ray_jobs.etl --input {target} --force"
    summary = run_losing_a_worker(cluster, entrypoint, "etl-node-lost", "Starting execution", 1.0)
    rows = summary["rows"]
    assert rows["in"] == 150_000 and rows["in"] == rows["out"] + rows["rejected"], rows
    manifest = s3.read_json(
        s3.client(cluster),
        s3.S3Uri(cluster.bucket_processed, summary["dataset_version"]).child(MANIFEST),
    )
    assert manifest is not None
    # What is on S3, read directly: a retried task's parts replace, never add to, its own.
    published = {s: len(read_parquet(cluster, p["uri"])) for s, p in manifest["splits"].items()}
    assert published == {s: p["rows"] for s, p in manifest["splits"].items()}
    assert sum(published.values()) == rows["out"]


def test_a_worker_node_lost_mid_training_retries_its_trials_elsewhere(
    cluster: Settings, multi_node_version: str, multi_node_training: dict[str, Any]
) -> None:
    """Trials on the lost node fail with it; FailureConfig retries them on the other worker and
    every family is still tuned and registered."""
    entrypoint = f"python -m ray_jobs.train --dataset-version {multi_node_version} --trials 3"
    summary = run_losing_a_worker(cluster, entrypoint, "train-node-lost", " trial 1/3: ")
    assert set(summary["families"]) == {"lightgbm", "knn", "svm"}
    assert all(f["version"] for f in summary["families"].values())


def finished_trials_on_s3(cluster: Settings, experiment_prefix: str) -> int:
    """TERMINATED trials in the newest Tune experiment state under a prefix of tune_storage:
    what a restarted driver will find, read from S3 as it will read it."""
    import json

    from ray_jobs.core import s3

    client = s3.client(cluster)
    storage = s3.S3Uri.parse(f"s3://{cluster.tune_storage}")
    states = [
        o
        for o in s3.iter_objects(client, storage.child(experiment_prefix))
        if o["Key"].rsplit("/", 1)[-1].startswith("experiment_state")
    ]
    if not states:
        return 0
    newest = max(states, key=lambda o: o["LastModified"])
    state = s3.read_json(client, s3.S3Uri(storage.bucket, newest["Key"]))
    assert state is not None
    return sum(json.loads(trial)["status"] == "TERMINATED" for trial, _ in state["trial_data"])


def test_a_killed_training_driver_resumes_its_experiments_from_s3(
    cluster: Settings, multi_node_version: str
) -> None:
    """The driver SIGKILLed mid-tuning, the same submission again (as an Airflow retry does):
    the second attempt restores each family's Tune experiment from S3 and runs only the rest."""
    import mlflow

    from ray_jobs.train.config import DEFAULT_CONFIG, load_config
    from ray_jobs.train.family_runs import TUNE_RUN_TAG
    from ray_jobs.train.job import tune_run_name

    budget, key = 16, "driver-lost"
    run = tune_run_name(
        multi_node_version, load_config(DEFAULT_CONFIG, budget, ["lightgbm", "knn"]), key
    )
    entrypoint = (
        f"python -m ray_jobs.train --dataset-version {multi_node_version}"
        f" --families lightgbm,knn --trials {budget} --resume-key {key}"
    )
    client = JobsClient.from_settings(cluster)
    first = client.submit(entrypoint, "train-driver-lost")
    deadline = time.monotonic() + 600
    while finished_trials_on_s3(cluster, f"{run}-lightgbm/") < 2:
        status = client.status(first)
        assert status is not None and status["status"] in {"PENDING", "RUNNING"}, status
        assert time.monotonic() < deadline, client.logs(first)[-3000:]
        time.sleep(0.5)
    os.kill(int(client.status(first)["driver_info"]["pid"]), signal.SIGKILL)
    assert client.wait(first, timeout_s=120, sink=None)["status"] == "FAILED"

    second = client.submit(entrypoint, "train-driver-lost")
    assert second == "train-driver-lost.2"  # a new attempt of the same submission
    info = client.wait(second, timeout_s=900, sink=None)
    logs = client.logs(second)
    assert info["status"] == "SUCCEEDED", logs[-5000:]
    summary = summary_line(logs)
    families = summary["families"]
    assert set(families) == {"lightgbm", "knn"}
    assert all(f["trials"] == budget for f in families.values()), families
    restored = sum(f["trials_restored"] for f in families.values())
    # Some trials came from S3, the rest ran again: fewer new trials than a fresh run's.
    assert 2 <= restored < 2 * budget, families
    assert "resuming" in logs
    log.info("resumed with %d of %d trials restored", restored, 2 * budget)

    # The killed attempt's runs are closed, the new one holds every trial (restored ones too).
    mlflow.set_tracking_uri(cluster.mlflow_tracking_uri)
    runs = mlflow.search_runs(
        experiment_names=["training"],
        filter_string=f"tags.{TUNE_RUN_TAG} = '{run}'",
        output_format="list",
    )
    assert runs and all(r.info.status in {"FINISHED", "KILLED"} for r in runs), runs
    parent = summary["parent_run_id"]
    family_runs = {f["run_id"] for f in families.values()}
    trial_runs = [r for r in runs if r.data.tags.get("mlflow.parentRunId") in family_runs]
    assert len(trial_runs) == 2 * budget, len(trial_runs)
    assert any(r.info.status == "KILLED" and r.info.run_id != parent for r in runs)
