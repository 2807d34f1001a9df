"""A small client of Ray's Jobs REST API (bearer-token aware), shared by the CLI, the demo and
Airflow's DAG helpers; it needs httpx and websockets, not ray.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from websockets.exceptions import ConnectionClosedOK, WebSocketException
from websockets.sync.client import connect

from ray_jobs.core.errors import BurnoutError, ServiceUnavailable
from ray_jobs.core.settings import Settings

log = logging.getLogger(__name__)

TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}
FAILED = {"FAILED", "STOPPED"}


class JobFailed(BurnoutError):
    """The Ray job ended in FAILED or STOPPED."""

    exit_code = 1


def to_stdout(text: str) -> None:
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
        sink: Callable[[str], None] | None = to_stdout,
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
