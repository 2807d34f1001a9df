"""The demo: synthetic data, then Airflow runs the pipeline (ETL -> training -> serving reload ->
smoke test, each a Ray job or a call to the Serve app); then one call per protocol and what to open.

    burnout demo --rows 20000     (what `make demo` runs after `make up`)

Each step has a name and the log to open when it fails; a failure prints the step, a one-line
cause and that log (the traceback goes to `<run_dir>/logs/demo-error.log`) and leaves the stack
running for inspection.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
import shutil
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from local_stack import demo_drift
from local_stack.airflow_service import AirflowClient, airflow_home
from local_stack.stack import Stack
from ray_jobs.core import s3
from ray_jobs.core.errors import BurnoutError
from ray_jobs.core.settings import Settings, get_settings
from ray_jobs.ingest import raw_prefix, upload_synthetic
from serve_app import client as serve_client
from serve_app.client import ServeClient
from serve_app.deploy import deploy

log = logging.getLogger(__name__)

PIPELINE = "burnout_pipeline"


class DemoFailed(BurnoutError):
    """A named step of the demo failed; the message says which, why, and where to look."""

    exit_code = 1


def one_line(error: BaseException, limit: int = 300) -> str:
    """The gist of an error: its type and first non-empty line (Ray's run to dozens)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = lines[0] if lines else ""
    if not isinstance(error, BurnoutError):
        text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


@contextlib.contextmanager
def step(settings: Settings, name: str, log_hint: str) -> Iterator[None]:
    """Run one step; turn any failure into DemoFailed naming the step, cause and log."""
    log.info("demo: %s", name)
    try:
        yield
    except Exception as error:  # noqa: BLE001  (any failure of the step: reported, not hidden)
        details = settings.run_dir / "logs" / "demo-error.log"
        details.parent.mkdir(parents=True, exist_ok=True)
        details.write_text(f"step: {name}\n\n{traceback.format_exc()}")
        raise DemoFailed(
            f"demo failed at step '{name}': {one_line(error)}\n"
            f"  look at:    {log_hint}\n"
            f"  traceback:  {details}\n"
            f"  the stack is still running for inspection: `{burnout()} status`; "
            "`make down` stops it"
        ) from None


def burnout() -> str:
    """How to call the `burnout` command from here (it lives in the venv, maybe not on PATH)."""
    script = Path(sys.executable).parent / "burnout"
    if shutil.which("burnout") == str(script):
        return "burnout"
    return os.path.relpath(script) if script.is_relative_to(Path.cwd()) else str(script)


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
    runs = f"{settings.mlflow_tracking_uri}/#/experiments/{training['experiment_id']}/runs"
    cmd = burnout()
    return f"""
burnout-ray demo finished in {seconds:.0f} s

  dataset version   {version}   rows {etl["rows"]}
  published to      {processed}{{train,validation,test,rejects}}/ + _manifest.json
{_champion(training)}
  training runs     {runs}
  registry          {settings.mlflow_tracking_uri}/#/models/{settings.model_name}

Open
  MLflow UI         {settings.mlflow_tracking_uri}   (experiments 'etl' and 'training')
  Ray dashboard     {settings.ray_address}   (asks for a token: paste what `{cmd} token` prints)
  S3 endpoint       {settings.s3_endpoint_url}   (keys in .env)

Try
  {cmd} status                      health, processes and memory of every service
  {cmd} ingest upload ../shared/data/employee_burnout_train.csv --name kaggle
  {cmd} etl --input s3://{settings.bucket_data}/raw/kaggle/
  {cmd} train --trials 8            tune all families on the latest dataset version
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
        failed = [task for task, state in finished["tasks"].items() if state == "failed"]
        raise BurnoutError(f"Airflow run {run_id} failed at task(s) {', '.join(failed) or '?'}")
    etl = airflow.xcom(PIPELINE, run_id, "etl")
    training = airflow.xcom(PIPELINE, run_id, "train")
    return etl, training, report


def grpcurl_line(settings: Settings) -> str:
    """The same Predict call with grpcurl (Serve's gRPC proxy answers server reflection)."""
    body = json.dumps({"records": [serve_client.SAMPLE]})
    headers = " ".join(
        f"-H {shlex.quote(f'{k}: {v}')}"
        for k, v in serve_client.grpc_metadata(settings.serve_app_name, settings.api_token())
    )
    return (
        f"grpcurl -plaintext {headers} -d {shlex.quote(body)} "
        f"{settings.host}:{settings.serve_grpc_port} burnout.v1.BurnoutService/Predict"
    )


def _calls(settings: Settings) -> str:
    """One sample call per protocol to the Serve app, and how to make it yourself."""
    serve = ServeClient.for_settings(settings)
    base = serve.base_url
    lines = [
        "",
        "Serving (Ray Serve, champion model)",
        f"  REST     POST {base}/predict  -> {json.dumps(serve.rest())}",
        f"  GraphQL  POST {base}/graphql  -> {json.dumps(serve.graphql())}",
        f"  gRPC     {settings.host}:{settings.serve_grpc_port} BurnoutService/Predict"
        f"  -> {json.dumps(serve.grpc_predict())}",
        f"  docs     {base}/docs   GraphiQL {base}/graphql",
        f"  yourself {grpcurl_line(settings)}",
        "",
        *why_lines(serve.explained(), f"POST {base}/predict?explain=true"),
        f"  model card  {base}/models/champion/card   (Markdown; HTML in a browser)",
        "",
    ]
    return "\n".join(lines)


def why_lines(prediction: dict[str, Any], call: str) -> list[str]:
    """An explained prediction, largest contributions first."""
    why = prediction["explanation"]
    model = prediction["model"]
    lines = [
        f"Why ({call}: {model['alias']} v{model['version']}, {why['method']})",
        f"  base value (mean prediction)        {why['base_value']:+.3f}",
    ]
    for c in sorted(why["contributions"], key=lambda c: -abs(c["contribution"])):
        shown = "missing, imputed" if c["imputed"] else c["value"]
        lines.append(f"  {c['feature']:<22} {shown!s:<16} {c['contribution']:+.3f}")
    lines.append(
        f"  = {why['prediction']:.3f} before clipping -> burn rate {prediction['burn_rate']:.3f}"
        f" ({prediction['risk_level']})"
    )
    return lines


def main(
    rows: int = typer.Option(20_000, min=1_000, help="synthetic rows to generate"),
    seed: int = typer.Option(42, help="generator seed"),
    trials: int = typer.Option(4, min=1, help="trials per model family"),
) -> None:
    """Generate demo data, let Airflow run the pipeline on Ray, then call every protocol."""
    started = time.monotonic()
    settings = get_settings()
    logs = settings.run_dir / "logs"
    serve_logs = settings.run_dir / "ray" / "session_latest" / "logs" / "serve"
    task_logs = airflow_home(settings) / "logs" / f"dag_id={PIPELINE}"
    target = raw_prefix(settings, "demo")
    with step(settings, "upload demo data to S3", str(logs / "s3.log")):
        s3.delete_prefix(s3.client(settings), target)
        upload_synthetic(settings, rows, seed, target)
    with step(settings, "start Airflow", str(logs / "airflow.log")):
        Stack(settings).up(("airflow",))
    # Serving first: the pipeline's last steps reload it and ask it for a prediction.
    with step(settings, "deploy the Serve application", f"{serve_logs}/"):
        deploy(settings)
    with step(
        settings,
        "run the pipeline in Airflow (ETL, training, reload, smoke test)",
        f"{task_logs}/ and the Jobs tab of {settings.ray_address}",
    ):
        etl, training, report = _run_pipeline(settings, str(target), trials)
    with step(settings, "call REST, GraphQL and gRPC", f"{serve_logs}/"):
        calls = _calls(settings)
    with step(settings, "serve a clean and a shifted batch", f"{serve_logs}/"):
        sent = demo_drift.serve_batches(settings, seed)
    with step(settings, "run the drift report job", f"the Jobs tab of {settings.ray_address}"):
        drift = demo_drift.drift_lines(settings, sent, demo_drift.drift_report(settings))
    summary = _summary(settings, etl, training, time.monotonic() - started)
    typer.echo(summary + report + calls + "\n".join(drift))
