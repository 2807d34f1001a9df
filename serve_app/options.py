"""The deployment's options from settings, computed on the deploying side (no Ray import here:
`serve_app.deploy` builds the declarative config before it connects to Ray)."""

from __future__ import annotations

from typing import Any

from serve_app import autoscaling_load
from serve_app.auth import digest


def options_from_settings(settings: Any) -> dict[str, Any]:
    """The deployment's options, taken from settings on the deploying side."""
    return {
        "model_name": settings.model_name,
        "tracking_uri": settings.mlflow_tracking_uri,
        "default_alias": settings.champion_alias,
        "max_records": settings.serve_max_records,
        "max_explain_records": settings.serve_max_explain_records,
        "max_body_mb": settings.serve_max_body_mb,
        "batch_size": settings.serve_batch_size,
        "batch_wait_s": settings.serve_batch_wait_s,
        "poll_interval_s": settings.serve_poll_interval_s,
        "inference_fraction": settings.serve_inference_log_fraction,
        "inference_flush_s": settings.serve_inference_log_flush_s,
        "drift_poll_s": settings.serve_drift_poll_s,
        "api_token_sha256": digest(token) if (token := settings.api_token()) else None,
    }


def autoscaling(settings: Any) -> dict[str, Any]:
    """Serve's autoscaling_config from settings (also written into the declarative config)."""
    return {
        "min_replicas": settings.serve_min_replicas,
        "max_replicas": settings.serve_max_replicas,
        "target_ongoing_requests": settings.serve_target_ongoing_requests,
        "upscale_delay_s": settings.serve_upscale_delay_s,
        "downscale_delay_s": settings.serve_downscale_delay_s,
        "look_back_period_s": settings.serve_look_back_period_s,
        # Replicas report their load this often (default 10 s, as long as the look-back):
        # five reports per window let a short upscale delay see a real average.
        "metrics_interval_s": settings.serve_look_back_period_s / 5,
        # Scales on the replicas' time-averaged in-flight requests (see autoscaling_load).
        "policy": {"policy_function": autoscaling_load.POLICY},
    }
