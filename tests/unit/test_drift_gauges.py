"""The replica's drift-gauge follower: exports the last summary read, keeps it through a failed
read (S3 down), and exports it again between reads (Ray's metrics agent drops a gauge that is
not set for two export intervals)."""

from __future__ import annotations

import itertools
import time
from typing import Any

from serve_app.drift_gauges import follow


class Recorder:
    """Stands in for the Ray gauges (they need a Serve replica): the summaries exported."""

    def __init__(self) -> None:
        self.exported: list[dict[str, Any]] = []

    def update(self, summary: dict[str, Any]) -> None:
        self.exported.append(summary)


def wait_until(condition: Any, timeout_s: float = 5) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_a_failed_read_keeps_the_last_summary_until_a_new_one() -> None:
    old, new = {"share_drifted": 0.1}, {"share_drifted": 0.9}
    answers: list[Any] = [None, old, OSError("S3 down"), OSError("S3 down"), new]

    def read() -> dict[str, Any] | None:
        answer = answers.pop(0) if answers else new
        if isinstance(answer, Exception):
            raise answer
        return answer

    gauges = Recorder()
    stop = follow(read, gauges, every_s=0.01, refresh_s=0.01)  # type: ignore[arg-type]
    wait_until(lambda: not answers and gauges.exported[-1] == new)
    stop.set()
    assert [k["share_drifted"] for k, _ in itertools.groupby(gauges.exported)] == [0.1, 0.9]
    assert gauges.exported.count(old) == 3  # read, then through both failed reads


def test_the_last_summary_is_exported_again_between_reads() -> None:
    reads: list[float] = []

    def read() -> dict[str, Any]:
        reads.append(time.monotonic())
        return {"share_drifted": 0.5}

    gauges = Recorder()
    stop = follow(read, gauges, every_s=3600, refresh_s=0.01)  # type: ignore[arg-type]
    wait_until(lambda: len(gauges.exported) >= 5)
    stop.set()
    assert len(reads) == 1
