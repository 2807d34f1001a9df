"""DAG integrity, checked by Airflow's own DagBag in its own virtualenv (no services needed)."""

from __future__ import annotations

import ast
import itertools
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ray_jobs.submit import summary_line

REPO = Path(__file__).resolve().parents[2]
AIRFLOW_DIR = REPO / "airflow"
DAGS = AIRFLOW_DIR / "dags"
AIRFLOW_PYTHON = Path(os.environ.get("BURNOUT_AIRFLOW_VENV", REPO / ".venv-airflow")) / "bin"
HEAVY = {"ray", "mlflow", "pandas", "numpy", "sklearn", "lightgbm", "ray_jobs", "serve_app"}
PIPELINE = ["raw_data_present", "etl", "train", "champion_moved", "reload_serving", "smoke_predict"]


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    home = tmp_path_factory.mktemp("airflow-home")
    env = {
        **{k: v for k, v in os.environ.items() if not k.endswith("_SCHEDULE")},
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        # Airflow's own processes put the DAGs folder on sys.path; a bare DagBag does not.
        "PYTHONPATH": os.pathsep.join([str(DAGS), str(REPO)]),
    }
    result = subprocess.run(
        [str(AIRFLOW_PYTHON / "python"), str(Path(__file__).parent / "inspect_dags.py"), str(DAGS)],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return summary_line(result.stdout)


def test_dags_import_without_errors(dagbag: dict[str, Any]) -> None:
    assert dagbag["import_errors"] == {}
    assert set(dagbag["dags"]) == {
        "burnout_pipeline",
        "burnout_batch_scoring",
        "burnout_monitoring",
    }


def test_every_dag_is_tagged_and_every_task_retries_with_a_timeout(dagbag: dict[str, Any]) -> None:
    for dag_id, dag in dagbag["dags"].items():
        assert "burnout" in dag["tags"], dag_id
        for task_id, task in dag["tasks"].items():
            assert task["retries"] >= 2, f"{dag_id}.{task_id}"
            assert task["execution_timeout_s"], f"{dag_id}.{task_id} has no execution timeout"


def test_dags_are_manual_unless_a_schedule_is_set(dagbag: dict[str, Any]) -> None:
    # The fixture's environment sets no BURNOUT_*_SCHEDULE.
    assert {d["timetable"] for d in dagbag["dags"].values()} == {"NullTimetable"}


def test_pipeline_runs_its_steps_in_order(dagbag: dict[str, Any]) -> None:
    tasks = dagbag["dags"]["burnout_pipeline"]["tasks"]
    assert set(tasks) == set(PIPELINE)
    for before, after in itertools.pairwise(PIPELINE):
        assert tasks[before]["downstream"] == [after], before
    # The smoke test runs whether or not the champion moved (a skipped reload is not a failure).
    assert tasks["smoke_predict"]["trigger_rule"] == "none_failed"


def test_monitoring_retrains_before_it_alerts(dagbag: dict[str, Any]) -> None:
    tasks = dagbag["dags"]["burnout_monitoring"]["tasks"]
    assert set(tasks) == {"drift_report", "new_data_to_retrain_on", "retrain", "alert_on_drift"}
    assert set(tasks["drift_report"]["downstream"]) == {"new_data_to_retrain_on", "alert_on_drift"}
    assert tasks["new_data_to_retrain_on"]["downstream"] == ["retrain"]
    assert tasks["retrain"]["downstream"] == ["alert_on_drift"]
    # A skipped retrain (no drift or no new data) must not skip the alert.
    assert tasks["alert_on_drift"]["trigger_rule"] == "all_done"


def _top_level_imports(path: Path) -> set[str]:
    """Modules imported at module level (imports inside functions run only in tasks)."""
    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize(
    "path", sorted(AIRFLOW_DIR.rglob("*.py")), ids=lambda p: str(p.relative_to(AIRFLOW_DIR))
)
def test_no_heavy_imports_at_parse_time(path: Path) -> None:
    heavy = _top_level_imports(path) & HEAVY
    assert not heavy, f"{path.name} imports {sorted(heavy)} at module level"


def test_parse_time_check_catches_a_heavy_import(tmp_path: Path) -> None:
    sample = tmp_path / "dag.py"
    sample.write_text("import ray\nfrom mlflow import Client\n\ndef f():\n    import pandas\n")
    assert _top_level_imports(sample) & HEAVY == {"ray", "mlflow"}
