"""What makes a killed training job resumable, without a cluster: the experiments' run name and
the callback Tune pickles into the experiment state."""

from __future__ import annotations

import pickle
from types import SimpleNamespace
from typing import Any

from ray_jobs.train.config import DEFAULT_CONFIG, load_config
from ray_jobs.train.job import tune_run_name
from ray_jobs.train.progress import TrialProgress, reporting


def test_a_resume_key_names_the_same_experiments_for_the_same_data_and_config() -> None:
    config = load_config(DEFAULT_CONFIG, 4, None)
    key = "airflow-burnout_pipeline-train-manual__2026-12-02T10:00:00+00:00"
    first = tune_run_name("ds-1", config, key)
    assert first == tune_run_name("ds-1", config, key)  # the retry finds the killed attempt's
    assert first.startswith("ds-1-") and ":" not in first and "+" not in first  # S3-key safe
    assert tune_run_name("ds-2", config, key) != first  # other data: a fresh experiment
    assert tune_run_name("ds-1", load_config(DEFAULT_CONFIG, 5, None), key) != first
    assert tune_run_name("ds-1", config, "other") != first


def test_without_a_resume_key_every_run_is_new() -> None:
    config = load_config(DEFAULT_CONFIG, 4, None)
    assert tune_run_name("ds-1", config, None).startswith("ds-1-")
    assert tune_run_name("ds-1", config, None) != tune_run_name("ds-1", config, "k")


def test_the_callback_tune_restores_reports_to_this_process_progress() -> None:
    """Tune restores its callbacks by unpickling; the copy must reach the live progress (and its
    MLflow hook), not a stale copy of the killed driver's."""
    seen: list[tuple[int, dict[str, Any], dict[str, float]]] = []
    live = TrialProgress("knn", 8, "val_rmse", "run-a", lambda *a: seen.append(a), done=3)
    trial = SimpleNamespace(
        last_result={"val_rmse": 0.07, "val_r2": 0.9}, config={"n_neighbors": 5}, error_file=None
    )
    with reporting(live) as relay:
        restored = pickle.loads(pickle.dumps(relay))
        restored.on_trial_complete(0, [], trial)
    assert live.done == 4  # counted after the three restored trials
    assert seen == [(3, {"n_neighbors": 5}, {"val_rmse": 0.07, "val_r2": 0.9})]
    restored.on_trial_complete(0, [], trial)  # the Tuner outlived its job: nothing to report to
    assert live.done == 4


def test_a_warm_started_study_knows_the_earlier_attempts_trials() -> None:
    """The new attempt's study starts with the killed attempt's finished trials as complete
    trials of its own (params and values), and goes on suggesting inside the space."""
    import functools

    from features.models import suggest
    from ray_jobs.train.searcher import WarmStartedOptunaSearch

    space = {
        "n_neighbors": {"type": "int", "low": 3, "high": 30},
        "weights": {"type": "categorical", "choices": ["uniform", "distance"]},
    }
    earlier = [
        ({"n_neighbors": 7, "weights": "distance"}, 0.2),
        ({"n_neighbors": 25, "weights": "uniform"}, 0.1),
    ]
    searcher = WarmStartedOptunaSearch(
        space=functools.partial(suggest, space=space),
        metric="val_rmse",
        mode="min",
        seed=1,
        evaluated=earlier,
    )
    study = searcher._ot_study
    assert [(t.params, t.value) for t in study.trials] == earlier
    assert study.best_value == 0.1
    config = searcher.suggest("new")
    assert config is not None and 3 <= config["n_neighbors"] <= 30
    searcher.on_trial_complete("new", {"val_rmse": 0.05, "training_iteration": 1})
    assert len(study.trials) == 3 and study.best_value == 0.05


def test_a_trial_that_reports_its_own_error_fails_without_a_retry() -> None:
    """A trial whose model refuses its parameters reports the error as its result (raising
    would make Tune retry it like a lost node, and fail the same way each time): Optuna counts
    it failed, the progress logs it without an MLflow run, and a family where every trial did
    so stops the job with that error."""
    import functools

    import optuna
    import pytest

    from features.models import suggest
    from ray_jobs.core.errors import TrainingFailed
    from ray_jobs.train.progress import TRIAL_ERROR
    from ray_jobs.train.searcher import WarmStartedOptunaSearch
    from ray_jobs.train.trials import raise_if_no_trial_finished

    space = {"n_neighbors": {"type": "int", "low": 3, "high": 30}}
    searcher = WarmStartedOptunaSearch(
        space=functools.partial(suggest, space=space), metric="val_rmse", mode="min", seed=1
    )
    searcher.suggest("bad")
    failed = {TRIAL_ERROR: "InvalidParameterError: epsilon must be >= 0", "training_iteration": 1}
    searcher.on_trial_complete("bad", failed)
    assert [t.state for t in searcher._ot_study.trials] == [optuna.trial.TrialState.FAIL]

    seen: list[Any] = []
    progress = TrialProgress("svm", 2, "val_rmse", "run-b", lambda *a: seen.append(a))
    progress.on_trial_complete(0, [], SimpleNamespace(last_result=failed, config={}))
    assert progress.done == 1 and seen == [] and progress.best == float("inf")

    results = [SimpleNamespace(metrics=failed, error=None)] * 2
    with pytest.raises(TrainingFailed, match="svm: all 2 trials failed; first error: Invalid"):
        raise_if_no_trial_finished("svm", results, "val_rmse")
