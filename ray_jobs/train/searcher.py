"""The Optuna searcher of every family, safe to restore (written for ray 2.60).

A restored experiment (`Tuner.restore` after the driver died) resumes the trials its saved state
lists as unfinished, but the searcher's saved state can predate the newest of them: Tune writes
the two files one after the other, and a driver killed in between leaves a trial the Optuna study
never asked for. Stock `OptunaSearch` then fails the whole restored run on that trial's first
result (`KeyError` in `on_trial_result`; seen in CI). Here such a trial runs and is recorded by
Tune as any other; only the study does not learn from it.
"""

from __future__ import annotations

import logging
from typing import Any

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
