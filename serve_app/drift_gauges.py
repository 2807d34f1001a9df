"""The drift report's figures as Prometheus gauges, exported by every replica.

The drift job (ray_jobs.monitor) is a Ray job that ends when its report is written, so it
cannot hold a metric for Prometheus to scrape; it publishes its summary to
s3://<processed>/monitoring/latest.json instead, and each replica reads that object every
`BURNOUT_SERVE_DRIFT_POLL_S` seconds and exports what it says, again every few seconds between
reads. A missing summary or S3 being down keeps the last figures (logged once a read); it never
reaches a request.
Several replicas export the same figures: dashboards take `max()` over them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

# As exported (Ray adds the `ray_` prefix).
DRIFT_METRIC_NAMES = (
    "ray_burnout_drift_share",
    "ray_burnout_drift_detected",
    "ray_burnout_feature_drift_detected",
    "ray_burnout_feature_missing_rate",
    "ray_burnout_prediction_drift_mean",
    "ray_burnout_drift_window_rows",
    "ray_burnout_drift_report_timestamp_seconds",
)

REFRESH_S = 5.0  # well inside the agent's gauge TTL (two 10 s export intervals)

# () -> the latest drift summary, or None when there is none yet; may raise
Reader = Callable[[], dict[str, Any] | None]


class DriftGauges:
    """The gauges of one replica (ray.serve.metrics, created in the replica)."""

    def __init__(self) -> None:
        from ray.serve import metrics

        def gauge(name: str, description: str, *tags: str) -> Any:
            return metrics.Gauge(f"burnout_{name}", description=description, tag_keys=tags)

        # No model-version tag: one series per figure, which a new report overwrites (the
        # version answering is ray_burnout_model_version's).
        self._share = gauge("drift_share", "Share of features drifted (last report).")
        self._detected = gauge("drift_detected", "1 when the drifted share passed the threshold.")
        self._feature = gauge("feature_drift_detected", "1 for a drifted feature.", "feature")
        self._missing = gauge("feature_missing_rate", "Missing-value rate in the window.",
                              "feature")  # fmt: skip
        self._prediction = gauge("prediction_drift_mean", "Mean predicted burn rate.", "data")
        self._rows = gauge("drift_window_rows", "Rows compared by the last report.", "data")
        self._stamp = gauge("drift_report_timestamp_seconds", "When the last report was written.")

    def update(self, summary: dict[str, Any]) -> None:
        """Export one drift summary (the JSON ray_jobs.monitor publishes)."""
        self._share.set(float(summary["share_drifted"]))
        self._detected.set(float(bool(summary["dataset_drift"])))
        for name, info in summary["features"].items():
            self._feature.set(float(bool(info["drifted"])), tags={"feature": name})
            self._missing.set(float(info["missing_current"]), tags={"feature": name})
        if prediction := summary.get("prediction"):
            self._prediction.set(float(prediction["mean_reference"]), tags={"data": "reference"})
            self._prediction.set(float(prediction["mean_current"]), tags={"data": "current"})
        self._rows.set(float(summary["rows_reference"]), tags={"data": "reference"})
        self._rows.set(float(summary["rows_current"]), tags={"data": "current"})
        if created := summary.get("created_at_unix"):
            self._stamp.set(float(created))


def follow(
    read: Reader, gauges: DriftGauges, every_s: float, refresh_s: float = REFRESH_S
) -> threading.Event:
    """In a daemon thread: read the latest summary now and every `every_s` seconds, and export
    the last one read every `refresh_s` (Ray's metrics agent drops a gauge that was not set
    for two export intervals, ray 2.60). Set the returned event to stop."""
    stop = threading.Event()

    def run() -> None:
        last: dict[str, Any] | None = None
        next_read = time.monotonic()
        while True:
            if time.monotonic() >= next_read:
                next_read = time.monotonic() + every_s
                try:
                    last = read() or last
                except Exception as error:  # noqa: BLE001  (unreadable: keep the last one)
                    log.warning("drift summary not read: %s", error)
            if last is not None:
                gauges.update(last)
            if stop.wait(min(refresh_s, every_s)):
                return

    threading.Thread(target=run, name="drift-gauges", daemon=True).start()
    return stop


def s3_reader(settings: Any) -> Reader:
    """Reads s3://<processed>/monitoring/latest.json, failing fast (one attempt)."""
    from ray_jobs.core import s3

    client = s3.client(settings, attempts=1, read_timeout=10)
    uri = s3.S3Uri(settings.bucket_processed, s3.LATEST_DRIFT_SUMMARY)
    return lambda: s3.read_json(client, uri)


def start(every_s: float) -> threading.Event | None:
    """The replica's drift gauges, following S3 (settings from the replica's environment, as
    the inference log's); None when `every_s` is 0 (off)."""
    if every_s <= 0:
        return None
    from ray_jobs.core.settings import get_settings

    return follow(s3_reader(get_settings()), DriftGauges(), every_s)
