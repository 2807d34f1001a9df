"""Submit a command as a Ray job over the Jobs REST API, stream its logs, exit with its result.

    python -m ray_jobs.submit -- python -m ray_jobs.etl --input s3://data/raw/demo/

This is the path Airflow takes too: the job runs on the cluster, not in the caller.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shlex
import uuid
from collections.abc import Callable
from typing import Annotated, Any

import httpx
import typer

from ray_jobs.core import cli
from ray_jobs.core.errors import BurnoutError
from ray_jobs.core.jobs_client import JobFailed, JobsClient, to_stdout
from ray_jobs.core.settings import Settings, get_settings

log = logging.getLogger(__name__)


def summary_line(text: str) -> dict[str, Any]:
    """The JSON object a job prints as its last line of stdout (its machine-readable result)."""
    for line in reversed(text.splitlines()):
        if line.startswith("{"):
            try:
                return dict(json.loads(line))
            except json.JSONDecodeError:
                continue
    raise BurnoutError("the job printed no JSON summary line")


def run_job(
    settings: Settings,
    entrypoint: str,
    submission_id: str | None = None,
    timeout_s: float = 3600.0,
    echo: bool = True,
) -> dict[str, Any]:
    """Submit and wait with the settings' cluster; see `run_on`."""
    return run_on(
        JobsClient.from_settings(settings),
        entrypoint,
        submission_id or f"burnout-{uuid.uuid4().hex[:12]}",
        timeout_s,
        sink=to_stdout if echo else None,
    )


def run_on(
    client: JobsClient,
    entrypoint: str,
    submission_id: str,
    timeout_s: float = 3600.0,
    sink: Callable[[str], None] | None = to_stdout,
    runtime_env: dict[str, Any] | None = None,
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Submit (or re-attach) and wait; raise JobFailed with Ray's message unless it succeeded.

    Whatever interrupts the wait (Ctrl-C, an orchestrator's timeout or kill) stops the Ray job
    first, so no job outlives the caller that owns it.
    """
    job_id = client.submit(entrypoint, submission_id, runtime_env, metadata)
    log.info("submitted Ray job %s: %s (dashboard %s/#/jobs)", job_id, entrypoint, client.address)
    try:
        info = client.wait(job_id, timeout_s, sink=sink)
    except BaseException:
        with contextlib.suppress(BurnoutError, httpx.HTTPError):
            client.stop(job_id)
        raise
    if info["status"] != "SUCCEEDED":
        # Ray appends the log tail to its message; the logs were already passed to the sink.
        message = (info.get("message") or "").split(", last available logs")[0]
        if sink is None:
            tail = "\n".join(client.logs(job_id).splitlines()[-40:])
            message = f"{message}; last log lines:\n{tail}"
        raise JobFailed(f"Ray job {job_id} {info['status']}: {message}".strip())
    log.info("Ray job %s succeeded", job_id)
    return info


app = typer.Typer(help=__doc__, pretty_exceptions_enable=False, add_completion=False)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def main(
    entrypoint: Annotated[list[str], typer.Argument(help="the command to run on the cluster")],
    submission_id: str = typer.Option("", help="idempotency key: re-attach if it exists"),
    timeout: float = typer.Option(3600.0, help="seconds before the job is stopped"),
) -> None:
    """Run ENTRYPOINT as a Ray job and exit 0 only if it succeeded."""
    run_job(get_settings(), shlex.join(entrypoint), submission_id or None, timeout)


if __name__ == "__main__":
    cli.run(app)
