"""Training against real S3, MLflow (tracking + registry) and Ray, submitted as a Ray job."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.dummy import DummyRegressor
from sklearn.pipeline import Pipeline

from features.preprocessing import build_preprocessor
from features.schema import FEATURE_NAMES
from local_stack.stack import Stack
from ray_jobs.core import datasets, s3
from ray_jobs.core.registry import promote_if_better
from ray_jobs.core.settings import Settings, child_env
from ray_jobs.ingest import raw_prefix, upload_file
from ray_jobs.submit import summary_line
from ray_jobs.train.config import DEFAULT_CONFIG, load_config
from tests.conftest import REPO, run_module
from tests.integration.conftest import read_parquet

pytestmark = pytest.mark.integration

FAMILIES = ("lightgbm", "knn", "svm")


@pytest.fixture(scope="module")
def client(settings: Settings) -> mlflow.MlflowClient:
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    return mlflow.MlflowClient(settings.mlflow_tracking_uri)


def test_run_structure_parent_family_trials(trained: dict[str, Any], client: Any) -> None:
    parent = client.get_run(trained["parent_run_id"])
    experiment = parent.info.experiment_id
    assert parent.data.tags["dataset_version"] == trained["dataset_version"]
    assert parent.data.tags["champion_decision"] in {"promoted", "kept"}
    assert "candidate_test_rmse" in parent.data.metrics
    children = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert sorted(c.data.tags["family"] for c in children) == sorted(FAMILIES)
    for child in children:
        trials = client.search_runs(
            [experiment], f"tags.mlflow.parentRunId = '{child.info.run_id}'"
        )
        assert len(trials) == 2
        space = set(
            load_config(DEFAULT_CONFIG, None, None)["families"][child.data.tags["family"]]["space"]
        )
        for trial in trials:
            assert "val_rmse" in trial.data.metrics
            assert set(trial.data.params) == space  # each family ran its own trainable
        metrics = child.data.metrics
        for key in ("test_rmse", "test_mae", "test_r2", "test_r2_complete", "test_risk_macro_f1"):
            assert key in metrics, key
        assert 0 < metrics["test_rmse"] < 0.2 and metrics["test_r2"] > 0.5
        artifacts = {a.path for a in client.list_artifacts(child.info.run_id)}
        assert {"confusion_matrix.png", "predictions.png", "importance.png"} <= artifacts
        assert {"importance.json", "trials.json", "test_metrics.json"} <= artifacts


def test_registry_has_family_aliases_and_a_champion(
    settings: Settings, trained: dict[str, Any], client: Any
) -> None:
    for family in FAMILIES:
        version = client.get_model_version_by_alias(settings.model_name, family)
        assert version.version == trained["families"][family]["version"]
        assert version.tags["family"] == family
        assert float(version.tags["test_rmse"]) > 0
        assert version.tags["dataset_version"] == trained["dataset_version"]
    champion = client.get_model_version_by_alias(settings.model_name, settings.champion_alias)
    best = min(FAMILIES, key=lambda f: trained["families"][f]["test"]["rmse"])
    assert champion.tags["family"] == best


def test_champion_predicts_raw_records_with_missing_values(
    settings: Settings, trained: dict[str, Any]
) -> None:
    model = mlflow.pyfunc.load_model(f"models:/{settings.model_name}@{settings.champion_alias}")
    records = pd.DataFrame(
        [
            {
                "employee_id": "a",
                "date_of_joining": "2008-05-01",
                "gender": "Female",
                "company_type": "Service",
                "wfh_setup_available": "No",
                "designation": 4.0,
                "resource_allocation": 8.0,
                "mental_fatigue_score": 8.5,
            },
            {
                "employee_id": "b",
                "date_of_joining": None,
                "gender": "Male",
                "company_type": "Product",
                "wfh_setup_available": "Yes",
                "designation": 0.0,
                "resource_allocation": np.nan,
                "mental_fatigue_score": np.nan,
            },
        ]
    )
    predicted = np.asarray(model.predict(records))
    assert predicted.shape == (2,)
    assert np.isfinite(predicted).all()
    assert predicted[0] > predicted[1] + 0.2  # high fatigue + load burns more


def test_promotion_gate(
    settings: Settings, trained: dict[str, Any], client: Any, small_version: str
) -> None:
    """A worse model does not take the champion alias; a better one does."""
    test_frame = _split(settings, small_version, "test")
    dummy = Pipeline([("preprocess", build_preprocessor()), ("model", DummyRegressor())])
    train = _split(settings, small_version, "train")
    dummy.fit(train[list(FEATURE_NAMES)], train["burn_rate"].to_numpy())
    mlflow.set_experiment("promotion-gate-test")
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(dummy, name="model", serialization_format="cloudpickle")
    worse = mlflow.register_model(info.model_uri, settings.model_name, tags={"family": "dummy"})
    predicted = dummy.predict(test_frame[list(FEATURE_NAMES)])
    worse_rmse = float(np.sqrt(np.mean((predicted - test_frame["burn_rate"]) ** 2)))
    before = client.get_model_version_by_alias(settings.model_name, settings.champion_alias)

    kept = promote_if_better(
        client, settings.model_name, settings.champion_alias, (worse.version, worse_rmse, None),
        test_frame,
    )  # fmt: skip
    assert not kept.promoted
    assert kept.previous_rmse is not None and kept.previous_rmse < worse_rmse
    now = client.get_model_version_by_alias(settings.model_name, settings.champion_alias)
    assert now.version == before.version

    client.set_registered_model_alias(settings.model_name, settings.champion_alias, worse.version)
    lightgbm = trained["families"]["lightgbm"]
    better = (lightgbm["version"], lightgbm["test"]["rmse"], None)
    # The fairness gate: better on RMSE, but a (stated) slice gap far past the dummy's.
    unfair = promote_if_better(
        client, settings.model_name, settings.champion_alias, (*better[:2], 0.5), test_frame, 0.01
    )
    assert not unfair.promoted and unfair.blocked_by_gap
    assert unfair.previous_gap is not None and "gap between slices" in unfair.reason
    assert client.get_model_version_by_alias(
        settings.model_name, settings.champion_alias
    ).version == str(worse.version)
    moved = promote_if_better(
        client, settings.model_name, settings.champion_alias, better, test_frame
    )
    assert moved.promoted
    now = client.get_model_version_by_alias(settings.model_name, settings.champion_alias)
    assert now.version == lightgbm["version"]
    client.set_registered_model_alias(settings.model_name, settings.champion_alias, before.version)


def _split(settings: Settings, version: str, split: str) -> pd.DataFrame:
    manifest = datasets.resolve(settings, s3.client(settings), version)
    return read_parquet(settings, manifest["splits"][split]["uri"])


def test_same_seed_same_best_params(settings: Settings, small_version: str) -> None:
    args = ["--dataset-version", small_version, "--trials", "3", "--families", "knn"]
    env = {"BURNOUT_MODEL_NAME": "seed-check"}
    runs = [run_module(settings, "ray_jobs.train", *args, extra_env=env) for _ in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stderr[-3000:]
    first, second = (summary_line(r.stdout)["families"]["knn"] for r in runs)
    assert first["best_params"] == second["best_params"]
    assert first["test"]["rmse"] == pytest.approx(second["test"]["rmse"])


def test_no_dataset_version_is_a_clear_error(settings: Settings) -> None:
    s3.client(settings).create_bucket(Bucket="empty-processed")
    result = run_module(
        settings, "ray_jobs.train", extra_env={"BURNOUT_BUCKET_PROCESSED": "empty-processed"}
    )
    assert result.returncode == 4
    assert "no complete dataset version under s3://empty-processed/" in result.stderr
    assert "ray_jobs.etl" in result.stderr and "Traceback" not in result.stderr


def test_mlflow_down_fails_before_compute(settings: Settings) -> None:
    result = run_module(
        settings, "ray_jobs.train", extra_env={"BURNOUT_MLFLOW_TRACKING_URI": "http://127.0.0.1:9"}
    )
    assert result.returncode == 3
    assert "MLflow tracking server at http://127.0.0.1:9 is unreachable" in result.stderr
    assert "connected to Ray" not in result.stderr


def registry_state(client: mlflow.MlflowClient, name: str) -> dict[str, list[str]]:
    """Every version of the model with its aliases."""
    versions = client.search_model_versions(f"name='{name}'")
    return {str(v.version): sorted(v.aliases) for v in versions}


def test_mlflow_outage_mid_training_leaves_the_registry_unchanged(
    stack: Stack, trained: dict[str, Any], small_version: str, client: mlflow.MlflowClient
) -> None:
    """Stop MLflow while Tune runs: a clear failure and not one version or alias changed."""
    settings = stack.settings
    before = registry_state(client, settings.model_name)
    process = subprocess.Popen(
        [sys.executable, "-m", "ray_jobs.train", "--dataset-version", small_version,
         "--trials", "2"],
        env=child_env(settings), cwd=REPO, stderr=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    lines: list[str] = []
    tuning = threading.Event()

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            if "tuning lightgbm" in line:
                tuning.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert tuning.wait(180), "".join(lines)[-3000:]
        stack.down(("mlflow",))
        process.wait(timeout=600)
    finally:
        if process.poll() is None:
            process.kill()
        stack.up(("mlflow",))
    reader.join(timeout=30)
    stderr = "".join(lines)
    assert process.returncode == 3, stderr[-3000:]
    assert "training failed before any registry change" in stderr, stderr[-3000:]
    # The job itself prints no traceback. Lines prefixed "(<actor> pid=N)" are Ray forwarding
    # its workers' output: a trial actor SIGTERMed while the driver exits may print one there.
    own = [line for line in lines if not re.match(r"\S*\(\w+ pid=\d+\)", line)]
    assert "Traceback" not in "".join(own), stderr[-3000:]
    assert registry_state(client, settings.model_name) == before


@pytest.mark.slow
def test_quality_on_the_real_file(settings: Settings, real_train_csv: Path) -> None:
    target = raw_prefix(settings, "quality-real")
    upload_file(settings, real_train_csv, target)
    etl_run = run_module(settings, "ray_jobs.etl", "--input", str(target))
    assert etl_run.returncode == 0, etl_run.stderr
    version = summary_line(etl_run.stdout)["dataset_version"]
    result = run_module(
        settings, "ray_jobs.train", "--dataset-version", version, "--trials", "8",
        extra_env={"BURNOUT_MODEL_NAME": "quality-real"}, timeout=1500,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    summary = summary_line(result.stdout)
    champion = summary["families"][summary["champion"]["family"]]["test"]
    assert champion["r2"] >= 0.90
    assert champion["r2_complete"] >= 0.92
    assert champion["risk_macro_f1"] >= 0.85


def test_a_failing_family_stops_the_others_and_registers_nothing(
    settings: Settings, small_version: str, client: mlflow.MlflowClient, tmp_path: Any
) -> None:
    """SVR rejects a negative epsilon in every trial: the job fails with that error at once,
    LightGBM and KNN stop long before their budgets, and the registry is untouched."""
    config = load_config(DEFAULT_CONFIG, None, None)
    config["families"]["svm"]["space"]["epsilon"] = {"type": "float", "low": -1.0, "high": -0.5}
    config["families"]["svm"]["num_samples"] = 2
    for family in ("lightgbm", "knn"):
        config["families"][family]["num_samples"] = 200
    path = tmp_path / "failing.yaml"
    path.write_text(yaml.safe_dump(config))
    before = registry_state(client, "failing-family")
    started_ms = int(time.time() * 1000)
    result = run_module(
        settings, "ray_jobs.train", "--dataset-version", small_version, "--config", str(path),
        extra_env={"BURNOUT_MODEL_NAME": "failing-family"}, timeout=300,
    )  # fmt: skip
    assert result.returncode == 5, result.stderr[-3000:]
    assert "svm: all 2 trials failed; first error:" in result.stderr
    assert "epsilon" in result.stderr
    # Reported by the trial, never raised into Tune: a refused parameter is not retried like a
    # lost node (each retry costs a trial restart and fails the same way).
    assert "Trial task failed" not in result.stderr
    assert result.stderr.count("svm trial 1/2 failed") == 1
    for family in ("lightgbm", "knn"):
        assert f"{family} trial 200/200" not in result.stderr
        assert f"{family} done in" not in result.stderr
    assert registry_state(client, "failing-family") == before == {}
    experiment = client.get_experiment_by_name("training")
    family_runs = {
        run.info.run_name: run.info.status
        for run in client.search_runs(
            [experiment.experiment_id], f"attributes.start_time >= {started_ms}"
        )
        if run.info.run_name in FAMILIES
    }
    assert family_runs == {"svm": "FAILED", "lightgbm": "KILLED", "knn": "KILLED"}
