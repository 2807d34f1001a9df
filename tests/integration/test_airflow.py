"""The DAGs run by Airflow 3 (its own virtualenv) against the live test stack and Serve app."""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import mlflow
import pytest

from local_stack.airflow_service import AirflowClient, airflow_bin, airflow_env
from local_stack.stack import Stack
from ray_jobs.batch_predict import DONE
from ray_jobs.core import s3
from ray_jobs.core.jobs_client import JobsClient
from ray_jobs.core.settings import Settings
from ray_jobs.ingest import raw_prefix, upload_synthetic
from tests.conftest import REPO, is_loopback, stack_listeners

pytestmark = pytest.mark.integration

# The DAG's training registers under its own name, so it cannot move the aliases the other
# serving tests assert on; it reaches the job through the connection's runtime_env.
DAG_MODEL = "burnout-rate-airflow"


@pytest.fixture(scope="module")
def airflow(settings: Settings) -> Iterator[dict[str, str]]:
    """Airflow's environment for the test stack, with a migrated metadata database."""
    env = airflow_env(settings, {"env_vars": {"BURNOUT_MODEL_NAME": DAG_MODEL}})
    for command in (("db", "migrate"), ("dags", "reserialize")):
        result = run_airflow(settings, env, *command, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
    yield env


@pytest.fixture(scope="module")
def raw_input(settings: Settings) -> str:
    target = raw_prefix(settings, "airflow")
    upload_synthetic(settings, 3_000, 5, target)
    return str(target)


def run_airflow(
    settings: Settings, env: dict[str, str], *args: str, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [airflow_bin(settings), *args],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def job_summaries(output: str) -> dict[str, dict[str, Any]]:
    """The JSON summary of every Ray job the run's tasks logged, by job id."""
    found = re.findall(r"Ray job (\S+) summary: (\{.*?\})\s+\[", output)
    return {job: json.loads(text) for job, text in found}


def test_pipeline_dag_end_to_end(
    settings: Settings, served: dict[str, Any], airflow: dict[str, str], raw_input: str
) -> None:
    conf = json.dumps({"input": raw_input, "trials": 1})
    result = run_airflow(settings, airflow, "dags", "test", "burnout_pipeline", "-c", conf)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    assert re.search(r"DagRun Finished: dag_id=burnout_pipeline.*state=success", output)

    summaries = job_summaries(output)
    etl = next(s for s in summaries.values() if "dataset_version" in s and "rows" in s)
    manifest = s3.read_json(
        s3.client(settings),
        s3.S3Uri(settings.bucket_processed, f"{etl['dataset_version']}/_manifest.json"),
    )
    assert manifest is not None and manifest["rows"]["out"] > 0

    training = next(s for s in summaries.values() if "families" in s)
    assert training["dataset_version"] == etl["dataset_version"]
    client = mlflow.MlflowClient(settings.mlflow_tracking_uri)
    champion = client.get_model_version_by_alias(DAG_MODEL, "champion")
    assert str(champion.version) == training["champion"]["version"]
    # First model under this name: the champion moved, so serving was told to reload.
    assert training["promoted"] is True
    assert "serving reloaded" in output

    smoke = re.search(r"smoke prediction: (\{.*?\}) \[", output)
    assert smoke, output[-3000:]
    assert "'risk_level': " in smoke.group(1) and "'burn_rate': " in smoke.group(1)
    # The Ray jobs' own log lines were copied into the task log.
    assert "[ray]" in output


def _task_test(settings: Settings, env: dict[str, str], run: str, params: dict[str, Any]) -> str:
    """`airflow tasks test` of raw_data_present (exit code 0 even when the task fails)."""
    result = run_airflow(
        settings, env, "tasks", "test", "burnout_pipeline", "raw_data_present", run,
        "-t", json.dumps(params), timeout=300,
    )  # fmt: skip
    return result.stdout + result.stderr


def test_failed_ray_job_fails_the_task_with_rays_error(
    settings: Settings, airflow: dict[str, str]
) -> None:
    missing = f"s3://{settings.bucket_data}/raw/nothing-here/"
    output = _task_test(settings, airflow, "2026-01-02", {"input": missing})
    assert re.search(r"JobFailed: Ray job \S+ FAILED", output), output[-3000:]
    assert "new_state=up_for_retry" in output  # failed, and retries are configured
    assert "[ray] " in output and f"no CSV files under {missing}" in output


def test_a_retried_task_re_attaches_to_its_ray_job(
    settings: Settings, airflow: dict[str, str], raw_input: str
) -> None:
    run_id = f"retry-{secrets.token_hex(4)}"
    conf = json.dumps({"input": raw_input})
    # Paused, the run stays queued: a scheduler started later (the standalone test) must not
    # pick it up and run the whole pipeline against the shared registry.
    paused = run_airflow(settings, airflow, "dags", "pause", "burnout_pipeline", timeout=120)
    assert paused.returncode == 0, paused.stderr[-3000:]
    created = run_airflow(settings, airflow, "dags", "trigger", "burnout_pipeline", "-r", run_id,
                          "-c", conf, timeout=120)  # fmt: skip
    assert created.returncode == 0, created.stderr[-3000:]
    first = _task_test(settings, airflow, run_id, {"input": raw_input})
    again = _task_test(settings, airflow, run_id, {"input": raw_input})
    (job,) = re.findall(r"submitted Ray job (\S+):", first)
    assert "new_state=success" in first and "new_state=success" in again, again[-3000:]
    assert f"re-attaching to existing Ray job {job}" in again
    assert re.findall(r"submitted Ray job (\S+):", again) == [job]
    assert JobsClient.from_settings(settings).status(f"{job}.2") is None


@pytest.fixture(scope="module")
def standalone(settings: Settings, stack: Stack) -> Iterator[AirflowClient]:
    """What `make demo` does: Airflow as a stack service, driven over its REST API."""
    stack.up(("airflow",))
    try:
        client = AirflowClient(settings)
        client.wait_for_dag("burnout_batch_scoring")
        yield client
    finally:
        stack.down(("airflow",))


def test_airflow_listens_on_loopback_only_and_runs_no_log_server(
    settings: Settings, standalone: AirflowClient
) -> None:
    listeners = stack_listeners(settings)
    airflow = [(h, p, n) for h, p, n in listeners if p == settings.airflow_port]
    assert airflow, listeners  # the check sees Airflow's api-server
    exposed = sorted({(h, p, n) for h, p, n in listeners if not is_loopback(h)})
    assert not exposed, f"listening beyond loopback: {exposed}"
    # Airflow's log servers (scheduler 8793, triggerer 8794) bind every interface: not started.
    assert not [n for _, _, n in listeners if "serve-logs" in n or "serve_logs" in n]
    assert not {8793, 8794} & {p for _, p, _ in listeners}


def test_the_admin_login_is_airflows_own_user_with_the_password_from_env(
    settings: Settings, standalone: AirflowClient
) -> None:
    """FAB keeps users in Airflow's database; airflow/admin_user.py sets the admin's password
    from BURNOUT_AIRFLOW_ADMIN_PASSWORD, so changing it in .env and re-running changes it."""

    def login(password: str) -> int:
        body = {"username": "admin", "password": password}
        return httpx.post(f"{standalone.base}/auth/token", json=body, timeout=30).status_code

    def set_password(password: str) -> None:
        env = airflow_env(settings) | {"BURNOUT_AIRFLOW_ADMIN_PASSWORD": password}
        script = str(REPO / "airflow" / "admin_user.py")
        result = subprocess.run(
            [airflow_bin(settings, "python"), script],
            env=env, cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]
        assert "password set from BURNOUT_AIRFLOW_ADMIN_PASSWORD" in result.stdout + result.stderr

    assert settings.airflow_admin_password is not None
    current = settings.airflow_admin_password.get_secret_value()
    assert login(current) in {200, 201}
    assert login(current + "-wrong") == 401
    try:
        set_password(current + "-rotated")
        assert login(current + "-rotated") in {200, 201}
        assert login(current) == 401
    finally:
        set_password(current)
    assert login(current) in {200, 201}


def _score(
    settings: Settings, standalone: AirflowClient, name: str, rows: int, file: str = "batch.csv"
) -> str:
    """Upload `rows` synthetic rows as one new file and trigger batch scoring on it; run id."""
    from features.synthetic import generate

    incoming = s3.S3Uri(settings.bucket_data, f"score-{name}/incoming/")
    body = generate(rows, 9).to_csv(index=False).encode()
    s3.client(settings).put_object(Bucket=incoming.bucket, Key=incoming.child(file).key, Body=body)
    conf = {"input": str(incoming), "output_root": f"s3://{settings.bucket_processed}/{name}/"}
    return standalone.trigger("burnout_batch_scoring", conf)


def test_batch_scoring_triggered_over_rest_scores_each_new_file_once(
    settings: Settings, served: dict[str, Any], standalone: AirflowClient
) -> None:
    """Runs triggered over Airflow's REST API, as a schedule would: each new file is scored by
    one run, the files earlier runs scored are skipped, and a run with nothing new writes
    nothing."""

    def scored(run_id: str) -> dict[str, Any]:
        finished = standalone.wait("burnout_batch_scoring", run_id, timeout_s=600)
        assert finished["run"]["state"] == "success", finished
        return standalone.xcom("burnout_batch_scoring", run_id, "score_new_files")

    first = scored(_score(settings, standalone, "rest", 300, "monday.csv"))
    assert (first["files"], first["rows"], first["skipped_files"]) == (1, 300, 0)
    assert first["model"]["version"] == served["champion"]["version"]
    second = scored(_score(settings, standalone, "rest", 200, "tuesday.csv"))
    assert (second["files"], second["rows"], second["skipped_files"]) == (1, 200, 1)
    incoming = s3.S3Uri(settings.bucket_data, "score-rest/incoming/")
    assert [f["key"] for f in second["inputs"]] == [incoming.child("tuesday.csv").key]
    conf = {"input": str(incoming), "output_root": f"s3://{settings.bucket_processed}/rest/"}
    third = scored(standalone.trigger("burnout_batch_scoring", conf))
    assert (third["files"], third["rows"], third["output"]) == (0, 0, None)
    published = _published_runs(settings, "rest")
    assert sorted((p["files"], p["rows"]) for p in published) == [(1, 200), (1, 300)], published


def test_a_transient_ray_job_failure_is_retried_and_the_run_succeeds(
    settings: Settings, served: dict[str, Any], standalone: AirflowClient
) -> None:
    """The task's Ray job is stopped mid-run (a lost node, say): Airflow retries, run succeeds."""
    run_id = _score(settings, standalone, "retry", 50)
    jobs = JobsClient.from_settings(settings)
    deadline = time.monotonic() + 300
    while not (mine := _jobs_of_run(jobs, run_id)):
        assert time.monotonic() < deadline, "the task never submitted its Ray job"
        time.sleep(0.3)
    (first,) = mine
    jobs.stop(first["submission_id"])
    finished = standalone.wait("burnout_batch_scoring", run_id, timeout_s=600)
    assert finished["run"]["state"] == "success", finished
    states = {j["submission_id"]: j["status"] for j in _jobs_of_run(jobs, run_id)}
    assert states == {first["submission_id"]: "STOPPED", f"{first['submission_id']}.2": "SUCCEEDED"}
    task = standalone.request(
        "GET", f"/dags/burnout_batch_scoring/dagRuns/{run_id}/taskInstances/score_new_files"
    )
    assert task["try_number"] == 2
    # Scored exactly once: by the retry, or by the first attempt when the stop landed after it
    # had published (then the retry finds the file already scored and writes nothing).
    summary = standalone.xcom("burnout_batch_scoring", run_id, "score_new_files")
    published = _published_runs(settings, "retry")
    assert [(p["files"], p["rows"]) for p in published] == [(1, 50)], published
    assert summary["files"] + summary.get("skipped_files", 0) == 1, summary


def _published_runs(settings: Settings, name: str) -> list[dict[str, Any]]:
    """The `_SUCCESS.json` (DONE) summaries of every batch-scoring run under output root `name`."""
    client = s3.client(settings)
    root = s3.S3Uri(settings.bucket_processed, f"{name}/")
    return [
        s3.read_json(client, s3.S3Uri(root.bucket, obj["Key"])) or {}
        for obj in s3.iter_objects(client, root)
        if obj["Key"].endswith(f"/{DONE}")
    ]


def _jobs_of_run(jobs: JobsClient, run_id: str) -> list[dict[str, Any]]:
    return [j for j in jobs.list_jobs() if (j.get("metadata") or {}).get("airflow_run") == run_id]


def test_monitoring_fails_on_drift_and_triggers_retraining_on_new_data(
    settings: Settings, served: dict[str, Any], standalone: AirflowClient, rest: Any
) -> None:
    """A drifted window (a shifted batch, served by the real app) and new labelled raw data:
    the run triggers burnout_pipeline on that data, then fails at alert_on_drift."""
    import uuid

    from features.schema import RAW_TO_NAME
    from features.synthetic import generate, shifted
    from ray_jobs.ingest import raw_prefix, upload_synthetic
    from tests.integration.conftest import log_under, served_batch

    prefix = f"drift-dag-{uuid.uuid4().hex[:6]}"
    log_under(
        settings,
        prefix,
        served_batch(rest, shifted(generate(1_500, 98).rename(columns=RAW_TO_NAME))),
    )
    fresh = raw_prefix(settings, f"monitor-new-{uuid.uuid4().hex[:6]}")
    upload_synthetic(settings, 300, 7, fresh)  # labelled (Burn Rate), newer than the champion
    standalone.wait_for_dag("burnout_monitoring")
    # The triggered pipeline run must not start training in the middle of the test session.
    paused = standalone.request("GET", "/dags/burnout_pipeline")["is_paused"]
    standalone.request("PATCH", "/dags/burnout_pipeline", json={"is_paused": True})
    triggered: list[dict[str, Any]] = []
    try:
        run_id = standalone.trigger("burnout_monitoring", {"log_prefix": prefix})
        finished = standalone.wait("burnout_monitoring", run_id, timeout_s=900)
        assert finished["run"]["state"] == "failed", finished
        assert finished["tasks"] == {
            "drift_report": "success", "new_data_to_retrain_on": "success",
            "retrain": "success", "alert_on_drift": "failed",
        }, finished  # fmt: skip
        runs = standalone.request("GET", "/dags/burnout_pipeline/dagRuns")["dag_runs"]
        triggered = [r for r in runs if (r.get("conf") or {}).get("input") == str(fresh)]
        assert len(triggered) == 1, runs
        drift = standalone.xcom("burnout_monitoring", run_id, "drift_report")
        assert drift["dataset_drift"] and drift["new_labelled_inputs"][-1] == str(fresh)
    finally:
        for run in triggered:
            standalone.request(
                "PATCH", f"/dags/burnout_pipeline/dagRuns/{run['dag_run_id']}",
                json={"state": "failed"},
            )  # fmt: skip
        standalone.request("PATCH", "/dags/burnout_pipeline", json={"is_paused": paused})
