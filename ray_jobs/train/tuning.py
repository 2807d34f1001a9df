"""Ray Tune with an Optuna searcher for one model family.

Each family gets its own Tuner, study, budget and space. The training driver runs the three
Tuners side by side in threads of its own process (each trial is a Ray actor taking
`cpus_per_trial` CPUs): a Ray task per Tuner would start and import a worker process per family,
CPU that the trials need on a small machine.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from ray.tune import Callback
from ray.tune.stopper import Stopper
from sklearn.inspection import permutation_importance

from features.evaluation import complete_rows, evaluate, regression_metrics
from features.models import build_model, suggest
from features.schema import FEATURE_NAMES, TARGET
from ray_jobs.core.errors import TrainingFailed

log = logging.getLogger(__name__)

# (index, params, validation metrics) of a finished trial
TrialHook = Callable[[int, dict[str, Any], dict[str, float]], None]

IMPORTANCE_ROWS = 2_000
IMPORTANCE_FEATURES = tuple(n for n in FEATURE_NAMES if n != "employee_id")

# Tune keeps trainables and with_parameters data in process-wide registries that are not safe to
# write from several threads at once.
_REGISTRY_LOCK = threading.Lock()
# Abort switches of running training jobs by run name: Tune pickles its run config (and so the
# stopper), and an Event cannot be pickled.
_ABORTS: dict[str, threading.Event] = {}


class AbortStopper(Stopper):
    """Ends a whole Tuner once its job's abort switch is set (another family failed)."""

    def __init__(self, run_name: str) -> None:
        self.run_name = run_name

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return self.stop_all()

    def stop_all(self) -> bool:
        return _aborted(self.run_name)


class TrialProgress(Callback):
    """Logs each finished trial with the family's best so far and hands it to `on_trial`.

    An error in `on_trial` (MLflow down, say) is kept rather than raised into Tune, which would
    log it per trial and carry on: it stops every family of the job, and `tune_family` raises it
    once the Tuner has ended.
    """

    def __init__(
        self, family: str, total: int, metric: str, run_name: str, on_trial: TrialHook | None
    ) -> None:
        self.family, self.total, self.metric, self.run_name = family, total, metric, run_name
        self.on_trial = on_trial
        self.done = 0
        self.best = float("inf")
        self.error: Exception | None = None

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self.done += 1
        result = trial.last_result or {}
        value = float(result.get(self.metric, float("nan")))
        self.best = self.best if math.isnan(value) else min(self.best, value)
        log.info(
            "%s trial %d/%d: %s %.4f (best %.4f)",
            self.family, self.done, self.total, self.metric, value, self.best,
        )  # fmt: skip
        if self.on_trial is None or self.error is not None or self.metric not in result:
            return
        params = {k: _plain(v) for k, v in trial.config.items()}
        metrics = {k: float(v) for k, v in result.items() if k.startswith("val_")}
        try:
            self.on_trial(self.done - 1, params, metrics)
        except Exception as error:  # noqa: BLE001  (kept, raised by tune_family)
            self.error = error
            _abort(self.run_name)

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self.done += 1
        log.warning(
            "%s trial %d/%d failed: %s", self.family, self.done, self.total, trial.error_file
        )


class Cancelled(Exception):
    """A family stopped early because another family of the same job failed."""


@contextmanager
def abort_switch(run_name: str) -> Iterator[threading.Event]:
    """An event that, once set, stops every family tuning under run_name at its next result."""
    event = _ABORTS.setdefault(run_name, threading.Event())
    try:
        yield event
    finally:
        _ABORTS.pop(run_name, None)


def _aborted(run_name: str) -> bool:
    event = _ABORTS.get(run_name)
    return event is not None and event.is_set()


def _abort(run_name: str) -> None:
    event = _ABORTS.get(run_name)
    if event is not None:
        event.set()


def raise_if_aborted(run_name: str, family: str) -> None:
    """Raise Cancelled when another family of the job has failed."""
    if _aborted(run_name):
        raise Cancelled(f"{family} stopped: another family of the job failed")


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


def cap_rows(frame: pd.DataFrame, max_rows: int | None, seed: int) -> pd.DataFrame:
    """A seeded sample of at most max_rows rows (all rows when max_rows is None)."""
    if max_rows is None or len(frame) <= max_rows:
        return frame
    return frame.sample(n=max_rows, random_state=seed).sort_index()


