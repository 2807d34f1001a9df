"""Drift report job: a window of the inference log against the champion's training data.

    python -m ray_jobs.monitor [--days 1] [--end YYYY-MM-DD] [--model champion]

Reads the served rows of the window (s3://<data>/inference/date=.../, Ray Data) and the train
split of the dataset version the model was trained on, scores that reference with the model
(for prediction drift), and compares them column by column (features.drift). The HTML report
and the JSON summary go to MLflow (experiment `monitoring`, tagged with the model version and
the window); the summary also to s3://<processed>/monitoring/<time>/summary.json and
monitoring/latest.json. Prints the summary (JSON) last; `dataset_drift` says whether the share
of drifted features passed the threshold. The job itself succeeds either way: deciding what
drift means for the pipeline is the monitoring DAG's job.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import tempfile
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from features.drift import drift_summary
from features.risk import clip_burn_rate
from features.schema import FEATURE_NAMES
from ray_jobs.core import datasets, s3, tracking
from ray_jobs.core.cluster import connect
from ray_jobs.core.errors import NotFound
from ray_jobs.core.placement import job_placement
from ray_jobs.core.registry import alias_version, load_version
from ray_jobs.core.settings import Settings, get_settings
from ray_jobs.monitor import report

log = logging.getLogger(__name__)

EXPERIMENT = "monitoring"
REFERENCE_ROWS = 20_000  # a seeded sample of the train split is plenty for these tests


def run_drift(
    settings: Settings,
    alias: str,
    days: int,
    end: dt.date,
    log_prefix: str = s3.INFERENCE_PREFIX,
) -> dict[str, Any]:
    """Compare the window's served rows with the model's training data; log and publish."""
    import mlflow

    client = s3.client(settings)
    s3.check_reachable(settings, client)
    tracking.use_tracking_server(settings)
    registry = mlflow.MlflowClient()
    version = alias_version(registry, settings.model_name, alias)
    if version is None:
        raise NotFound(f"model alias '{alias}' does not exist for '{settings.model_name}'")
    dataset_version = (version.tags or {}).get("dataset_version")
    manifest = datasets.resolve(settings, client, dataset_version)
    start = end - dt.timedelta(days=days - 1)
    paths = window_files(settings, client, start, end, log_prefix)
    if not paths:
        raise NotFound(
            f"no inference log under s3://{settings.bucket_data}/{log_prefix}/ for "
            f"{start}..{end}: serve some predictions first"
        )
    connect(settings)
    current = _read_window(settings, paths)
    reference = datasets.read_split(settings, manifest, "train")
    if len(reference) > REFERENCE_ROWS:
        reference = reference.sample(n=REFERENCE_ROWS, random_state=0)
    model = load_version(settings.model_name, str(version.version), settings.mlflow_tracking_uri)
    reference["prediction"] = clip_burn_rate(model.predict(reference[list(FEATURE_NAMES)]))
    current["prediction"] = current["burn_rate"]
    summary = drift_summary(reference, current)
    summary.update(
        model={"name": settings.model_name, "alias": alias, "version": str(version.version)},
        dataset_version=manifest["dataset_version"],
        window={"from": start.isoformat(), "to": end.isoformat(), "days": days},
        served_versions=current["model_version"].astype(str).value_counts().to_dict(),
    )
    summary["new_labelled_inputs"] = new_labelled_inputs(settings, client, manifest["created_at"])
    run = _log_to_mlflow(summary, report.render(summary, reference, current))
    summary["mlflow_run_id"], summary["mlflow_experiment_id"] = run
    summary["summary_uri"] = _publish(settings, client, summary)
    return summary


def window_files(
    settings: Settings, client: Any, start: dt.date, end: dt.date, log_prefix: str
) -> list[str]:
    """The inference log's Parquet files of the days start..end (bucket/key paths)."""
    paths = []
    day = start
    while day <= end:
        prefix = s3.S3Uri(settings.bucket_data, f"{log_prefix}/date={day:%Y-%m-%d}/")
        paths += [
            f"{prefix.bucket}/{o['Key']}"
            for o in s3.iter_objects(client, prefix)
            if o["Key"].endswith(".parquet")
        ]
        day += dt.timedelta(days=1)
    return paths


