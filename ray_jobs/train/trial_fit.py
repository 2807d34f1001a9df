"""A trial's fit and validation score, with the preprocessing fitted once per trial process.

The preprocessing (derive, encode, MICE, scale) has no hyperparameter of its own: every trial
of a family fits it on the same rows with the same seed and gets the same result. Tune reuses a
family's trial actor for all its trials (`reuse_actors=True`), so the actor fits it for the
first trial and later trials fit only their estimator, on the very frames a whole Pipeline fit
would hand it: the scores are the same to the last bit (tests/unit/test_trial_fit.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from features.evaluation import regression_metrics
from features.models import build_estimator
from features.preprocessing import build_preprocessor
from features.schema import FEATURE_NAMES, TARGET


@dataclass(frozen=True)
class Prepared:
    """Preprocessed train and validation features for one (rows, seed)."""

    key: tuple[int, int, int]
    train: pd.DataFrame
    validation: pd.DataFrame


_last: list[Prepared] = []  # this process's latest; one family per trial actor


def _fingerprint(frame: pd.DataFrame) -> int:
    return int(pd.util.hash_pandas_object(frame, index=True).sum())


def prepared(train: pd.DataFrame, validation: pd.DataFrame, seed: int) -> Prepared:
    """The preprocessed frames, from this process's cache when the rows and seed match."""
    key = (seed, _fingerprint(train), _fingerprint(validation))
    if _last and _last[0].key == key:
        return _last[0]
    preprocessor = build_preprocessor(random_state=seed)
    # As Pipeline.fit and Pipeline.predict do: fit_transform on train (IterativeImputer's
    # fit_transform is not fit + transform), transform on validation.
    features = preprocessor.fit_transform(train[list(FEATURE_NAMES)], train[TARGET].to_numpy())
    result = Prepared(key, features, preprocessor.transform(validation[list(FEATURE_NAMES)]))
    _last[:] = [result]
    return result


def trial_metrics(
    family: str,
    params: dict[str, Any],
    seed: int,
    train: pd.DataFrame,
    validation: pd.DataFrame,
) -> dict[str, float]:
    """Validation metrics of the family's model with these params, trained on train."""
    frames = prepared(train, validation, seed)
    estimator = build_estimator(family, params, seed)
    estimator.fit(frames.train, train[TARGET].to_numpy())
    predicted = estimator.predict(frames.validation)
    return regression_metrics(validation[TARGET].to_numpy(), predicted)
