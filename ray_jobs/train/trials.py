"""What a Tuner's trials say: the finished ones' params and validation metrics, and the error
that stops the job when none finished."""

from __future__ import annotations

from typing import Any

from ray_jobs.core.errors import TrainingFailed
from ray_jobs.train.progress import TRIAL_ERROR, finished, plain


def finished_trials(results: Any, metric: str) -> list[dict[str, Any]]:
    """Params and validation metrics of the trials in `results` that reported `metric`."""
    return [trial_record(r.config, r.metrics) for r in results if finished(r.metrics, metric)]


def trial_record(config: dict[str, Any], metrics: dict[str, Any]) -> dict[str, Any]:
    return {
        "params": {k: plain(v) for k, v in config.items()},
        "metrics": {k: float(v) for k, v in metrics.items() if k.startswith("val_")},
    }


def raise_if_no_trial_finished(family: str, results: Any, metric: str) -> None:
    """A family whose every trial failed stops the job with the first trial's error."""
    if any(finished(r.metrics, metric) for r in results):
        return
    errors = [
        r.error if r.error is not None else (r.metrics or {}).get(TRIAL_ERROR) for r in results
    ]
    errors = [e for e in errors if e is not None]
    lines = [line for line in str(errors[0]).splitlines() if line.strip()] if errors else []
    cause = lines[-1] if lines else "no trial reported a result"
    raise TrainingFailed(f"{family}: all {len(results)} trials failed; first error: {cause}")
