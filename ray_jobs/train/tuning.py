"""Ray Tune with an Optuna searcher for one model family.

Each family gets its own Tuner, study, budget and space. The training driver runs the three
Tuners side by side in threads of its own process (each trial is a Ray actor taking
`cpus_per_trial` CPUs): a Ray task per Tuner would start and import a worker process per family,
CPU that the trials need on a small machine.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.evaluation import card_metrics, complete_rows, evaluate, regression_metrics
from features.explain import attach_background
from features.models import build_model, suggest
from features.schema import FEATURE_NAMES, TARGET
from ray_jobs.train.importance import native, permutation
from ray_jobs.train.progress import (
    AbortStopper,
    ProgressRelay,
    TrialHook,
    TrialProgress,
    plain,
    raise_if_aborted,
    reporting,
)
from ray_jobs.train.trials import finished_trials, raise_if_no_trial_finished, trial_record

log = logging.getLogger(__name__)


TRIAL_RETRIES = 2  # per trial: a lost node or a killed trial process

# Tune keeps trainables and with_parameters data in process-wide registries that are not safe to
# write from several threads at once.
_REGISTRY_LOCK = threading.Lock()


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
    tuner, restored = _tuner(family, family_config, settings, train_rows, validation)
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
    with reporting(progress):
        results = tuner.fit()
    if progress.error is not None:
        raise progress.error
    raise_if_aborted(settings["run_name"], family)
    metric = settings["metric"]
    raise_if_no_trial_finished(family, results, metric)
    best = results.get_best_result(metric=metric, mode="min")
    best_params = {k: plain(v) for k, v in best.config.items()}
    trials = finished_trials(results, metric)
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
        best_validation={k: float(v) for k, v in best.metrics.items() if k.startswith("val_")},
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


def _tuner(
    family: str,
    family_config: dict[str, Any],
    settings: dict[str, Any],
    train: pd.DataFrame,
    validation: pd.DataFrame,
) -> tuple[Any, list[dict[str, Any]]]:
    """The family's Tuner, and the trials an earlier attempt already finished.

    With `settings["resume"]`, an experiment of the same run name left on the Tune storage (a
    killed or failed attempt of the same submission) is restored: its finished trials count,
    the Optuna study goes on from where it was, and only the rest of the budget runs.
    """
    from ray import tune

    from ray_jobs.train.searcher import ResumableOptunaSearch

    seed = int(settings["seed"])
    # Registered under a name of its own: Tune keys function trainables (and their
    # with_parameters data) by name, cluster-wide; three Tuners at once must not share one.
    # The name depends only on the run name, so a restored experiment finds its trainable.
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
    experiment = f"{settings['run_name']}-{family}"
    path = f"{settings['storage_path'].rstrip('/')}/{experiment}"
    filesystem = settings["storage_filesystem"]
    if settings.get("resume") and tune.Tuner.can_restore(path, storage_filesystem=filesystem):
        # Trials the killed driver left running or errored start again from scratch (a trial
        # here is one fit: there is no checkpoint to go on from).
        tuner = tune.Tuner.restore(
            path, trainable=name, restart_errored=True, storage_filesystem=filesystem
        )
        # Finished means TERMINATED: a trial snapshotted between its report and its end has
        # the metric too, and runs again.
        analysis = tune.ExperimentAnalysis(path, storage_filesystem=filesystem)
        restored = [
            trial_record(t.config, t.last_result)
            for t in analysis.trials
            if t.status == "TERMINATED" and settings["metric"] in (t.last_result or {})
        ]
        log.info("%s: resuming %s with %d finished trials", family, path, len(restored))
        return tuner, restored
    # A define-by-run space must be picklable: a partial of a top-level function, not a closure.
    searcher = ResumableOptunaSearch(
        space=functools.partial(suggest, space=family_config["space"]),
        metric=settings["metric"],
        mode="min",
        seed=seed,
    )
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
            name=experiment,
            storage_path=settings["storage_path"],
            storage_filesystem=filesystem,
            # A trial whose node (or process) dies starts again on another node.
            failure_config=tune.FailureConfig(max_failures=TRIAL_RETRIES),
            # Tune's status tables, three Tuners at once, cost CPU the trials need (and drown
            # the job log); one line per finished trial says as much.
            verbose=0,
            stop=AbortStopper(settings["run_name"]),
            callbacks=[ProgressRelay(settings["run_name"], family)],
        ),
    )
    return tuner, []
