"""Session fixtures shared by the integration tests: a published dataset and a trained model."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import pandas as pd
import pyarrow.dataset as pads
import pytest

from ray_jobs.core import s3
from ray_jobs.core.jobs_client import JobsClient
from ray_jobs.core.settings import Settings
from ray_jobs.ingest import raw_prefix, upload_synthetic
from ray_jobs.submit import run_job, summary_line
from serve_app.client import SAMPLE
from serve_app.protos import burnout_pb2 as pb
from serve_app.protos import burnout_pb2_grpc
from tests.conftest import run_module


def read_parquet(settings: Settings, uri: str) -> pd.DataFrame:
    """Every Parquet part under an s3:// prefix, read directly (not through the code under test)."""
    dataset = pads.dataset(
        s3.S3Uri.parse(uri).path, filesystem=s3.arrow_fs(settings), format="parquet"
    )
    return dataset.to_table().to_pandas()


def etl(settings: Settings, name: str, rows: int, seed: int) -> str:
    target = raw_prefix(settings, name)
    upload_synthetic(settings, rows, seed, target)
    result = run_module(settings, "ray_jobs.etl", "--input", str(target))
    assert result.returncode == 0, result.stderr
    return str(summary_line(result.stdout)["dataset_version"])


@pytest.fixture(scope="session")
def small_version(settings: Settings) -> str:
    return etl(settings, "train-small", 4_000, 21)


@pytest.fixture(scope="session")
def trained(settings: Settings, small_version: str) -> dict[str, Any]:
    """A tiny-budget training run, submitted over the Ray Jobs API like Airflow does."""
    info = run_job(
        settings,
        f"python -m ray_jobs.train --dataset-version {small_version} --trials 2",
        echo=False,
        timeout_s=900,
    )
    return summary_line(JobsClient.from_settings(settings).logs(info["submission_id"]))


@pytest.fixture(scope="session")
def served(settings: Settings, trained: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The Serve application deployed with the trained model; removed at the end."""
    result = run_module(settings, "serve_app.deploy", "up", timeout=400)
    assert result.returncode == 0, result.stderr[-3000:]
    yield trained
    run_module(settings, "serve_app.deploy", "down", timeout=120)


# -- the served app over its three protocols ------------------------------------------------

RECORDS: list[dict[str, Any]] = [
    {**SAMPLE, "employee_id": "e1"},
    {
        "employee_id": "e2",
        "gender": "Male",
        "company_type": "Product",
        "wfh_setup_available": "Yes",
        "designation": 1,
        "resource_allocation": None,
        "mental_fatigue_score": None,
    },
]


@pytest.fixture(scope="session")
def rest(settings: Settings, served: dict[str, Any]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"http://127.0.0.1:{settings.serve_http_port}", timeout=30) as c:
        yield c


@pytest.fixture(scope="session")
def channel(settings: Settings, served: dict[str, Any]) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"127.0.0.1:{settings.serve_grpc_port}") as ch:
        yield ch


@pytest.fixture(scope="session")
def stub(channel: grpc.Channel) -> burnout_pb2_grpc.BurnoutServiceStub:
    return burnout_pb2_grpc.BurnoutServiceStub(channel)


def metadata(settings: Settings) -> tuple[tuple[str, str], ...]:
    return (("application", settings.serve_app_name),)


def graphql(
    rest: httpx.Client, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = rest.post("/graphql", json={"query": query, "variables": variables or {}})
    assert response.status_code == 200, response.text
    return dict(response.json())


def to_proto(record: dict[str, Any]) -> pb.Employee:
    fields = {k: v for k, v in record.items() if v is not None}
    return pb.Employee(**fields)


GQL_PREDICT = """
query($records: [EmployeeInput!]!, $model: String) {
  predict(records: $records, model: $model) {
    employeeId burnRate riskLevel model { alias version }
  }
}"""


Batch = tuple[list[dict[str, Any]], list[dict[str, Any]]]


def served_batch(rest: httpx.Client, frame: pd.DataFrame) -> Batch:
    """Valid records of a canonical frame, scored by the real service: (records, predictions)."""
    from features.synthetic import wire_records

    rows = wire_records(frame)
    answer = rest.post("/predict", json={"records": rows})
    assert answer.status_code == 200, answer.text[:500]
    return rows, answer.json()["predictions"]


def log_under(settings: Settings, prefix: str, batch: Batch) -> None:
    """Write served rows as the inference log does, under another prefix of the data bucket."""
    from serve_app.inference_log import InferenceLog, s3_writer

    write = s3_writer(settings)
    relocated = InferenceLog(
        lambda key, body: write(key.replace(s3.INFERENCE_PREFIX, prefix, 1), body), "test"
    )
    relocated.add(*batch, "rest")
    assert relocated.flush() == len(batch[0])


def score_file(
    settings: Settings, name: str, rows: int, seed: int, *options: str
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Batch-score one synthetic CSV whose row 3 has a bad gender (`python -m
    ray_jobs.batch_predict ... *options`): the job's summary and the Parquet it wrote, read
    directly."""
    from features.synthetic import generate

    target = raw_prefix(settings, f"score-{name}")
    frame = generate(rows, seed)
    frame.loc[3, "Gender"] = "Robot"
    s3.client(settings).put_object(
        Bucket=target.bucket,
        Key=target.child("batch.csv").key,
        Body=frame.to_csv(index=False).encode(),
    )
    output = f"s3://{settings.bucket_processed}/scores/test-{name}/"
    result = run_module(
        settings, "ray_jobs.batch_predict", "--input", str(target), "--output", output, *options
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return {**summary_line(result.stdout), "output": output}, read_parquet(settings, output)
