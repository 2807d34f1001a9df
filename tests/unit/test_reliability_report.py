"""The arithmetic behind docs/reliability.md: windows, per-second bins, replica lifetimes."""

from __future__ import annotations

from benchmarks.reliability import ReplicaWatch, Window, per_second, window_stats
from ray_jobs.core.settings import Settings

# [start offset s, latency ms, ok, model version, failure kind]
SAMPLES = [
    [0.1, 10.0, True, "1", ""],
    [0.5, 30.0, True, "1", ""],
    [1.2, 20.0, False, "", "ServerDisconnectedError"],
    [1.9, 40.0, True, "2", ""],
    [2.5, 50.0, True, "2", ""],
]


def test_window_counts_only_requests_started_inside() -> None:
    stats = window_stats(SAMPLES, Window("middle", 1.0, 2.0))
    assert (stats["requests"], stats["failed"]) == (2, 1)
    assert stats["rps"] == 2.0
    assert stats["p50_ms"] == 30.0


def test_an_empty_window_has_no_latency() -> None:
    stats = window_stats(SAMPLES, Window("later", 10.0, 20.0))
    assert stats["requests"] == 0
    assert stats["p50_ms"] is None and stats["p99_ms"] is None  # not a made-up number


def test_per_second_bins_split_ok_and_failed() -> None:
    bins = per_second(SAMPLES, 3)
    assert bins == {"ok": [2.0, 1.0, 1.0], "failed": [0.0, 1.0, 0.0]}


def test_lifetimes_record_when_each_replica_ran_and_left() -> None:
    # A watch that never polls: only its history is read (no services, no settings needed).
    watch = ReplicaWatch(Settings.model_construct())
    watch.history = [
        (100.0, {"a": "RUNNING"}),
        (101.0, {"a": "RUNNING", "b": "STARTING"}),
        (102.0, {"a": "RUNNING", "b": "RUNNING"}),
        (103.0, {"a": "STOPPING", "b": "RUNNING"}),
        (104.0, {"b": "RUNNING"}),
    ]
    assert watch.lifetimes() == {
        "a": {"running": 100.0, "left": 103.0},
        "b": {"running": 102.0, "left": None},
    }
    assert [n for _, n in watch.running_count()] == [1, 1, 2, 1, 1]
