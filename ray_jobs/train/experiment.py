"""A family's Tune experiment: the trainable, the Tuner, and what earlier attempts finished.

Each attempt of a run is an experiment of its own on the Tune storage (S3); see
`ray_jobs.train.searcher` for why a killed attempt is not resumed with `Tuner.restore`.
"""

from __future__ import annotations

import functools
import itertools
import logging
import threading
from typing import Any

import pandas as pd

from features.evaluation import REGRESSION_METRICS
from features.models import suggest
from ray_jobs.train.progress import TRIAL_ERROR, finished
from ray_jobs.train.trial_fit import trial_metrics
from ray_jobs.train.trials import trial_record

log = logging.getLogger(__name__)

TRIAL_RETRIES = 2  # per trial: a lost node or a killed trial process

# Tune keeps trainables and with_parameters data in process-wide registries that are not safe to
# write from several threads at once.
_REGISTRY_LOCK = threading.Lock()


def trainable(
    config: dict[str, Any],
    family: str,
    seed: int,
    train: pd.DataFrame,
    validation: pd.DataFrame,
) -> None:
    """One trial: fit on train, report validation metrics to Tune (`trial_fit`).

    An error of the trial's own (a parameter the model refuses, a fit that breaks) is reported
    as the trial's result instead of raised: Tune retries raised errors (`TRIAL_RETRIES`, meant
    for a lost node or process), and the same parameters fail the same way every time.
    """
    from ray import tune

    try:
        metrics = trial_metrics(family, config, seed, train, validation)
    except Exception as error:  # noqa: BLE001  (reported, not retried)
        log.warning("%s trial failed: %s: %s", family, type(error).__name__, error)
        # Every metric is there (NaN): Tune checks a result names the searched one.
        nan = {f"val_{k}": float("nan") for k in REGRESSION_METRICS}
        tune.report({**nan, TRIAL_ERROR: f"{type(error).__name__}: {error}"})
        return
    tune.report({f"val_{k}": v for k, v in metrics.items()})


def family_tuner(
    family: str,
    family_config: dict[str, Any],
    settings: dict[str, Any],
    train: pd.DataFrame,
    validation: pd.DataFrame,
) -> tuple[Any, list[dict[str, Any]]]:
    """The family's Tuner (None when nothing is left to run), and the trials earlier attempts
    of the same run finished.

    With `settings["resume"]`, the experiments earlier attempts of the same run name left on
    the Tune storage (killed or failed attempts of the same submission) are read: their finished
    trials count, the new attempt's Optuna study starts knowing them, and only the rest of the
    budget runs, as an experiment of its own (see `ray_jobs.train.searcher`).
    """
    from ray import tune

    from ray_jobs.train.searcher import WarmStartedOptunaSearch
    from ray_jobs.train.tune_hooks import AbortStopper, ProgressRelay

    seed = int(settings["seed"])
    metric = settings["metric"]
    experiment, restored = _earlier_attempts(family, settings)
    budget = int(family_config["num_samples"])
    restored = restored[:budget]
    if restored:
        log.info(
            "%s: resuming %s with %d finished trials", family, experiment, len(restored)
        )  # fmt: skip
    if len(restored) == budget:
        return None, restored
    # Registered under a name of its own: Tune keys function trainables (and their
    # with_parameters data) by name, cluster-wide; three Tuners at once must not share one.
    name = "trainable_" + "".join(ch if ch.isalnum() else "_" for ch in experiment)
    with _REGISTRY_LOCK:
        runnable = tune.with_resources(
            tune.with_parameters(
                trainable, family=family, seed=seed, train=train, validation=validation
            ),
            {"cpu": float(settings["cpus_per_trial"])},
        )
        tune.register_trainable(name, runnable)
    # A define-by-run space must be picklable: a partial of a top-level function, not a closure.
    searcher = WarmStartedOptunaSearch(
        space=functools.partial(suggest, space=family_config["space"]),
        metric=metric,
        mode="min",
        seed=seed,
        evaluated=[(t["params"], t["metrics"][metric]) for t in restored],
    )
    tuner = tune.Tuner(
        name,
        tune_config=tune.TuneConfig(
            search_alg=searcher,
            num_samples=budget - len(restored),
            # One trial at a time per family keeps each study sequential (and reproducible);
            # the families themselves run side by side.
            max_concurrent_trials=1,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=experiment,
            storage_path=settings["storage_path"],
            storage_filesystem=settings["storage_filesystem"],
            # A trial whose node (or process) dies starts again on another node.
            failure_config=tune.FailureConfig(max_failures=TRIAL_RETRIES),
            # Tune's status tables, three Tuners at once, cost CPU the trials need (and drown
            # the job log); one line per finished trial says as much.
            verbose=0,
            stop=AbortStopper(settings["run_name"]),
            callbacks=[ProgressRelay(settings["run_name"], family)],
        ),
    )
    return tuner, restored


def _earlier_attempts(family: str, settings: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """This attempt's experiment name, and the trials earlier attempts' experiments finished.

    Attempt 1 is `<run>-<family>`, attempt n `<run>-<family>-attempt<n>`. An attempt killed
    before Tune saved any state left nothing to restore: its name is taken again.
    """
    from ray import tune

    base = f"{settings['run_name']}-{family}"
    if not settings.get("resume"):
        return base, []
    filesystem = settings["storage_filesystem"]
    restored: list[dict[str, Any]] = []
    for attempt in itertools.count(1):
        experiment = base if attempt == 1 else f"{base}-attempt{attempt}"
        path = f"{settings['storage_path'].rstrip('/')}/{experiment}"
        if not tune.Tuner.can_restore(path, storage_filesystem=filesystem):
            return experiment, restored
        # Finished means TERMINATED: a trial snapshotted between its report and its end has
        # the metric too, and runs again (a trial is one fit, with nothing to go on from).
        analysis = tune.ExperimentAnalysis(path, storage_filesystem=filesystem)
        restored += [
            trial_record(t.config, t.last_result)
            for t in analysis.trials
            if t.status == "TERMINATED" and finished(t.last_result, settings["metric"])
        ]
    raise AssertionError("unreachable")
