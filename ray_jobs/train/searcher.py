"""The Optuna searcher of every family, warm-started from an earlier attempt's trials (ray 2.60).

A killed training driver is not resumed with `Tuner.restore`: Tune writes the experiment state
and the searcher state to S3 one after the other, and a driver killed in between leaves the two
disagreeing. Seen in CI both ways: a resumed trial the restored study never asked for (a
`KeyError` in `OptunaSearch`) and a phantom live trial in the restored concurrency limiter (a run
stuck for good at `max_concurrent_trials=1`). Instead each attempt is a fresh experiment whose
study is first told the trials earlier attempts finished: those trials are read from the
experiment state alone, and nothing the dead driver half-wrote is trusted.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from ray.tune.search.optuna import OptunaSearch

from ray_jobs.train.progress import TRIAL_ERROR

log = logging.getLogger(__name__)

# (params, value of the searched metric) of a trial an earlier attempt finished
Evaluated = tuple[dict[str, Any], float]


class WarmStartedOptunaSearch(OptunaSearch):
    """OptunaSearch over a define-by-run space whose study starts with `evaluated` trials.

    Stock `OptunaSearch` takes `evaluated_rewards` only for a distribution dict, not a
    define-by-run space. Each point is enqueued, asked for (so the space's own `suggest` calls
    record its distributions) and told its value, as if the study had run it.
    """

    def __init__(self, *args: Any, evaluated: Sequence[Evaluated] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for params, value in evaluated:
            self._ot_study.enqueue_trial(params)
            trial = self._ot_study.ask()
            self._suggest_from_define_by_run_func(self._space, trial)
            self._ot_study.tell(trial, value)
        if evaluated:
            log.info("Optuna study warm-started with %d finished trials", len(evaluated))

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        # A trial that reported its own error failed: Optuna must not count it as pruned.
        if result and TRIAL_ERROR in result:
            result, error = None, True
        super().on_trial_complete(trial_id, result, error=error)
