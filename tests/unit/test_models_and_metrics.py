"""Model families, search spaces, metrics and the training config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest

from features.evaluation import complete_rows, evaluate, regression_metrics, risk_metrics
from features.models import FAMILIES, build_model, suggest
from features.schema import FEATURE_NAMES, RAW_TO_NAME
from features.synthetic import generate
from features.validation import validate
from ray_jobs.core.errors import ConfigError
from ray_jobs.train.config import DEFAULT_CONFIG, load_config
from ray_jobs.train.tuning import cap_rows


def test_regression_metrics_clip_predictions() -> None:
    metrics = regression_metrics(np.array([0.0, 1.0]), np.array([-0.5, 1.5]))
    assert metrics == {"rmse": 0.0, "mae": 0.0, "r2": 1.0}


def test_risk_metrics_and_confusion_matrix() -> None:
    y = np.array([0.1, 0.5, 0.9, 0.9])
    p = np.array([0.1, 0.5, 0.5, 0.9])
    metrics = risk_metrics(y, p)
    assert metrics["confusion_matrix"] == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]
    assert metrics["risk_accuracy"] == 0.75
    assert 0.7 < metrics["risk_macro_f1"] < 0.9


def test_evaluate_reports_complete_rows_separately() -> None:
    frame = pd.DataFrame(
        {
            "designation": [1.0, 2.0],
            "resource_allocation": [3.0, None],
            "mental_fatigue_score": [4.0, 5.0],
        }
    )
    complete = complete_rows(frame)
    assert complete.tolist() == [True, False]
    metrics = evaluate(np.array([0.2, 0.6]), np.array([0.2, 0.9]), complete)
    assert metrics["rmse_complete"] == 0.0 and metrics["rmse"] > 0
    assert metrics["rows_complete"] == 1


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_fits_raw_records(family: str) -> None:
    raw = generate(800, 3).rename(columns=RAW_TO_NAME)
    data = validate(raw.astype(object), require_target=False).clean.dropna(subset=["burn_rate"])
    params = {"lightgbm": {"n_estimators": 20}, "knn": {"n_neighbors": 5}, "svm": {"C": 1.0}}
    model = build_model(family, params[family], seed=0)
    model.fit(data[list(FEATURE_NAMES)], data["burn_rate"])
    predicted = model.predict(data[list(FEATURE_NAMES)].head(5))
    assert predicted.shape == (5,) and np.isfinite(predicted).all()


def test_unknown_family_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown model family"):
        build_model("xgboost", {}, 0)


def test_search_space_declares_every_parameter() -> None:
    config = load_config(DEFAULT_CONFIG, None, None)
    for family, spec in config["families"].items():
        study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=1))
        trial = study.ask()
        suggest(trial, spec["space"])
        assert set(trial.params) == set(spec["space"]), family
        build_model(family, trial.params, seed=0)  # every sampled point is a valid estimator


def test_config_overrides_and_errors(tmp_path: Path) -> None:
    config = load_config(DEFAULT_CONFIG, trials=2, families=["knn"])
    assert list(config["families"]) == ["knn"] and config["families"]["knn"]["num_samples"] == 2
    with pytest.raises(ConfigError, match="unknown families"):
        load_config(DEFAULT_CONFIG, None, ["forest"])
    broken = tmp_path / "broken.yaml"
    broken.write_text("families: [")
    with pytest.raises(ConfigError, match="cannot read training config"):
        load_config(broken, None, None)


def test_cap_rows_is_seeded() -> None:
    frame = pd.DataFrame({"x": range(100)})
    assert cap_rows(frame, None, 1) is frame
    assert cap_rows(frame, 10, 1).equals(cap_rows(frame, 10, 1))
    assert len(cap_rows(frame, 10, 1)) == 10
