"""The pages a newcomer opens, in headless Chromium, with every request beyond the stack refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import pytest

from local_stack.browser_check import check_pages, chromium
from ray_jobs.core.settings import Settings
from tests.conftest import missing

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def browser() -> str:
    executable = chromium()
    if executable:
        return executable
    missing("Chromium is not installed (apt-get install chromium; .ci/run does it)")


def test_mlflow_runs_docs_and_graphiql_work_offline(
    settings: Settings, served: dict[str, Any], browser: str, tmp_path: Path
) -> None:
    client = mlflow.MlflowClient(settings.mlflow_tracking_uri)
    parent = client.get_run(served["parent_run_id"])
    report = check_pages(
        settings, parent.info.run_name, parent.info.experiment_id, tmp_path / "shots"
    )
    assert report.found["mlflow_run"] == parent.info.run_name
    assert {"/predict", "/predict/stream", "/health"} <= set(report.found["docs_operations"])
    assert '"ready": true' in report.found["graphiql_result"]
    assert '"riskLevel"' in report.found["graphiql_result"]
    assert report.blocked == []  # nothing was fetched from beyond the stack (CDNs included)
    assert all(path.stat().st_size > 10_000 for path in report.screenshots.values())