def new_labelled_inputs(settings: Settings, client: Any, since: str) -> list[str]:
    """Raw prefixes (s3://<data>/raw/<name>/) holding CSV files with a Burn Rate column that
    landed after `since` (the champion's dataset version was built), newest last: data to
    retrain on."""
    from features.schema import check_header

    after = dt.datetime.fromisoformat(since)
    newest: dict[str, dt.datetime] = {}
    for obj in s3.iter_objects(client, s3.S3Uri(settings.bucket_data, "raw/")):
        key = obj["Key"]
        parts = key.split("/")
        if not key.endswith(".csv") or len(parts) < 3 or obj["LastModified"] <= after:
            continue
        head = s3.read_head(client, s3.S3Uri(settings.bucket_data, key), 4096)
        header = head.decode("utf-8", errors="replace").splitlines()[0].split(",")
        if not check_header(header, require_target=True).missing:
            prefix = f"s3://{settings.bucket_data}/{parts[0]}/{parts[1]}/"
            newest[prefix] = max(newest.get(prefix, obj["LastModified"]), obj["LastModified"])
    return sorted(newest, key=lambda prefix: newest[prefix])


def _read_window(settings: Settings, paths: list[str]) -> pd.DataFrame:
    import ray.data

    frame = ray.data.read_parquet(
        paths, filesystem=s3.arrow_fs(settings), partitioning=None
    ).to_pandas()
    return frame.reset_index(drop=True)


def _log_to_mlflow(summary: dict[str, Any], page: str) -> tuple[str, str]:
    """The run that holds the report: (run id, experiment id)."""
    import mlflow

    tracking.use_experiment(EXPERIMENT)
    window = summary["window"]
    with mlflow.start_run(run_name=f"drift-{window['to']}") as run:
        mlflow.set_tags(
            {
                "model_name": summary["model"]["name"],
                "model_version": summary["model"]["version"],
                "dataset_version": summary["dataset_version"],
                "window_from": window["from"],
                "window_to": window["to"],
                "dataset_drift": str(summary["dataset_drift"]).lower(),
            }
        )
        metrics = {
            "share_drifted": summary["share_drifted"],
            "rows_current": summary["rows_current"],
            "rows_reference": summary["rows_reference"],
        }
        for name, info in summary["features"].items():
            if info["statistic"] is not None:
                metrics[f"{name}_statistic"] = info["statistic"]
            metrics[f"{name}_missing_current"] = info["missing_current"]
        if "prediction" in summary and summary["prediction"]["statistic"] is not None:
            metrics["prediction_statistic"] = summary["prediction"]["statistic"]
        mlflow.log_metrics(metrics)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            (folder / "drift_report.html").write_text(page)
            (folder / "drift_summary.json").write_text(json.dumps(summary, indent=2, default=str))
            mlflow.log_artifacts(str(folder))
        return str(run.info.run_id), str(run.info.experiment_id)


def _publish(settings: Settings, client: Any, summary: dict[str, Any]) -> str:
    now = dt.datetime.now(dt.UTC)
    summary["created_at_unix"] = round(now.timestamp(), 3)
    target = s3.S3Uri(
        settings.bucket_processed, f"{s3.MONITORING_PREFIX}/{now:%Y%m%dT%H%M%SZ}/summary.json"
    )
    s3.write_json(client, target, summary)
    s3.write_json(client, s3.S3Uri(settings.bucket_processed, s3.LATEST_DRIFT_SUMMARY), summary)
    return str(target)


app = typer.Typer(help=__doc__, pretty_exceptions_enable=False, add_completion=False)


@app.command()
def main(
    days: Annotated[int, typer.Option(min=1, max=90, help="days of inference log")] = 1,
    end: Annotated[str, typer.Option(help="last day of the window (default today, UTC)")] = "",
    model: Annotated[str, typer.Option(help="registry alias compared against")] = "champion",
    log_prefix: Annotated[
        str, typer.Option(help="where the inference log is in the data bucket")
    ] = s3.INFERENCE_PREFIX,
) -> None:
    """Write the drift report; prints the JSON summary last."""
    last = dt.date.fromisoformat(end) if end else dt.datetime.now(dt.UTC).date()
    summary = run_drift(get_settings(), model, days, last, log_prefix.strip("/"))
    log.info(
        "%d of %d features drifted (%.0f %%), dataset drift: %s; report in MLflow run %s",
        len(summary["drifted_features"]), len(summary["features"]),
        100 * summary["share_drifted"], summary["dataset_drift"], summary["mlflow_run_id"],
    )  # fmt: skip
    typer.echo(json.dumps({**summary, "nodes": job_placement()}, default=str))