def trainable(
    config: dict[str, Any],
    family: str,
    seed: int,
    train: pd.DataFrame,
    validation: pd.DataFrame,
) -> None:
    """One trial: fit on train, report validation metrics to Tune."""
    from ray import tune

    model = build_model(family, config, seed)
    model.fit(train[list(FEATURE_NAMES)], train[TARGET].to_numpy())
    predicted = model.predict(validation[list(FEATURE_NAMES)])
    metrics = regression_metrics(validation[TARGET].to_numpy(), predicted)
    tune.report({f"val_{k}": v for k, v in metrics.items()})


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
    progress = TrialProgress(
        family,
        int(family_config["num_samples"]),
        settings["metric"],
        settings["run_name"],
        on_trial,
    )
    results = _tune(family, family_config, settings, train_rows, validation, progress)
    if progress.error is not None:
        raise progress.error
    raise_if_aborted(settings["run_name"], family)
    metric = settings["metric"]
    _raise_if_no_trial_finished(family, results, metric)
    best = results.get_best_result(metric=metric, mode="min")
    best_params = {k: _plain(v) for k, v in best.config.items()}
    trials = [
        {
            "params": {k: _plain(v) for k, v in r.config.items()},
            "metrics": {k: float(v) for k, v in r.metrics.items() if k.startswith("val_")},
        }
        for r in results
        if r.metrics and metric in r.metrics
    ]
    final_train = cap_rows(
        pd.concat([train, validation], ignore_index=True), family_config.get("max_train_rows"), seed
    )
    model = build_model(family, best_params, seed)
    model.fit(final_train[list(FEATURE_NAMES)], final_train[TARGET].to_numpy())
    predicted = model.predict(test[list(FEATURE_NAMES)])
    test_metrics = evaluate(test[TARGET].to_numpy(), predicted, complete_rows(test))
    return FamilyResult(
        family=family,
        best_params=best_params,
        best_validation={k: float(v) for k, v in best.metrics.items() if k.startswith("val_")},
        trials=trials,
        model=model,
        test_metrics=test_metrics,
        test_predictions=np.asarray(predicted),
        importance=_permutation_importance(model, validation, seed),
        native_importance=_native_importance(model),
        train_rows=len(final_train),
        seconds=time.monotonic() - started,
    )


def _tune(
    family: str,
    family_config: dict[str, Any],
    settings: dict[str, Any],
    train: pd.DataFrame,
    validation: pd.DataFrame,
    progress: TrialProgress,
) -> Any:
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    seed = int(settings["seed"])
    # A define-by-run space must be picklable: a partial of a top-level function, not a closure.
    searcher = OptunaSearch(
        space=functools.partial(suggest, space=family_config["space"]),
        metric=settings["metric"],
        mode="min",
        seed=seed,
    )
    # Registered under a name of its own: Tune keys function trainables (and their
    # with_parameters data) by name, cluster-wide; three Tuners at once must not share one.
    name = "trainable_" + "".join(
        ch if ch.isalnum() else "_" for ch in f"{settings['run_name']}_{family}"
    )
    with _REGISTRY_LOCK:
        runnable = tune.with_resources(
            tune.with_parameters(
                trainable, family=family, seed=seed, train=train, validation=validation
            ),
            {"cpu": float(settings["cpus_per_trial"])},
        )
        tune.register_trainable(name, runnable)
    tuner = tune.Tuner(
        name,
        tune_config=tune.TuneConfig(
            search_alg=searcher,
            num_samples=int(family_config["num_samples"]),
            # One trial at a time per family keeps each study sequential (and reproducible);
            # the families themselves run side by side.
            max_concurrent_trials=1,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=f"{settings['run_name']}-{family}",
            storage_path=settings["storage_path"],
            # Tune's status tables, three Tuners at once, cost CPU the trials need (and drown
            # the job log); one line per finished trial says as much.
            verbose=0,
            stop=AbortStopper(settings["run_name"]),
            callbacks=[progress],
        ),
    )
    return tuner.fit()


def _raise_if_no_trial_finished(family: str, results: Any, metric: str) -> None:
    """A family whose every trial failed stops the job with the first trial's error."""
    if any(r.metrics and metric in r.metrics for r in results):
        return
    errors = [r.error for r in results if r.error is not None]
    lines = [line for line in str(errors[0]).splitlines() if line.strip()] if errors else []
    cause = lines[-1] if lines else "no trial reported a result"
    raise TrainingFailed(f"{family}: all {len(results)} trials failed; first error: {cause}")


def _permutation_importance(model: Any, frame: pd.DataFrame, seed: int) -> dict[str, float]:
    """Permutation importance on raw features (validation rows), as RMSE increase."""
    sample = cap_rows(frame, IMPORTANCE_ROWS, seed)
    result = permutation_importance(
        model,
        sample[list(FEATURE_NAMES)],
        sample[TARGET].to_numpy(),
        n_repeats=3,
        random_state=seed,
        scoring="neg_root_mean_squared_error",
        n_jobs=1,
    )
    names = list(FEATURE_NAMES)
    return {name: float(result.importances_mean[names.index(name)]) for name in IMPORTANCE_FEATURES}


def _native_importance(model: Any) -> dict[str, float]:
    """Gain importance for models that have one (LightGBM), over preprocessed features."""
    estimator = model.named_steps["model"]
    booster = getattr(estimator, "booster_", None)
    if booster is None:
        return {}
    gains = booster.feature_importance(importance_type="gain")
    return {str(n): float(g) for n, g in zip(booster.feature_name(), gains, strict=True)}


def _plain(value: Any) -> Any:
    """numpy scalars to Python, so params serialise cleanly."""
    return value.item() if hasattr(value, "item") else value
