"""The replica's own Prometheus metrics, besides Serve's: what was predicted, what was refused,
how requests were batched and what the inference log did. Exported by Ray's metrics agent with
the `ray_` prefix (for example `ray_burnout_predictions_total`); `METRIC_NAMES` lists them as
Prometheus sees them.

Requests only count into plain dicts; `flush` (the replica's follow thread, every 0.5 s) hands
the sums to Ray's metrics. A Ray metric update checks its tags and takes a lock (~3 % of a
replica's CPU at 32 clients when done per request), and the agent exports every few seconds
anyway.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from ray_jobs.core.errors import InvalidInput
from serve_app.autoscaling_load import InFlight

# As exported (Ray adds the `ray_` prefix, Prometheus the `_total` of counters and the `_bucket`
# of histograms).
METRIC_NAMES = (
    "ray_burnout_predictions_total",
    "ray_burnout_validation_failures_total",
    "ray_burnout_explanations_total",
    "ray_burnout_inference_log_rows_written_total",
    "ray_burnout_inference_log_rows_dropped_total",
    "ray_burnout_model_version",
    "ray_burnout_batch_size_bucket",
    "ray_burnout_batch_wait_ms_bucket",
    "ray_burnout_in_flight_seconds_total",
)

BATCH_SIZES = [1, 2, 4, 8, 16, 32, 64, 128]
BATCH_WAITS_MS = [0.5, 1, 2, 5, 10, 20]


class ReplicaMetrics:
    """Counters and gauges of one replica (ray.serve.metrics, created in the replica)."""

    def __init__(self) -> None:
        from ray.serve import metrics

        self._predictions = metrics.Counter(
            "burnout_predictions",
            description="Predictions served, by model version, risk level and protocol.",
            tag_keys=("model_version", "risk_level", "protocol"),
        )
        self._invalid = metrics.Counter(
            "burnout_validation_failures",
            description="Records refused by validation, by field.",
            tag_keys=("field",),
        )
        self._explanations = metrics.Counter(
            "burnout_explanations",
            description="Predictions served with an explanation, by model version.",
            tag_keys=("model_version",),
        )
        self._written = metrics.Counter(
            "burnout_inference_log_rows_written",
            description="Inference log rows written to S3.",
        )
        self._dropped = metrics.Counter(
            "burnout_inference_log_rows_dropped",
            description="Inference log rows dropped (S3 failed or the buffer was full).",
        )
        self._version = metrics.Gauge(
            "burnout_model_version",
            description="The registry version each alias answers with.",
            tag_keys=("alias",),
        )
        self._batch_size = metrics.Histogram(
            "burnout_batch_size",
            description="Requests per micro-batch.",
            boundaries=BATCH_SIZES,
        )
        self._batch_wait = metrics.Histogram(
            "burnout_batch_wait_ms",
            description="How long a micro-batch's first request waited for the batch (ms).",
            boundaries=BATCH_WAITS_MS,
        )
        self._in_flight_seconds = metrics.Counter(
            "burnout_in_flight_seconds",
            description="Request-seconds spent in the replica (its rate: mean requests in "
            "flight, what autoscaling scales on).",
        )
        # Entered and left by every prediction call; read by Serve's autoscaling stats hook.
        self.in_flight = InFlight()
        self._in_flight_exported = 0.0
        self._lock = threading.Lock()
        self._served: Counter[tuple[str, str, str]] = Counter()
        self._explained: Counter[str] = Counter()
        self._batches: list[tuple[int, float]] = []

    def served(self, predictions: list[dict[str, Any]], protocol: str, explained: bool) -> None:
        """One answered request (one model answers all of its records)."""
        if not predictions:
            return
        model = predictions[0]["model"]
        levels = Counter(p["risk_level"] for p in predictions)  # outside the lock: bulk is long
        with self._lock:
            for level, count in levels.items():
                self._served[model["version"], level, protocol] += count
            if explained:
                self._explained[model["version"]] += len(predictions)

    def batched(self, size: int, waited_s: float) -> None:
        with self._lock:
            self._batches.append((size, waited_s * 1000))

    def flush(self) -> None:
        """Hand what was counted since the last flush to Ray's metrics."""
        with self._lock:
            served, self._served = self._served, Counter()
            explained, self._explained = self._explained, Counter()
            batches, self._batches = self._batches, []
        for (version, level, protocol), count in served.items():
            tags = {"model_version": version, "risk_level": level, "protocol": protocol}
            self._predictions.inc(count, tags=tags)
        for version, count in explained.items():
            self._explanations.inc(count, tags={"model_version": version})
        for size, waited_ms in batches:
            self._batch_size.observe(size)
            self._batch_wait.observe(waited_ms)
        area = self.in_flight.area()
        if area > self._in_flight_exported:
            self._in_flight_seconds.inc(area - self._in_flight_exported)
            self._in_flight_exported = area

    def versions(self, by_alias: dict[str, str]) -> None:
        """The registry version each loaded alias answers with. Set by the replica's follow loop
        every 0.5 s, answers or not: Ray's metrics agent drops a gauge not set for two export
        intervals (ray 2.60)."""
        for alias, version in by_alias.items():
            if version.isdigit():
                self._version.set(int(version), tags={"alias": alias})

    def invalid(self, error: InvalidInput) -> None:
        fields = Counter(str(e["loc"][-1]) for e in error.errors)
        for name, count in fields.items():
            self._invalid.inc(count, tags={"field": name})

    def logged(self, written: int, dropped: int) -> None:
        if written:
            self._written.inc(written)
        if dropped:
            self._dropped.inc(dropped)
