"""Batch prediction pieces that need no services: the adaptive wait, the micro-batcher and
per-request errors."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from ray_jobs.core.errors import InvalidInput
from serve_app.batch_wait import QUIET_GAP_S, AdaptiveWait
from serve_app.micro_batch import MicroBatcher
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


class Doubler:
    """A batch call that records each batch it gets."""

    def __init__(self, fail: bool = False) -> None:
        self.batches: list[list[int]] = []
        self.fail = fail

    def __call__(self, items: list[int]) -> list[int]:
        self.batches.append(items)
        if self.fail:
            raise RuntimeError("model gone")
        return [2 * i for i in items]


def test_concurrent_requests_share_one_batch_call() -> None:
    run, seen = Doubler(), []

    async def main() -> list[int]:
        batcher = MicroBatcher(run, max_size=64, wait_s=0.005, on_batch=lambda n, w: seen.append(n))
        return list(await asyncio.gather(*(batcher.submit(i) for i in range(10))))

    assert asyncio.run(main()) == [2 * i for i in range(10)]
    assert run.batches == [list(range(10))] and seen == [10]


def test_a_full_batch_goes_at_once_and_the_rest_follows() -> None:
    run = Doubler()

    async def main() -> list[int]:
        # A wait far longer than the test: only a full batch can make the first call.
        batcher = MicroBatcher(run, max_size=4, wait_s=60)
        batcher.wait_s = 60
        first = [asyncio.ensure_future(batcher.submit(i)) for i in range(4)]
        done, _ = await asyncio.wait(first, timeout=5)
        assert len(done) == 4
        batcher.wait_s = 0.001
        return [f.result() for f in first] + [await batcher.submit(9)]

    assert asyncio.run(main()) == [0, 2, 4, 6, 18]
    assert run.batches == [[0, 1, 2, 3], [9]]


def test_a_failed_batch_fails_each_waiter_and_the_batcher_goes_on() -> None:
    run = Doubler(fail=True)

    async def main() -> list[Any]:
        batcher = MicroBatcher(run, max_size=8, wait_s=0.005)
        failed = await asyncio.gather(
            *(batcher.submit(i) for i in range(3)), return_exceptions=True
        )
        run.fail = False
        return [*failed, await batcher.submit(5)]

    *failed, after = asyncio.run(main())
    assert [str(e) for e in failed] == ["model gone"] * 3 and after == 10


def test_a_cancelled_request_is_not_predicted_and_breaks_nothing() -> None:
    run = Doubler()

    async def main() -> int:
        batcher = MicroBatcher(run, max_size=8, wait_s=0.02)
        batcher.wait_s = 0.02
        gone = asyncio.ensure_future(batcher.submit(1))
        kept = asyncio.ensure_future(batcher.submit(2))
        await asyncio.sleep(0)  # both queued
        gone.cancel()
        with pytest.raises(asyncio.CancelledError):
            await gone
        return await kept

    assert asyncio.run(main()) == 4
    assert run.batches == [[2]]
