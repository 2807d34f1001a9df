"""What Tune itself holds for a family's Tuner: the stopper and the callback.

Tune pickles both into the experiment state, and a restored experiment runs with the unpickled
copies; so they hold keys (a run name, a family) into this process's live progress and abort
switch (`ray_jobs.train.progress`). Kept apart from that module because subclassing Tune's
classes imports Ray, which a job may only do after `connect()` has set Ray's environment.
"""

from __future__ import annotations

from typing import Any

from ray.tune import Callback
from ray.tune.stopper import Stopper

from ray_jobs.train.progress import aborted, live_progress


class AbortStopper(Stopper):
    """Ends a whole Tuner once its job's abort switch is set (another family failed)."""

    def __init__(self, run_name: str) -> None:
        self.run_name = run_name

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return self.stop_all()

    def stop_all(self) -> bool:
        return aborted(self.run_name)


class ProgressRelay(Callback):
    """The callback Tune keeps: forwards to the family's live TrialProgress in this process."""

    def __init__(self, run_name: str, family: str) -> None:
        self.key = (run_name, family)

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        live = live_progress(*self.key)
        if live is not None:
            live.on_trial_complete(iteration, trials, trial, **info)

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        live = live_progress(*self.key)
        if live is not None:
            live.on_trial_error(iteration, trials, trial, **info)
