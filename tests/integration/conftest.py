"""Session fixtures shared by the integration tests: a published dataset and a trained model."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ray_jobs.ingest import raw_prefix, upload_synthetic
from ray_jobs.settings import Settings
from ray_jobs.submit import JobsClient, run_job
from tests.conftest import run_module


def last_json(text: str) -> dict[str, Any]:
    return json.loads(next(x for x in reversed(text.splitlines()) if x.startswith("{")))


def etl(settings: Settings, name: str, rows: int, seed: int) -> str:
    target = raw_prefix(settings, name)
    upload_synthetic(settings, rows, seed, target)
    result = run_module(settings, "ray_jobs.etl", "--input", str(target))
    assert result.returncode == 0, result.stderr
    return str(last_json(result.stdout)["dataset_version"])


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
    return last_json(JobsClient.from_settings(settings).logs(info["submission_id"]))
