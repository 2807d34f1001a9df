"""The demo: synthetic data -> ETL as a Ray job, then what to open and what to try.

python -m ray_jobs.demo --rows 20000     (what `make demo` runs after `make up`)
"""

from __future__ import annotations

import json
import logging
import time

import typer

from ray_jobs import cli, s3
from ray_jobs.ingest import raw_prefix, upload_synthetic
from ray_jobs.settings import Settings, get_settings
from ray_jobs.submit import JobsClient, run_job

log = logging.getLogger(__name__)


def _dataset_version(settings: Settings, submission_id: str) -> dict[str, object]:
    logs = JobsClient.from_settings(settings).logs(submission_id)
    line = next(x for x in reversed(logs.splitlines()) if x.startswith('{"dataset_version"'))
    return dict(json.loads(line))


def _summary(settings: Settings, summary: dict[str, object], seconds: float) -> str:
    version = summary["dataset_version"]
    processed = f"s3://{settings.bucket_processed}/{version}/"
    return f"""
burnout-ray demo finished in {seconds:.0f} s

  dataset version   {version}   rows {summary["rows"]}
  published to      {processed}{{train,validation,test,rejects}}/ + _manifest.json

Open
  MLflow UI         {settings.mlflow_tracking_uri}   (experiment 'etl': dataset statistics)
  Ray dashboard     {settings.ray_address}   (Jobs tab; token: BURNOUT_RAY_AUTH_TOKEN in .env)
  S3 endpoint       {settings.s3_endpoint_url}   (keys in .env)

Try
  make status                                   health of every local service
  .venv/bin/python -m ray_jobs.ingest upload ../shared/data/employee_burnout_train.csv --name kaggle
  .venv/bin/python -m ray_jobs.submit -- python -m ray_jobs.etl --input s3://{settings.bucket_data}/raw/kaggle/
  make down                                     stop everything (data stays in .run/)
"""


app = typer.Typer(help=__doc__, pretty_exceptions_enable=False, add_completion=False)


@app.command()
def main(
    rows: int = typer.Option(20_000, min=1_000, help="synthetic rows to generate"),
    seed: int = typer.Option(42, help="generator seed"),
) -> None:
    """Generate demo data, run the ETL through the Ray Jobs API and print what to open."""
    started = time.monotonic()
    settings = get_settings()
    target = raw_prefix(settings, "demo")
    s3.delete_prefix(s3.client(settings), target)
    upload_synthetic(settings, rows, seed, target)
    info = run_job(settings, f"python -m ray_jobs.etl --input {target}", timeout_s=1800)
    summary = _dataset_version(settings, str(info["submission_id"]))
    typer.echo(_summary(settings, summary, time.monotonic() - started))


if __name__ == "__main__":
    cli.run(app)
