"""The ETL job against real S3, MLflow and Ray, submitted through the Ray Jobs API."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest

from features.schema import RAW_HEADER
from features.splitting import SPLITS, split_of
from features.synthetic import generate
from local_stack.stack import Stack
from ray_jobs.core import s3
from ray_jobs.core.jobs_client import JobsClient
from ray_jobs.core.settings import Settings, child_env
from ray_jobs.etl.batch import CLEAN_SCHEMA
from ray_jobs.ingest import raw_prefix, upload_file, upload_synthetic
from ray_jobs.submit import run_job, summary_line
from tests.conftest import REPO, run_module
from tests.integration.conftest import read_parquet

pytestmark = pytest.mark.integration

GOOD = "fffe0000000000000000{n:04d},2008-03-0{d},Male,Service,Yes,2,4,5.5,0.5{d},{extra}"
CORRUPT_LINES = {
    "short,line": "malformed CSV line: expected 10 fields, found 2",
    "fffe-bad-1,2008-01-01,Male,Service,Yes,abc,4,5.5,0.5,1": "Designation: 'abc' is not a number",
    "fffe-bad-2,2008-01-01,Other,Service,Yes,2,4,5.5,0.5,1": (
        "Gender: 'Other' is not one of Male, Female"
    ),
    "fffe-bad-3,2008-01-01,Male,Service,Yes,2,4,5.5,1.5,1": "Burn Rate: '1.5' is outside [0, 1]",
    "fffe-bad-4,2008-01-01,Male,Service,Yes,2,4,5.5,,1": "Burn Rate: missing",
    "fffe-bad-5,01/01/2008,Male,Service,Yes,2,11,5.5,0.3,1": (
        "Date of Joining: '01/01/2008' is not an ISO date"
    ),
}


def corrupt_csv() -> bytes:
    """A file with an extra column, 10 good rows and one bad row per rule."""
    lines = [",".join([*RAW_HEADER, "Team Size"])]
    lines += [GOOD.format(n=n, d=n % 9 + 1, extra=n) for n in range(10)]
    lines += list(CORRUPT_LINES)
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture(scope="module")
def mixed_input(settings: Settings) -> dict[str, Any]:
    """3,000 synthetic rows in two parts plus a corrupt file, under one prefix."""
    target = raw_prefix(settings, "etl-mixed")
    upload_synthetic(settings, 3_000, 11, target, chunk_rows=1_500)
    s3.client(settings).put_object(
        Bucket=target.bucket, Key=target.child("corrupt.csv").key, Body=corrupt_csv()
    )
    generated = pd.concat([generate(1_500, 11, 0), generate(1_500, 11, 1_500)])
    no_target = int(generated["Burn Rate"].isna().sum())
    return {
        "uri": str(target),
        "rows_in": 3_000 + 10 + len(CORRUPT_LINES),
        "rejected": no_target + len(CORRUPT_LINES),
    }


@pytest.fixture(scope="module")
def published(settings: Settings, mixed_input: dict[str, Any]) -> dict[str, Any]:
    """The ETL run as Airflow will run it: a Ray job submitted over the Jobs REST API."""
    info = run_job(
        settings, f"python -m ray_jobs.etl --input {mixed_input['uri']}", echo=False, timeout_s=600
    )
    logs = JobsClient.from_settings(settings).logs(info["submission_id"])
    version = summary_line(logs)["dataset_version"]
    manifest = s3.read_json(
        s3.client(settings), s3.S3Uri(settings.bucket_processed, f"{version}/_manifest.json")
    )
    assert manifest is not None, logs
    return manifest


def test_rows_are_accounted_for(published: dict[str, Any], mixed_input: dict[str, Any]) -> None:
    rows = published["rows"]
    assert rows["in"] == mixed_input["rows_in"]
    assert rows["rejected"] == mixed_input["rejected"]
    assert rows["in"] == rows["out"] + rows["rejected"]
    assert sum(published["splits"][s]["rows"] for s in SPLITS) == rows["out"]
    # Three files and a 2-CPU head: one task per file reads and processes it (fused).
    assert published["read"] == {"files": 3, "task_per_file": True}


def test_splits_are_parquet_with_the_schema_and_a_stable_hash_split(
    settings: Settings, published: dict[str, Any]
) -> None:
    seen: set[str] = set()
    for split in SPLITS:
        frame = read_parquet(settings, published["splits"][split]["uri"])
        assert len(frame) == published["splits"][split]["rows"] > 0
        assert list(frame.columns) == CLEAN_SCHEMA.names
        assert frame["burn_rate"].notna().all()
        assert frame["burn_rate"].between(0, 1).all()
        assert (split_of(frame["employee_id"]) == split).all()
        assert not seen & set(frame["employee_id"])
        seen |= set(frame["employee_id"])
    assert published["schema"] == [{"name": f.name, "type": str(f.type)} for f in CLEAN_SCHEMA]


def test_rejects_keep_the_raw_line_and_reason(
    settings: Settings, published: dict[str, Any]
) -> None:
    rejects = read_parquet(settings, published["rejects"]["uri"])
    assert len(rejects) == published["rows"]["rejected"]
    for line, reason in CORRUPT_LINES.items():
        match = rejects[rejects["raw_line"] == line]
        assert len(match) == 1, line
        assert match["reason"].iloc[0].startswith(reason)
        assert match["source"].iloc[0].endswith("corrupt.csv")
    missing_target = rejects["reason"].str.startswith("Burn Rate: missing")
    assert (
        missing_target.sum()
        == published["rejected_by_reason"][
            "Burn Rate: missing (rows without a target cannot be used for training)"
        ]
    )


def test_dataset_statistics_are_logged_to_mlflow(
    settings: Settings, published: dict[str, Any]
) -> None:
    client = mlflow.MlflowClient(settings.mlflow_tracking_uri)
    run = client.get_run(published["mlflow_run_id"])
    assert run.data.tags["dataset_version"] == published["dataset_version"]
    metrics = run.data.metrics
    assert metrics["rows_in"] == published["rows"]["in"]
    assert metrics["rows_rejected"] == published["rows"]["rejected"]
    for split in SPLITS:
        assert metrics[f"rows_{split}"] == published["splits"][split]["rows"]
    assert 0.3 < metrics["mean_burn_rate"] < 0.6 and metrics["std_burn_rate"] > 0.1
    assert "missing_resource_allocation" in metrics
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.name == "etl"
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert "manifest.json" in artifacts


def test_same_input_gives_the_same_version(
    settings: Settings, published: dict[str, Any], mixed_input: dict[str, Any]
) -> None:
    again = run_module(settings, "ray_jobs.etl", "--input", mixed_input["uri"])
    assert again.returncode == 0, again.stderr
    assert summary_line(again.stdout)["dataset_version"] == published["dataset_version"]
    assert "already complete" in again.stderr
    rebuilt = run_module(settings, "ray_jobs.etl", "--input", mixed_input["uri"], "--force")
    assert rebuilt.returncode == 0, rebuilt.stderr
    summary = summary_line(rebuilt.stdout)
    assert summary["dataset_version"] == published["dataset_version"]
    assert summary["rows"] == published["rows"]


@pytest.mark.parametrize(
    ("setup", "exit_code", "message"),
    [
        ("empty-prefix", 4, "no CSV files under"),
        ("wrong-columns", 4, "lacks the column(s)"),
        ("s3-down", 3, "is unreachable"),
        ("mlflow-down", 3, "MLflow tracking server"),
    ],
)
def test_expected_failures_are_one_clear_line(
    settings: Settings, setup: str, exit_code: int, message: str
) -> None:
    prefix = raw_prefix(settings, f"bad-{setup}")
    env: dict[str, str] = {}
    if setup == "wrong-columns":
        s3.client(settings).put_object(
            Bucket=prefix.bucket, Key=prefix.child("x.csv").key, Body=b"a,b\n1,2\n"
        )
    if setup == "s3-down":
        env["BURNOUT_S3_ENDPOINT_URL"] = "http://127.0.0.1:9"
    if setup == "mlflow-down":
        env["BURNOUT_MLFLOW_TRACKING_URI"] = "http://127.0.0.1:9"
    result = run_module(settings, "ray_jobs.etl", "--input", str(prefix), extra_env=env)
    assert result.returncode == exit_code, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["ray_jobs.submit", "--", "python", "-m", "ray_jobs.etl"],
        ["local_stack.cli", "etl"],  # `burnout etl`: the same job through the CLI's wrapper
    ],
)
def test_failed_job_fails_the_submission_with_rays_message(
    settings: Settings, command: list[str]
) -> None:
    result = run_module(settings, *command, "--input", "s3://data/raw/none/")
    assert result.returncode == 1
    assert "FAILED" in result.stderr and "no CSV files" in result.stdout + result.stderr


def test_real_file(settings: Settings, real_train_csv: Path) -> None:
    target = raw_prefix(settings, "kaggle-train")
    upload_file(settings, real_train_csv, target)
    result = run_module(settings, "ray_jobs.etl", "--input", str(target))
    assert result.returncode == 0, result.stderr
    version = summary_line(result.stdout)["dataset_version"]
    manifest = s3.read_json(
        s3.client(settings), s3.S3Uri(settings.bucket_processed, f"{version}/_manifest.json")
    )
    assert manifest is not None
    assert manifest["rows"]["in"] == 22_750
    # One file and a 2-CPU head: its blocks are spread over processing tasks.
    assert manifest["read"] == {"files": 1, "task_per_file": False}
    reasons = manifest["rejected_by_reason"]
    assert reasons == {
        "Burn Rate: missing (rows without a target cannot be used for training)": 1_124
    }
    assert manifest["rows"]["out"] == 22_750 - 1_124
    assert sum(manifest["splits"][s]["rows"] for s in SPLITS) == manifest["rows"]["out"]
    missing = manifest["statistics"]["all"]["missing"]
    assert missing["resource_allocation"] + missing["mental_fatigue_score"] > 0


def test_s3_outage_mid_run_publishes_nothing(stack: Stack) -> None:
    """Stop S3 while the ETL is writing: non-zero exit and no manifest."""
    settings = stack.settings
    target = raw_prefix(settings, "outage")
    upload_synthetic(settings, 400_000, 5, target, chunk_rows=50_000)
    process = subprocess.Popen(
        [sys.executable, "-m", "ray_jobs.etl", "--input", str(target), "--batch-rows", "5000"],
        env=child_env(settings),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    client = s3.client(settings)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and process.poll() is None:
            parts = [
                o
                for o in s3.iter_objects(client, s3.S3Uri(settings.bucket_processed, ""))
                if "/train/part-" in o["Key"]
                and not _manifest_exists(client, settings, o["Key"].split("/")[0])
            ]
            if parts:
                break
            time.sleep(0.2)
        assert process.poll() is None, "ETL finished before the outage could be staged"
        stack.down(("s3",))
        _, stderr = process.communicate(timeout=420)
    finally:
        if process.poll() is None:
            process.kill()
        stack.up(("s3",))
    assert process.returncode != 0
    assert "nothing was published" in stderr or "unreachable" in stderr, stderr[-2000:]
    client = s3.client(settings)
    for prefix in s3.list_prefixes(client, s3.S3Uri(settings.bucket_processed, "")):
        manifest = s3.read_json(
            client, s3.S3Uri(settings.bucket_processed, f"{prefix}_manifest.json")
        )
        assert manifest is None or manifest["input"]["uri"] != str(target)


def _manifest_exists(client: Any, settings: Settings, version: str) -> bool:
    uri = s3.S3Uri(settings.bucket_processed, f"{version}/_manifest.json")
    return s3.read_json(client, uri) is not None
