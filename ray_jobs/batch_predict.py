"""Batch scoring: raw records in S3 (CSV or Parquet) -> predictions in S3, one model version.

    python -m ray_jobs.batch_predict --input s3://data/score/ --output s3://processed/scores/run-1/
        [--model champion] [--skip-scored-under s3://processed/scores/]

With --skip-scored-under, input files that a finished run under that prefix already scored (same
key and ETag, read from the runs' `_SUCCESS.json`) are left out; with nothing new, nothing is
written.

The alias is resolved once, in the driver, so every row is scored by the same version even if
the alias moves mid-job. Invalid rows are kept, with their reason, and no prediction.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Annotated, Any

import pandas as pd
import typer

from features.compiled_pipeline import Predict, verified
from features.risk import clip_burn_rate, risk_level
from features.schema import FEATURE_NAMES, RAW_TO_NAME
from features.validation import validate
from ray_jobs.core import cli, s3, tracking
from ray_jobs.core.cluster import connect
from ray_jobs.core.datasets import input_files, read_csv_as_text
from ray_jobs.core.errors import ModelUnavailable
from ray_jobs.core.placement import job_placement, work_done
from ray_jobs.core.registry import load_version
from ray_jobs.core.settings import Settings, get_settings

log = logging.getLogger(__name__)

DONE = "_SUCCESS.json"
OUTPUT_COLUMNS = (
    "employee_id", "burn_rate", "risk_level", "error", "model_name", "model_alias", "model_version",
)  # fmt: skip


_MODELS: dict[tuple[str, str, str], tuple[Any, Predict]] = {}


def _model(tracking_uri: str, name: str, version: str) -> tuple[Any, Predict]:
    """A model version and its predict (compiled when exact, `features.compiled_pipeline`),
    loaded once per Ray worker process (workers are reused across tasks)."""
    key = (tracking_uri, name, version)
    if key not in _MODELS:
        pipeline = load_version(name, version, tracking_uri)
        _MODELS[key] = (pipeline, verified(pipeline))
    return _MODELS[key]


def explain_columns() -> list[str]:
    """The columns `--explain` adds: the base value, one contribution per raw feature, and the
    features that were missing and imputed (comma-separated)."""
    from features.explain import EXPLAINED, RAW_SOURCE

    named = [f"contribution_{RAW_SOURCE.get(n, n)}" for n in EXPLAINED]
    return ["explain_base_value", *named, "imputed_features"]


def score_batch(
    batch: pd.DataFrame,
    tracking_uri: str,
    name: str,
    alias: str,
    version: str,
    explain: bool = False,
) -> pd.DataFrame:
    """Validate and score one pandas batch; invalid rows keep their reason and no prediction."""
    checked = validate(
        batch.rename(columns=RAW_TO_NAME).astype(object), require_target=False, require_id=False
    )
    ok = checked.valid.to_numpy()
    out = pd.DataFrame(
        {
            "employee_id": checked.clean["employee_id"].astype(object),
            "burn_rate": float("nan"),
            "risk_level": None,
            "error": checked.reasons("name").where(~checked.valid, None),
        }
    )
    columns = list(OUTPUT_COLUMNS) + (explain_columns() if explain else [])
    if explain:
        for column in explain_columns():
            out[column] = None if column == "imputed_features" else float("nan")
    if ok.any():
        model, predict = _model(tracking_uri, name, version)
        valid = checked.clean.loc[ok, list(FEATURE_NAMES)]
        rates = clip_burn_rate(predict(valid))
        out.loc[ok, "burn_rate"] = rates
        out.loc[ok, "risk_level"] = risk_level(rates)
        if explain:
            _add_explanations(out, ok, model, valid)
    out["model_name"], out["model_alias"], out["model_version"] = name, alias, version
    return out[columns]


def _add_explanations(out: pd.DataFrame, ok: Any, model: Any, valid: pd.DataFrame) -> None:
    from features.explain import explain

    explained = explain(model, valid)
    out.loc[ok, "explain_base_value"] = [e.base_value for e in explained]
    for position, column in enumerate(explain_columns()[1:-1]):
        out.loc[ok, column] = [e.contributions[position]["contribution"] for e in explained]
    out.loc[ok, "imputed_features"] = [
        ",".join(c["feature"] for c in e.contributions if c["imputed"]) or None for e in explained
    ]


def score(
    settings: Settings,
    input_uri: str,
    output_uri: str,
    alias: str,
    skip_scored_under: str | None = None,
    explain: bool = False,
) -> dict[str, Any]:
    """Score every (new) input row; write Parquet and a `_SUCCESS.json` summary last."""
    started = time.monotonic()
    client = s3.client(settings)
    s3.check_reachable(settings, client)
    tracking.use_tracking_server(settings)
    version = _resolve(settings, alias)
    source, target = s3.S3Uri.parse(input_uri), s3.S3Uri.parse(output_uri)
    files, kind = input_files(client, source)
    summary: dict[str, Any] = {
        "input": input_uri,
        "output": output_uri,
        "model": {"name": settings.model_name, "alias": alias, "version": version},
    }
    if skip_scored_under:
        done = _scored_before(client, s3.S3Uri.parse(skip_scored_under))
        skipped = [f for f in files if (f["key"], f["etag"]) in done]
        files = [f for f in files if (f["key"], f["etag"]) not in done]
        summary["skipped_files"] = len(skipped)
        if not files:
            log.info("no new files under %s (%d already scored)", input_uri, len(skipped))
            return {**summary, "output": None, "files": 0, "rows": 0, "rows_with_errors": 0}
    paths = [f"{source.bucket}/{f['key']}" for f in files]
    s3.delete_prefix(client, target)
    connect(settings)
    import ray.data

    filesystem = s3.arrow_fs(settings)
    reader = ray.data.read_parquet if kind == "parquet" else read_csv_as_text
    dataset = reader(paths, filesystem=filesystem)
    # Plain tasks rather than an actor pool: on a small cluster that also runs Serve, Ray Data
    # left the pool's actor pending; workers cache the model between tasks instead.
    scored = dataset.map_batches(
        score_batch,
        fn_kwargs={
            "tracking_uri": settings.mlflow_tracking_uri,
            "name": settings.model_name,
            "alias": alias,
            "version": version,
            "explain": explain,
        },
        batch_format="pandas",
        batch_size=4096,
    )
    scored.write_parquet(target.path, filesystem=filesystem)
    written = ray.data.read_parquet(target.path, filesystem=filesystem, columns=["error"])
    errors_column = written.to_pandas()["error"]
    work_done()
    rows, errors = len(errors_column), int(errors_column.notna().sum())
    summary.update(
        files=len(files),
        inputs=files,
        rows=rows,
        rows_with_errors=errors,
        seconds=round(time.monotonic() - started, 2),
    )
    s3.write_json(client, target.child(DONE), summary)
    return summary


def _resolve(settings: Settings, alias: str) -> str:
    import mlflow

    from ray_jobs.core.registry import alias_version

    version = alias_version(
        mlflow.MlflowClient(settings.mlflow_tracking_uri), settings.model_name, alias
    )
    if version is None:
        raise ModelUnavailable(
            f"no version of '{settings.model_name}' has the alias '{alias}': run training first"
        )
    return str(version.version)


def _scored_before(client: Any, root: s3.S3Uri) -> set[tuple[str, str]]:
    """(key, ETag) of every input a finished run under `root` scored."""
    done: set[tuple[str, str]] = set()
    for obj in s3.iter_objects(client, root):
        if obj["Key"].endswith(f"/{DONE}"):
            summary = s3.read_json(client, s3.S3Uri(root.bucket, obj["Key"])) or {}
            done.update((f["key"], f["etag"]) for f in summary.get("inputs", []))
    return done


app = typer.Typer(help=__doc__, pretty_exceptions_enable=False, add_completion=False)


@app.command()
def main(
    input_uri: Annotated[str, typer.Option("--input", help="s3:// prefix of CSV or Parquet files")],
    output_uri: Annotated[str, typer.Option("--output", help="s3:// prefix for the predictions")],
    model: Annotated[str, typer.Option(help="registry alias")] = "champion",
    skip_scored_under: Annotated[
        str, typer.Option(help="s3:// prefix of earlier runs: leave out files they scored")
    ] = "",
    explain: Annotated[
        bool, typer.Option(help="add each row's base value and feature contributions")
    ] = False,
) -> None:
    """Score raw records with a registered model alias."""
    summary = score(
        get_settings(), input_uri, output_uri, model, skip_scored_under or None, explain
    )
    log.info(
        "scored %d rows (%d with errors) with %s",
        summary["rows"],
        summary["rows_with_errors"],
        summary["model"],
    )
    typer.echo(json.dumps({**summary, "nodes": job_placement()}))


if __name__ == "__main__":
    cli.run(app, job=True)
