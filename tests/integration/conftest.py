"""Session fixtures shared by the integration tests: a published dataset and a trained model."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import pyarrow.dataset as pads
import pytest

from ray_jobs.core import s3
from ray_jobs.core.jobs_client import JobsClient
from ray_jobs.core.settings import Settings
from ray_jobs.ingest import raw_prefix, upload_synthetic
from ray_jobs.submit import run_job, summary_line
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
