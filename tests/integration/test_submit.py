"""The Ray Jobs client that the CLI, the demo and Airflow share, against a real Ray head."""

from __future__ import annotations

import secrets
import shlex
import time

import pytest

from ray_jobs.core.jobs_client import JobFailed, JobsClient
from ray_jobs.core.settings import Settings
from ray_jobs.submit import run_on

pytestmark = pytest.mark.integration


@pytest.fixture
def client(settings: Settings) -> JobsClient:
    return JobsClient.from_settings(settings)


def _key(name: str) -> str:
    return f"test-{name}-{secrets.token_hex(4)}"


def test_a_key_runs_once_and_a_second_call_re_attaches(client: JobsClient) -> None:
    key = _key("once")
    first = run_on(client, "python -c 'print(\"first run\")'", key, timeout_s=120, sink=None)
    again = run_on(client, "python -c 'print(\"second run\")'", key, timeout_s=120, sink=None)
    assert first["submission_id"] == again["submission_id"] == key
    assert "first run" in client.logs(key)
    assert client.status(f"{key}.2") is None


def test_a_failed_key_is_retried_as_a_new_attempt(client: JobsClient) -> None:
    key = _key("retry")
    failing = "python -c 'import sys; print(\"boom: no data\"); sys.exit(4)'"
    with pytest.raises(JobFailed, match=rf"{key} FAILED"):
        run_on(client, failing, key, timeout_s=120, sink=None)
    with pytest.raises(JobFailed, match=rf"(?s){key}\.2 FAILED.*boom: no data"):
        run_on(client, failing, key, timeout_s=120, sink=None)
    assert client.status(key)["status"] == "FAILED"  # type: ignore[index]
    assert client.status(f"{key}.2")["status"] == "FAILED"  # type: ignore[index]


class Killed(BaseException):
    """What an orchestrator's timeout or kill looks like inside the waiting caller."""


def test_an_interrupted_wait_stops_the_ray_job(client: JobsClient) -> None:
    key = _key("killed")

    def sink(text: str) -> None:
        if "started" in text:
            raise Killed

    with pytest.raises(Killed):
        run_on(
            client,
            "python -c 'import time; print(\"started\", flush=True); time.sleep(120)'",
            key,
            timeout_s=120,
            sink=sink,
        )
    deadline = time.monotonic() + 30
    while client.status(key)["status"] not in {"STOPPED", "FAILED"}:  # type: ignore[index]
        assert time.monotonic() < deadline, "the Ray job kept running after its caller died"
        time.sleep(0.5)
    assert client.status(key)["status"] == "STOPPED"  # type: ignore[index]


def test_the_log_is_streamed_from_the_tail_endpoint_each_line_once(
    client: JobsClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = _key("tail")
    chunks: list[str] = []
    # The whole log is not re-read while the job runs (it was, every second, before).
    monkeypatch.setattr(JobsClient, "logs", lambda *_: pytest.fail("polled the whole log"))
    lines = ["import time", "for i in range(5):", "    print(f'line {i}'); time.sleep(0.4)"]
    script = "\n".join(lines)
    run_on(client, f"python -c {shlex.quote(script)}", key, timeout_s=120, sink=chunks.append)
    monkeypatch.undo()
    streamed = "".join(chunks)
    assert [line for line in streamed.splitlines() if line.startswith("line ")] == [
        f"line {i}" for i in range(5)
    ]
    assert streamed == client.logs(key)
