"""What a family's Tuner is told while it runs: progress per finished trial (and the hook that
logs it to MLflow), and the job-wide abort switch that stops every family once one fails.

Tune pickles its run config (callbacks and stopper included) into the experiment state, and a
restored experiment runs with the unpickled copies. So what Tune holds are keys (a run name, a
family) into this process's live objects: a restarted job's Tuner reports to the new job's
progress and abort switch, not to copies of the killed job's.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)

TRIAL_ERROR = "trial_error"  # the result key of a trial that failed by itself (not its node)


def finished(result: dict[str, Any] | None, metric: str) -> bool:
    """Whether a trial's result holds a real value of the searched metric."""
    return bool(result) and metric in result and TRIAL_ERROR not in result


# (index, params, validation metrics) of a finished trial
TrialHook = Callable[[int, dict[str, Any], dict[str, float]], None]

# Abort switches of running training jobs by run name, and the live progress of each family.
_ABORTS: dict[str, threading.Event] = {}
_PROGRESS: dict[tuple[str, str], TrialProgress] = {}


class TrialProgress:
    """Logs each finished trial with the family's best so far and hands it to `on_trial`.

    An error in `on_trial` (MLflow down, say) is kept rather than raised into Tune, which would
    log it per trial and carry on: it stops every family of the job, and `tune_family` raises it
    once the Tuner has ended.
    """

    def __init__(
        self,
        family: str,
        total: int,
        metric: str,
        run_name: str,
        on_trial: TrialHook | None,
        done: int = 0,
    ) -> None:
        self.family, self.total, self.metric, self.run_name = family, total, metric, run_name
        self.on_trial = on_trial
        self.done = done  # trials finished before this process (a restored experiment)
        self.best = float("inf")
        self.error: Exception | None = None

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self.done += 1
        result = trial.last_result or {}
        if TRIAL_ERROR in result:
            log.warning(
                "%s trial %d/%d failed: %s", self.family, self.done, self.total, result[TRIAL_ERROR]
            )  # fmt: skip
            return
        value = float(result.get(self.metric, float("nan")))
        self.best = self.best if math.isnan(value) else min(self.best, value)
        log.info(
            "%s trial %d/%d: %s %.4f (best %.4f)",
            self.family, self.done, self.total, self.metric, value, self.best,
        )  # fmt: skip
        if self.on_trial is None or self.error is not None or not finished(result, self.metric):
            return
        params = {k: plain(v) for k, v in trial.config.items()}
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


@contextmanager
def reporting(progress: TrialProgress) -> Iterator[Any]:
    """The relay (`tune_hooks.ProgressRelay`) for `progress`, live while the family's Tuner
    runs."""
    from ray_jobs.train.tune_hooks import ProgressRelay

    key = (progress.run_name, progress.family)
    _PROGRESS[key] = progress
    try:
        yield ProgressRelay(*key)
    finally:
        _PROGRESS.pop(key, None)


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


def live_progress(run_name: str, family: str) -> TrialProgress | None:
    """The family's progress while its Tuner runs in this process."""
    return _PROGRESS.get((run_name, family))


def aborted(run_name: str) -> bool:
    event = _ABORTS.get(run_name)
    return event is not None and event.is_set()


def _abort(run_name: str) -> None:
    event = _ABORTS.get(run_name)
    if event is not None:
        event.set()


def raise_if_aborted(run_name: str, family: str) -> None:
    """Raise Cancelled when another family of the job has failed."""
    if aborted(run_name):
        raise Cancelled(f"{family} stopped: another family of the job failed")


def plain(value: Any) -> Any:
    """numpy scalars to Python, so params serialise cleanly."""
    return value.item() if hasattr(value, "item") else value
