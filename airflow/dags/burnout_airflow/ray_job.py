"""Run a Ray job from an Airflow task: the one piece every DAG uses to submit work.

Connection `ray_default` (type http): host and port of the Ray dashboard (Jobs REST API);
password = Ray's auth token when the cluster runs in token mode; extra `{"scheme": "https",
"runtime_env": {...}}` for a remote cluster (working_dir, pip, env_vars). Set it in the UI, or as
`AIRFLOW_CONN_RAY_DEFAULT` (`make airflow` does that from .env).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from burnout_airflow.defaults import safe_name

log = logging.getLogger(__name__)

RAY_CONN_ID = "ray_default"


def submission_key(dag_id: str, task_id: str, run_id: str, map_index: int = -1) -> str:
    """The Ray submission id of a task instance: the same for every try of it.

    A retry whose job is still running (or already succeeded) re-attaches to it; one whose job
    failed gets a new attempt (`<key>.2`), see `ray_jobs.core.jobs_client.JobsClient.submit`.
    """
    raw = f"airflow-{dag_id}-{task_id}-{run_id}"
    if map_index >= 0:
        raw += f"-{map_index}"
    return safe_name(raw)[:180]


def current_key() -> str:
    """The submission key of the running task instance (jobs that resume take it as theirs)."""
    from airflow.sdk import get_current_context

    ti = get_current_context()["ti"]
    return submission_key(ti.dag_id, ti.task_id, ti.run_id, ti.map_index)


def _client(conn_id: str) -> tuple[Any, dict[str, Any] | None]:
    from airflow.sdk import Connection

    from ray_jobs.core.jobs_client import JobsClient

    conn = Connection.get(conn_id)
    extra = conn.extra_dejson
    address = f"{extra.get('scheme', 'http')}://{conn.host}:{conn.port or 8265}"
    headers = {"Authorization": f"Bearer {conn.password}"} if conn.password else {}
    return JobsClient(address, headers), extra.get("runtime_env")


def _to_task_log(text: str) -> None:
    for line in text.rstrip("\n").splitlines():
        log.info("[ray] %s", line)


def run(entrypoint: str, timeout_s: float = 3600.0, conn_id: str = RAY_CONN_ID) -> dict[str, Any]:
    """Submit `entrypoint` for the current task instance, wait, return the job's JSON summary.

    The job's log is copied into the task log as it arrives; a failed job fails the task with
    Ray's error; a task that times out or is killed stops its Ray job.
    """
    from airflow.sdk import get_current_context

    from ray_jobs.submit import run_on, summary_line

    ti = get_current_context()["ti"]
    key = current_key()
    client, runtime_env = _client(conn_id)
    info = run_on(
        client,
        entrypoint,
        key,
        timeout_s,
        sink=_to_task_log,
        runtime_env=runtime_env,
        metadata={"airflow_dag": ti.dag_id, "airflow_task": ti.task_id, "airflow_run": ti.run_id},
    )
    summary = summary_line(client.logs(info["submission_id"]))
    log.info("Ray job %s summary: %s", info["submission_id"], json.dumps(summary))
    return summary
