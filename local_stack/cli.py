"""`burnout`: one command for the local stack, the pipeline's jobs, serving and the demo.

    burnout up | down | status          the local stack (S3, MLflow, Ray head; Airflow on request)
    burnout ingest synthetic | upload   raw CSVs into s3://<data>/raw/<name>/
    burnout etl | train | batch-predict ARGS...   the job, submitted to Ray over the Jobs API
    burnout submit -- COMMAND...        any command as a Ray job
    burnout serve up | down | status    the Ray Serve application
    burnout demo                        everything, end to end, through Airflow
    burnout token                       the Ray dashboard's token, to paste into its login

Every subcommand is also a module (`python -m ray_jobs.etl ...`) that Airflow and the Makefile
call the same way; jobs given here run on the cluster, not in this process.
"""

from __future__ import annotations

import shlex

import typer

from local_stack import demo, stack
from ray_jobs import ingest, submit
from ray_jobs.core import cli
from ray_jobs.core.errors import ConfigError
from ray_jobs.core.settings import get_settings
from serve_app import deploy

PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}
JOBS = {
    "etl": ("ray_jobs.etl", "Validate, clean and split raw CSVs into a dataset version."),
    "train": ("ray_jobs.train", "Tune LightGBM, KNN and SVR; register and promote the best."),
    "batch-predict": ("ray_jobs.batch_predict", "Score raw CSVs with a registered model."),
}

HELP = (
    "One command for the local stack, the pipeline's jobs, serving and the demo. Jobs (etl, "
    "train, batch-predict, submit) run on the Ray cluster over the Jobs API; each is also a "
    "module (python -m ray_jobs.etl ...) that Airflow and the Makefile call the same way."
)

app = typer.Typer(
    help=HELP, no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False
)
for name in ("up", "down", "status"):
    app.command(name)(getattr(stack, name))
app.add_typer(ingest.app, name="ingest", help="Put raw CSVs (synthetic or a file) into S3.")
app.add_typer(deploy.app, name="serve", help="Deploy, remove or inspect the Serve application.")
app.command("submit", context_settings=PASS_THROUGH)(submit.main)


def _job_command(module: str) -> typer.models.CommandFunctionType:
    def command(
        ctx: typer.Context,
        timeout: float = typer.Option(3600.0, help="seconds before the job is stopped"),
    ) -> None:
        submit.run_job(
            get_settings(), shlex.join(["python", "-m", module, *ctx.args]), None, timeout
        )

    return command


for name, (module, summary) in JOBS.items():
    app.command(
        name,
        context_settings=PASS_THROUGH,
        help=f"{summary} Runs `python -m {module} ARGS` as a Ray job.",
    )(_job_command(module))


app.command("demo")(demo.main)


@app.command()
def token() -> None:
    """Print the Ray dashboard / Jobs API token (BURNOUT_RAY_AUTH_TOKEN) to paste into its login."""
    settings = get_settings()
    if settings.ray_auth_mode != "token" or settings.ray_auth_token is None:
        raise ConfigError("Ray token auth is off (BURNOUT_RAY_AUTH_MODE=disabled): no token")
    typer.echo(settings.ray_auth_token.get_secret_value())


def main() -> None:
    """The console script."""
    cli.run(app)


if __name__ == "__main__":
    main()
