"""The demo: synthetic data, then Airflow runs the pipeline (ETL -> training -> serving reload ->
smoke test, each a Ray job or a call to the Serve app); then one call per protocol and what to open.

python -m ray_jobs.demo --rows 20000     (what `make demo` runs after `make up`)
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import typer

from ray_jobs import cli, s3
from ray_jobs.errors import BurnoutError
from ray_jobs.ingest import raw_prefix, upload_synthetic
from ray_jobs.orchestration import AirflowClient
from ray_jobs.settings import Settings, get_settings
from ray_jobs.stack import Stack

log = logging.getLogger(__name__)

PIPELINE = "burnout_pipeline"


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


def _run_pipeline(settings: Settings, source: str, trials: int) -> tuple[dict, dict, str]:
    """Trigger the pipeline DAG over Airflow's REST API and wait; the ETL and training results."""
    airflow = AirflowClient(settings)
    airflow.wait_for_dag(PIPELINE)
    run_id = airflow.trigger(PIPELINE, {"input": source, "trials": trials})
    log.info("triggered %s run %s; follow it at %s", PIPELINE, run_id, airflow.base)
    finished = airflow.wait(PIPELINE, run_id, timeout_s=3600)
    tasks = "  ".join(f"{task} {state}" for task, state in finished["tasks"].items())
    report = (
        f"Airflow run {run_id}: {finished['run']['state']}\n  tasks             {tasks}\n"
        f"  UI                {airflow.base}/dags/{PIPELINE}   (admin / "
        "BURNOUT_AIRFLOW_ADMIN_PASSWORD in .env)\n"
    )
    if finished["run"]["state"] != "success":
        raise BurnoutError(f"the pipeline failed in Airflow\n{report}")
    etl = airflow.xcom(PIPELINE, run_id, "etl")
    training = airflow.xcom(PIPELINE, run_id, "train")
    return etl, training, report


def _calls(settings: Settings) -> str:
    """One sample call per protocol to the Serve app."""
    from serve_app import smoke

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
    """Generate demo data, let Airflow run the pipeline on Ray, then call every protocol."""
    from serve_app.deploy import deploy

    started = time.monotonic()
    settings = get_settings()
    target = raw_prefix(settings, "demo")
    s3.delete_prefix(s3.client(settings), target)
    upload_synthetic(settings, rows, seed, target)
    Stack(settings).up(("airflow",))
    # Serving first: the pipeline's last steps reload it and ask it for a prediction.
    deploy(settings)
    etl, training, report = _run_pipeline(settings, str(target), trials)
    summary = _summary(settings, etl, training, time.monotonic() - started)
    typer.echo(summary + report + _calls(settings))


if __name__ == "__main__":
    cli.run(app)
