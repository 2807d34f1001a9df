"""The demo's monitoring step: a clean and a deliberately shifted batch of requests served for
real (so they reach the inference log), then the drift report job over today's window.

What it prints names the verdict, the drifted features, the prediction shift and where the
HTML report (MLflow, experiment `monitoring`) and the JSON summary (S3) are.
"""

from __future__ import annotations

import time
from typing import Any

from features.schema import RAW_TO_NAME
from features.synthetic import generate, shifted, wire_records
from ray_jobs.core.jobs_client import JobsClient
from ray_jobs.core.settings import Settings
from ray_jobs.submit import run_job, summary_line
from serve_app.client import ServeClient

CLEAN_ROWS = 1_000
SHIFTED_ROWS = 2_000  # twice the clean batch: the window is mostly shifted
BATCH = 500


def serve_batches(settings: Settings, seed: int) -> tuple[int, int]:
    """Score a clean and a shifted synthetic batch over REST; (clean, shifted) records sent."""
    client = ServeClient.for_settings(settings)
    clean = wire_records(generate(CLEAN_ROWS, seed + 1).rename(columns=RAW_TO_NAME))
    moved = wire_records(shifted(generate(SHIFTED_ROWS, seed + 2).rename(columns=RAW_TO_NAME)))
    for records in (clean, moved):
        for start in range(0, len(records), BATCH):
            client.predict(records[start : start + BATCH])
    # Each replica writes what it holds every BURNOUT_SERVE_INFERENCE_LOG_FLUSH_S.
    time.sleep(settings.serve_inference_log_flush_s + 1.5)
    return len(clean), len(moved)


def drift_report(settings: Settings) -> dict[str, Any]:
    """Run ray_jobs.monitor as a Ray job (as the burnout_monitoring DAG does); its summary."""
    info = run_job(settings, "python -m ray_jobs.monitor", echo=False, timeout_s=900)
    logs = JobsClient.from_settings(settings).logs(info["submission_id"])
    if info["status"] != "SUCCEEDED":
        raise RuntimeError(f"drift job {info['submission_id']} {info['status']}: {logs[-500:]}")
    return summary_line(logs)


def drift_lines(settings: Settings, sent: tuple[int, int], summary: dict[str, Any]) -> list[str]:
    """The demo's report of the drift step."""
    features = summary["features"]
    verdict = "DRIFT" if summary["dataset_drift"] else "no drift"
    drifted = ", ".join(summary["drifted_features"]) or "none"
    lines = [
        "",
        "Monitoring (inference log -> drift report, champion "
        f"v{summary['model']['version']} vs its training data)",
        f"  served            {sent[0]:,} clean + {sent[1]:,} shifted records over REST",
        f"  window            {summary['window']['from']}..{summary['window']['to']}: "
        f"{summary['rows_current']:,} logged rows vs {summary['rows_reference']:,} training rows",
        f"  verdict           {verdict}: {len(summary['drifted_features'])} of {len(features)} "
        f"features drifted (share {summary['share_drifted']:.2f}): {drifted}",
    ]
    if prediction := summary.get("prediction"):
        lines.append(
            f"  predictions       mean burn rate {prediction['mean_reference']:.3f} (training) -> "
            f"{prediction['mean_current']:.3f} (window)"
            + (", drifted" if prediction["drifted"] else "")
        )
    run = (
        f"{settings.mlflow_tracking_uri}/#/experiments/{summary['mlflow_experiment_id']}"
        f"/runs/{summary['mlflow_run_id']}"
    )
    lines += [
        f"  report            {run}   (artifact drift_report.html)",
        f"  summary           {summary['summary_uri']}",
        "",
    ]
    return lines
