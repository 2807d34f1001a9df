"""Ray Tune with an Optuna searcher for one model family.

Each family gets its own Tuner, study, budget and space. The training driver runs the three
Tuners side by side in threads of its own process (each trial is a Ray actor taking
`cpus_per_trial` CPUs): a Ray task per Tuner would start and import a worker process per family,
CPU that the trials need on a small machine.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.evaluation import card_metrics, complete_rows, evaluate
from features.explain import attach_background
from features.models import build_model
from features.schema import FEATURE_NAMES, TARGET
from ray_jobs.train.experiment import family_tuner
from ray_jobs.train.importance import native, permutation
from ray_jobs.train.progress import (
    TrialHook,
    TrialProgress,
    raise_if_aborted,
    reporting,
)
from ray_jobs.train.trials import finished_trials, raise_if_no_trial_finished

log = logging.getLogger(__name__)


@dataclass
class FamilyResult:
    """What tuning one family produced: trials, best params, refitted model, test metrics."""

    family: str
    best_params: dict[str, Any]
    best_validation: dict[str, float]
    trials: list[dict[str, Any]]
    model: Any
    test_metrics: dict[str, Any]
    test_predictions: np.ndarray
    importance: dict[str, float]
    train_rows: int
    seconds: float
    native_importance: dict[str, float] = field(default_factory=dict)
    trials_restored: int = 0  # finished by an earlier attempt of the same run (restored)
    card_metrics: dict[str, Any] = field(default_factory=dict)  # slices, calibration (model card)


def cap_rows(frame: pd.DataFrame, max_rows: int | None, seed: int) -> pd.DataFrame:
    """A seeded sample of at most max_rows rows (all rows when max_rows is None)."""
    if max_rows is None or len(frame) <= max_rows:
        return frame
    return frame.sample(n=max_rows, random_state=seed).sort_index()


def tune_family(
    family: str,
    family_config: dict[str, Any],
    settings: dict[str, Any],
    train: pd.DataFrame,
    validation: pd.DataFrame,
    test: pd.DataFrame,
    on_trial: TrialHook | None = None,
) -> FamilyResult:
    """Tune, refit the best params on train + validation, report on test once.

    `on_trial(index, params, validation_metrics)` is called as each trial finishes, in this
    thread (Tune's controller loop runs in the caller of `Tuner.fit`).
    """
    started = time.monotonic()
    seed = int(settings["seed"])
    train_rows = cap_rows(train, family_config.get("max_train_rows"), seed)
    tuner, restored = family_tuner(family, family_config, settings, train_rows, validation)
    progress = TrialProgress(
        family,
        int(family_config["num_samples"]),
        settings["metric"],
        settings["run_name"],
        on_trial,
        done=len(restored),
    )
    if on_trial is not None:  # the earlier attempt's trials, logged again under this run
        for index, trial in enumerate(restored):
            on_trial(index, trial["params"], trial["metrics"])
    metric = settings["metric"]
    trials = list(restored)
    if tuner is not None:
        with reporting(progress):
            results = tuner.fit()
        if progress.error is not None:
            raise progress.error
        raise_if_aborted(settings["run_name"], family)
        raise_if_no_trial_finished(family, results, metric)
        trials += finished_trials(results, metric)
    best = min(trials, key=lambda t: t["metrics"][metric])
    best_params = best["params"]
    final_train = cap_rows(
        pd.concat([train, validation], ignore_index=True), family_config.get("max_train_rows"), seed
    )
    model = build_model(family, best_params, seed)
    model.fit(final_train[list(FEATURE_NAMES)], final_train[TARGET].to_numpy())
    attach_background(model, final_train[list(FEATURE_NAMES)], seed)
    predicted = model.predict(test[list(FEATURE_NAMES)])
    y_test = test[TARGET].to_numpy()
    test_metrics = evaluate(y_test, predicted, complete_rows(test))

    return FamilyResult(
        family=family,
        best_params=best_params,
        best_validation=dict(best["metrics"]),
        trials=trials,
        model=model,
        test_metrics=test_metrics,
        test_predictions=np.asarray(predicted),
        importance=permutation(model, validation, seed),
        native_importance=native(model),
        train_rows=len(final_train),
        seconds=time.monotonic() - started,
        trials_restored=len(restored),
        card_metrics=card_metrics(test, y_test, predicted),
    )
