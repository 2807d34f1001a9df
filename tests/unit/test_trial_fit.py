"""A trial fits the preprocessing once per process and still scores exactly as a whole Pipeline."""

from __future__ import annotations

import pandas as pd
import pytest

from features.evaluation import regression_metrics
from features.models import FAMILIES, build_model
from features.schema import FEATURE_NAMES, RAW_TO_NAME, TARGET
from features.synthetic import generate
from features.validation import validate
from ray_jobs.train import trial_fit

PARAMS = {
    "lightgbm": {"n_estimators": 40, "learning_rate": 0.1, "num_leaves": 15},
    "knn": {"n_neighbors": 7, "weights": "distance", "p": 1},
    "svm": {"C": 3.0, "epsilon": 0.02, "gamma": 0.1},
}


def _splits(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    raw = generate(900, seed).rename(columns=RAW_TO_NAME)
    data = validate(raw.astype(object), require_target=False).clean.dropna(subset=[TARGET])
    data = data.reset_index(drop=True)
    return data.iloc[:700].reset_index(drop=True), data.iloc[700:].reset_index(drop=True)


def _whole_pipeline(family: str, train: pd.DataFrame, validation: pd.DataFrame) -> dict[str, float]:
    model = build_model(family, PARAMS[family], 42)
    model.fit(train[list(FEATURE_NAMES)], train[TARGET].to_numpy())
    predicted = model.predict(validation[list(FEATURE_NAMES)])
    return regression_metrics(validation[TARGET].to_numpy(), predicted)


@pytest.mark.parametrize("family", FAMILIES)
def test_trials_score_as_a_whole_pipeline_fit_with_the_preprocessing_fitted_once(
    family: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    train, validation = _splits(5)
    fits = []
    original = trial_fit.build_preprocessor
    monkeypatch.setattr(
        trial_fit, "build_preprocessor", lambda **kw: fits.append(kw) or original(**kw)
    )
    monkeypatch.setattr(trial_fit, "_last", [])
    expected = _whole_pipeline(family, train, validation)
    # A new copy of the same rows (as Tune hands each trial): still the cached preprocessing.
    first = trial_fit.trial_metrics(family, PARAMS[family], 42, train, validation)
    second = trial_fit.trial_metrics(family, PARAMS[family], 42, train.copy(), validation.copy())
    assert first == second == expected
    assert fits == [{"random_state": 42}]


def test_other_rows_or_another_seed_fit_the_preprocessing_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(trial_fit, "_last", [])
    train, validation = _splits(5)
    changed = train.copy()
    changed.loc[3, "mental_fatigue_score"] = 9.9
    keys = {
        trial_fit.prepared(train, validation, 42).key,
        trial_fit.prepared(changed, validation, 42).key,
        trial_fit.prepared(train, validation, 43).key,
    }
    assert len(keys) == 3
    after = trial_fit.trial_metrics("knn", PARAMS["knn"], 42, changed, validation)
    assert after == _whole_pipeline("knn", changed, validation)
