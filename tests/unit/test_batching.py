"""Batch prediction pieces that need no services: the adaptive wait and per-request errors."""

from __future__ import annotations

from typing import Any

import numpy as np

from ray_jobs.core.errors import InvalidInput
from serve_app.batch_wait import QUIET_GAP_S, AdaptiveWait
from serve_app.predictor import LoadedModel, PredictionService

GOOD = {"gender": "Male", "company_type": "Service", "wfh_setup_available": "No", "designation": 2}


class MeanFatigue:
    """A stand-in estimator: predicts a tenth of the fatigue score (missing -> 0.5)."""

    calls = 0

    def predict(self, frame: Any) -> np.ndarray:
        MeanFatigue.calls += 1
        return frame["mental_fatigue_score"].fillna(5.0).to_numpy(dtype=float) / 10


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 0.01  # batches 10 ms apart: a load going on
        return self.now


def test_wait_is_short_alone_and_long_under_load() -> None:
    wait = AdaptiveWait(busy_s=0.005, clock=Clock())
    assert [wait.observe(1) for _ in range(3)][-1] == wait.idle_s < 0.005
    assert [wait.observe(20) for _ in range(2)][-1] == 0.005
    assert wait.observe(1) == 0.005  # one small batch amid a load: still the load's wait
    assert [wait.observe(1) for _ in range(10)][-1] == wait.idle_s


def test_a_lone_request_after_a_quiet_gap_does_not_wait_as_under_load() -> None:
    clock = Clock()
    wait = AdaptiveWait(busy_s=0.005, clock=clock)
    assert [wait.observe(30) for _ in range(20)][-1] == 0.005
    clock.now += QUIET_GAP_S  # the burst is over
    assert wait.observe(1) == wait.idle_s
    assert wait.observe(12) == 0.005  # and a new burst is seen at once


def test_one_bad_request_does_not_fail_the_batch() -> None:
    model = LoadedModel("m", "champion", "1", "run", MeanFatigue())
    service = PredictionService(lambda alias: model, "champion", max_records=100)
    MeanFatigue.calls = 0
    results = service.predict_many(
        [
            ([{**GOOD, "mental_fatigue_score": 8.0}], model),
            ([GOOD, {**GOOD, "designation": 9}], model),
            ([{**GOOD, "employee_id": "x", "mental_fatigue_score": 2.0}, GOOD], model),
        ]
    )
    assert MeanFatigue.calls == 1  # one predict for the whole batch
    first, bad, third = results
    assert isinstance(bad, InvalidInput)
    assert [e["field"] for e in bad.errors] == ["records[1].designation"]
    assert [p["burn_rate"] for p in first] == [0.8]  # type: ignore[union-attr]
    assert [p["employee_id"] for p in third] == ["x", None]  # type: ignore[union-attr]
    assert [p["burn_rate"] for p in third] == [0.2, 0.5]  # type: ignore[union-attr]
