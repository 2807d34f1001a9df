"""The Optuna searcher of every family, safe to restore (written for ray 2.60).

A restored experiment (`Tuner.restore` after the driver died) resumes the trials its saved state
lists as unfinished, but the searcher's saved state can predate the newest of them: Tune writes
the two files one after the other, and a driver killed in between leaves a trial the Optuna study
never asked for. Stock `OptunaSearch` then fails the whole restored run on that trial's first
result (`KeyError` in `on_trial_result`; seen in CI). Here such a trial runs and is recorded by
Tune as any other; only the study does not learn from it. The other way round (the searcher's
state newer than the experiment's: Tune syncs the files to S3 one by one), the restored
concurrency limiter holds a "live" trial the experiment never had, and with one trial at a time
no trial ever starts again (a resumed run hung in CI). `ResumableLimiter` forgets the old
process's live trials on restore: Tune resumes the unfinished ones from its own state.
"""

from __future__ import annotations

import logging
from typing import Any

from ray.tune.search import ConcurrencyLimiter
from ray.tune.search.optuna import OptunaSearch

log = logging.getLogger(__name__)


class ResumableOptunaSearch(OptunaSearch):
    """OptunaSearch that lets a restored experiment finish a trial its study never saw."""

    def _unknown(self, trial_id: str) -> bool:
        return trial_id not in self._ot_trials

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        if self._unknown(trial_id):
            return
        super().on_trial_result(trial_id, result)

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        if self._unknown(trial_id):
            log.warning("trial %s predates the restored Optuna study: not told to it", trial_id)
            self._completed_trials.add(trial_id)
            return
        super().on_trial_complete(trial_id, result=result, error=error)


class ResumableLimiter(ConcurrencyLimiter):
    """ConcurrencyLimiter whose restored state holds no live trial of the dead process."""

    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)
        self.live_trials = set()
        self.num_unfinished_live_trials = 0

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        if trial_id not in self.live_trials:  # resumed from the experiment state: not ours
            self.searcher.on_trial_complete(trial_id, result=result, error=error)
            return
        super().on_trial_complete(trial_id, result=result, error=error)


def searcher(space: Any, metric: str, seed: int) -> ResumableLimiter:
    """A family's search: Optuna (define-by-run `space`), one trial at a time."""
    return ResumableLimiter(
        ResumableOptunaSearch(space=space, metric=metric, mode="min", seed=seed), max_concurrent=1
    )
