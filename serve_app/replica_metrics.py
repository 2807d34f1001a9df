"""The replica's own Prometheus metrics, besides Serve's: what was predicted, what was refused,
and what the inference log did. Exported by Ray's metrics agent with the `ray_` prefix (for
example `ray_burnout_predictions_total`); `METRIC_NAMES` lists them as Prometheus sees them.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from ray_jobs.core.errors import InvalidInput

# As exported (Ray adds the `ray_` prefix, Prometheus the `_total` of counters).
METRIC_NAMES = (
    "ray_burnout_predictions_total",
    "ray_burnout_validation_failures_total",
    "ray_burnout_explanations_total",
    "ray_burnout_inference_log_rows_written_total",
    "ray_burnout_inference_log_rows_dropped_total",
    "ray_burnout_model_version",
)


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

    def served(self, predictions: list[dict[str, Any]], protocol: str, explained: bool) -> None:
        groups = Counter((p["model"]["version"], p["risk_level"]) for p in predictions)
        for (version, level), count in groups.items():
            tags = {"model_version": version, "risk_level": level, "protocol": protocol}
            self._predictions.inc(count, tags=tags)
            if explained:
                self._explanations.inc(count, tags={"model_version": version})
        self.versions({p["model"]["alias"]: p["model"]["version"] for p in predictions})

    def versions(self, by_alias: dict[str, str]) -> None:
        """The registry version each alias answers with. Called on every answer and again by
        the replica's follow loop: Ray's metrics agent drops a gauge not set for two export
        intervals (ray 2.60), so a replica that stops answering would lose it."""
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
