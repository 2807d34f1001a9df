"""The demo: synthetic data -> ETL -> training (Ray jobs) -> serving; then what to open.

python -m ray_jobs.demo --rows 20000     (what `make demo` runs after `make up`)
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import typer

from ray_jobs import cli, s3
from ray_jobs.ingest import raw_prefix, upload_synthetic
from ray_jobs.settings import Settings, get_settings
from ray_jobs.submit import JobsClient, run_job, summary_line

log = logging.getLogger(__name__)


def _job_summary(settings: Settings, submission_id: str) -> dict[str, Any]:
    """The JSON summary a job prints as its last line."""
    return summary_line(JobsClient.from_settings(settings).logs(submission_id))


def _champion(training: dict[str, Any]) -> str:
    champion = training["champion"]
    family = champion["family"]
    test = training["families"].get(family, {}).get("test", {})
    lines = [
        f"  champion          {family} v{champion['version']}  test RMSE "
        f"{champion['test_rmse']:.4f}  R2 {champion['test_r2']:.4f}"
        + (f"  risk macro-F1 {test['risk_macro_f1']:.3f}" if test else ""),
        f"  decision          {training['promotion_reason']}",
    ]
    for name, info in training["families"].items():
        test = info["test"]
        lines.append(
            f"  {name:<17} v{info['version']}  test RMSE {test['rmse']:.4f}  "
            f"R2 {test['r2']:.4f}  R2 complete rows {test.get('r2_complete', 0):.4f}"
        )
    return "\n".join(lines)


def _summary(
    settings: Settings, etl: dict[str, Any], training: dict[str, Any], seconds: float
) -> str:
    version = etl["dataset_version"]
    processed = f"s3://{settings.bucket_processed}/{version}/"
    runs = f"{settings.mlflow_tracking_uri}/#/experiments/{training['experiment_id']}"
    return f"""
burnout-ray demo finished in {seconds:.0f} s

  dataset version   {version}   rows {etl["rows"]}
  published to      {processed}{{train,validation,test,rejects}}/ + _manifest.json
{_champion(training)}
  training runs     {runs}
  registry          {settings.mlflow_tracking_uri}/#/models/{settings.model_name}

Open
  MLflow UI         {settings.mlflow_tracking_uri}   (experiments 'etl' and 'training')
  Ray dashboard     {settings.ray_address}   (Jobs tab; token: BURNOUT_RAY_AUTH_TOKEN in .env)
  S3 endpoint       {settings.s3_endpoint_url}   (keys in .env)

Try
  make status                                   health of every local service
  .venv/bin/python -m ray_jobs.ingest upload ../shared/data/employee_burnout_train.csv --name kaggle
  .venv/bin/python -m ray_jobs.submit -- python -m ray_jobs.etl --input s3://{settings.bucket_data}/raw/kaggle/
  make train                                    tune all families on the latest dataset version
  make down                                     stop everything (data stays in .run/)
"""


def _serve_and_call(settings: Settings) -> str:
    """Deploy (or update) the Serve app, then one sample call per protocol."""
    from serve_app import smoke
    from serve_app.deploy import deploy

    deploy(settings)
    base = f"http://{settings.host}:{settings.serve_http_port}"
    lines = [
        "",
        "Serving (Ray Serve, champion model)",
        f"  REST     POST {base}/predict  -> {json.dumps(smoke.rest(settings))}",
        f"  GraphQL  POST {base}/graphql  -> {json.dumps(smoke.graphql(settings))}",
        f"  gRPC     {settings.host}:{settings.serve_grpc_port} BurnoutService/Predict"
        f"  -> {json.dumps(smoke.grpc_predict(settings))}",
        f"  docs     {base}/docs   GraphiQL {base}/graphql",
        "",
    ]
    return "\n".join(lines)


app = typer.Typer(help=__doc__, pretty_exceptions_enable=False, add_completion=False)


@app.command()
def main(
    rows: int = typer.Option(20_000, min=1_000, help="synthetic rows to generate"),
    seed: int = typer.Option(42, help="generator seed"),
    trials: int = typer.Option(4, min=1, help="trials per model family"),
) -> None:
    """Generate demo data, run the ETL through the Ray Jobs API and print what to open."""
    started = time.monotonic()
    settings = get_settings()
    target = raw_prefix(settings, "demo")
    s3.delete_prefix(s3.client(settings), target)
    upload_synthetic(settings, rows, seed, target)
    info = run_job(settings, f"python -m ray_jobs.etl --input {target}", timeout_s=1800)
    etl = _job_summary(settings, str(info["submission_id"]))
    entrypoint = (
        f"python -m ray_jobs.train --dataset-version {etl['dataset_version']} --trials {trials}"
    )
    info = run_job(settings, entrypoint, timeout_s=3600)
    training = _job_summary(settings, str(info["submission_id"]))
    calls = _serve_and_call(settings)
    typer.echo(_summary(settings, etl, training, time.monotonic() - started) + calls)


if __name__ == "__main__":
    cli.run(app)
