"""Permutation importance on threads gives exactly the scores of the one-thread computation."""

from __future__ import annotations

import pytest
from sklearn.inspection import permutation_importance

from features.models import build_model
from features.schema import FEATURE_NAMES, TARGET
from ray_jobs.train import importance
from tests.unit.test_trial_fit import PARAMS, _splits


@pytest.mark.parametrize("family", ["lightgbm", "svm"])
def test_threaded_permutation_importance_equals_the_serial_one(
    family: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    train, validation = _splits(9)
    model = build_model(family, PARAMS[family], 42)
    model.fit(train[list(FEATURE_NAMES)], train[TARGET].to_numpy())
    monkeypatch.setattr(importance, "IMPORTANCE_THREADS", 3)
    threaded = importance.permutation(model, validation, seed=42)
    serial = permutation_importance(
        model,
        validation[list(FEATURE_NAMES)],
        validation[TARGET].to_numpy(),
        n_repeats=3,
        random_state=42,
        scoring="neg_root_mean_squared_error",
        n_jobs=1,
    )
    names = list(FEATURE_NAMES)
    expected = {n: float(serial.importances_mean[names.index(n)]) for n in threaded}
    assert threaded == expected
    assert set(threaded) == set(importance.IMPORTANCE_FEATURES)
    assert max(threaded.values()) > 0  # fatigue and allocation drive the burn rate
