"""Submit a command as a Ray job over the Jobs REST API, stream its logs, exit with its result.

    python -m ray_jobs.submit -- python -m ray_jobs.etl --input s3://data/raw/demo/

This is the path Airflow takes too: the job runs on the cluster, not in the caller.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shlex
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
import typer
from websockets.exceptions import ConnectionClosedOK, WebSocketException
from websockets.sync.client import connect

from ray_jobs import cli
from ray_jobs.errors import BurnoutError, ServiceUnavailable
from ray_jobs.settings import Settings, get_settings

log = logging.getLogger(__name__)

TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}
FAILED = {"FAILED", "STOPPED"}


class JobFailed(BurnoutError):
    """The Ray job ended in FAILED or STOPPED."""

    exit_code = 1


def _stdout(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


@dataclass
class JobsClient:
    """A minimal client of Ray's Jobs REST API (bearer-token aware)."""

    address: str
    headers: dict[str, str]
    timeout: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> JobsClient:
        return cls(settings.ray_address.rstrip("/"), settings.ray_auth_headers())

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = httpx.request(
                method,
                f"{self.address}{path}",
                headers=self.headers,
                timeout=self.timeout,
                **kwargs,
            )
        except httpx.HTTPError as error:
            raise ServiceUnavailable(
                f"Ray Jobs API at {self.address} is unreachable ({error.__class__.__name__}): "
                "start the local stack with `make up` or set BURNOUT_RAY_ADDRESS"
            ) from None
        if response.status_code in (401, 403):
            raise ServiceUnavailable(
                f"Ray Jobs API at {self.address} refused the request ({response.status_code}): "
                "check BURNOUT_RAY_AUTH_MODE / BURNOUT_RAY_AUTH_TOKEN"
            )
        return response

    def submit(
        self,
        entrypoint: str,
        submission_id: str,
        runtime_env: dict[str, Any] | None = None,
        metadata: dict[str, str] | None = None,
    ) -> str:
        """Submit under an idempotency key, or re-attach to the job already made for it.

        A key's job that is pending, running or succeeded is re-attached (a retried caller never
        runs the work twice); one that failed or was stopped gets a new attempt `<key>.2`, `.3`...
        """
        attempt, existing = 1, self.status(submission_id)
        job_id = submission_id
        while existing is not None and existing["status"] in FAILED:
            attempt += 1
            job_id = f"{submission_id}.{attempt}"
            existing = self.status(job_id)
        if existing is not None:
            log.info("re-attaching to existing Ray job %s (%s)", job_id, existing["status"])
            return job_id
        body: dict[str, Any] = {"entrypoint": entrypoint, "submission_id": job_id}
        if runtime_env:
            body["runtime_env"] = runtime_env
        if metadata:
            body["metadata"] = metadata
        response = self._request("POST", "/api/jobs/", json=body)
        if response.status_code != 200:
            raise BurnoutError(f"Ray refused the job ({response.status_code}): {response.text}")
        return str(response.json()["submission_id"])

    def status(self, submission_id: str) -> dict[str, Any] | None:
        """The job's info, or None if there is no such job."""
        response = self._request("GET", f"/api/jobs/{submission_id}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return dict(response.json())

    def list_jobs(self) -> list[dict[str, Any]]:
        """Every job the cluster knows, newest and oldest alike."""
        response = self._request("GET", "/api/jobs/")
        response.raise_for_status()
        return list(response.json())

    def logs(self, submission_id: str) -> str:
        response = self._request("GET", f"/api/jobs/{submission_id}/logs")
        response.raise_for_status()
        return str(response.json().get("logs", ""))

    def stop(self, submission_id: str) -> None:
        self._request("POST", f"/api/jobs/{submission_id}/stop")

    def wait(
        self,
        submission_id: str,
        timeout_s: float,
        poll_s: float = 1.0,
        sink: Callable[[str], None] | None = _stdout,
    ) -> dict[str, Any]:
        """Wait for a terminal state, streaming the job's log to `sink`; stop the job on timeout.

        The log comes from the Jobs API's tail endpoint (a WebSocket that sends each new chunk
        once and closes when the job ends), not by re-reading the whole log every second, which
        costs a long job's log length at every poll.
        """
        deadline = time.monotonic() + timeout_s
        if sink is not None:
            try:
                self._follow(submission_id, deadline, sink)
            except (OSError, WebSocketException) as error:
                log.warning("cannot tail the log of %s (%s); polling it", submission_id, error)
                self._poll_logs(submission_id, deadline, poll_s, sink)
        while True:
            info = self.status(submission_id) or {"status": "PENDING"}
            if info["status"] in TERMINAL:
                return info
            self._check_deadline(submission_id, deadline)
            time.sleep(poll_s)

    def _follow(self, submission_id: str, deadline: float, sink: Callable[[str], None]) -> None:
        url = f"ws{self.address.removeprefix('http')}/api/jobs/{submission_id}/logs/tail"
        with connect(
            url,
            additional_headers=self.headers,
            proxy=None,
            open_timeout=self.timeout,
            max_size=None,
            # Ray's dashboard relays this socket from its JobHead subprocess and drops it at
            # once when permessage-deflate is negotiated (ray 2.60): ask for no compression.
            compression=None,
        ) as socket:
            while True:
                self._check_deadline(submission_id, deadline)
                try:
                    chunk = socket.recv(timeout=min(5.0, max(0.1, deadline - time.monotonic())))
                except TimeoutError:
                    continue
                except ConnectionClosedOK:
                    return
                sink(chunk if isinstance(chunk, str) else chunk.decode(errors="replace"))

    def _poll_logs(
        self, submission_id: str, deadline: float, poll_s: float, sink: Callable[[str], None]
    ) -> None:
        """The fallback: read the whole log each poll and pass on what is new."""
        shown = 0
        while True:
            info = self.status(submission_id) or {"status": "PENDING"}
            text = self.logs(submission_id)
            if len(text) > shown:
                sink(text[shown:])
                shown = len(text)
            if info["status"] in TERMINAL:
                return
            self._check_deadline(submission_id, deadline)
            time.sleep(poll_s)

    def _check_deadline(self, submission_id: str, deadline: float) -> None:
        if time.monotonic() > deadline:
            self.stop(submission_id)
            raise JobFailed(f"Ray job {submission_id} ran past its timeout; stopped it")


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
        sink=_stdout if echo else None,
    )


def run_on(
    client: JobsClient,
    entrypoint: str,
    submission_id: str,
    timeout_s: float = 3600.0,
    sink: Callable[[str], None] | None = _stdout,
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
