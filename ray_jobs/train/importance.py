"""Feature importance of a family's best model, logged with its run: permutation importance on
raw features (what a user can change) and the estimator's own gain importance where it has one."""

from __future__ import annotations

import os
from typing import Any

import pandas as pd
from joblib import parallel_config
from sklearn.inspection import permutation_importance

from features.schema import FEATURE_NAMES, TARGET

IMPORTANCE_ROWS = 2_000
IMPORTANCE_FEATURES = tuple(n for n in FEATURE_NAMES if n != "employee_id")
# Threads, not processes: a process would start and import for seconds; the models' predict
# (libsvm, LightGBM, the distance kernels) releases the GIL. The scores do not depend on it:
# every column gets the same seed (tests/unit/test_importance.py).
IMPORTANCE_THREADS = min(4, os.cpu_count() or 1)


def permutation(model: Any, frame: pd.DataFrame, seed: int) -> dict[str, float]:
    """Permutation importance on raw features (validation rows), as RMSE increase."""
    sample = frame
    if len(frame) > IMPORTANCE_ROWS:  # as tuning.cap_rows: a seeded sample in row order
        sample = frame.sample(n=IMPORTANCE_ROWS, random_state=seed).sort_index()
    with parallel_config(backend="threading"):
        result = permutation_importance(
            model,
            sample[list(FEATURE_NAMES)],
            sample[TARGET].to_numpy(),
            n_repeats=3,
            random_state=seed,
            scoring="neg_root_mean_squared_error",
            n_jobs=IMPORTANCE_THREADS,
        )
    names = list(FEATURE_NAMES)
    return {name: float(result.importances_mean[names.index(name)]) for name in IMPORTANCE_FEATURES}


def native(model: Any) -> dict[str, float]:
    """Gain importance for models that have one (LightGBM), over preprocessed features."""
    estimator = model.named_steps["model"]
    booster = getattr(estimator, "booster_", None)
    if booster is None:
        return {}
    gains = booster.feature_importance(importance_type="gain")
    return {str(n): float(g) for n, g in zip(booster.feature_name(), gains, strict=True)}
