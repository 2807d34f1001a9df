"""Airflow, from this side: its environment (own virtualenv, home under the run folder,
connections to Ray and Serve) and a small client of its REST API to trigger and follow a DAG run.

Airflow never imports ray: it reaches the cluster through the Ray Jobs REST API, with the
connection defined here.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import httpx

from ray_jobs.core.errors import BurnoutError, ConfigError, ServiceUnavailable
from ray_jobs.core.settings import Settings, child_env

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
DAGS_FOLDER = REPO / "airflow" / "dags"
ADMIN_USER_SCRIPT = REPO / "airflow" / "admin_user.py"
FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
TERMINAL = {"success", "failed"}


def airflow_home(settings: Settings) -> Path:
    return settings.run_dir / "airflow"


def airflow_bin(settings: Settings, name: str = "airflow") -> str:
    """A console script of Airflow's own virtualenv."""
    path = settings.airflow_venv / "bin" / name
    if not path.exists():
        raise ConfigError(
            f"Airflow is not installed in {settings.airflow_venv}: run `make airflow-install`"
        )
    return str(path)


def _connection(
    host: str, port: int, password: str | None = None, extra: dict[str, Any] | None = None
) -> str:
    conn: dict[str, Any] = {"conn_type": "http", "host": host, "port": port}
    if password:
        conn["password"] = password
    if extra:
        conn["extra"] = extra
    return json.dumps(conn)


def airflow_env(
    settings: Settings, ray_runtime_env: dict[str, Any] | None = None
) -> dict[str, str]:
    """Environment for every Airflow process: config and connections. Users live in Airflow's
    database (FAB auth manager); airflow/admin_user.py sets the admin's password at each start.

    `ray_runtime_env` goes into the Ray connection: every job the DAGs submit gets it (for a
    remote cluster: working_dir, pip, env_vars).
    """
    if settings.airflow_admin_password is None:
        raise ConfigError(
            "BURNOUT_AIRFLOW_ADMIN_PASSWORD is not set: add it to .env (see .env.example)"
        )
    home = airflow_home(settings)
    home.mkdir(parents=True, exist_ok=True)
    token = (
        settings.ray_auth_token.get_secret_value()
        if settings.ray_auth_mode == "token" and settings.ray_auth_token
        else None
    )
    ray = httpx.URL(settings.ray_address)
    return child_env(
        settings,
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__PARALLELISM": "2",
            "AIRFLOW__CORE__AUTH_MANAGER": FAB_AUTH_MANAGER,
            "AIRFLOW__API__HOST": settings.host,
            "AIRFLOW__API__PORT": str(settings.airflow_port),
            "AIRFLOW__API__BASE_URL": f"http://{settings.host}:{settings.airflow_port}",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "AIRFLOW_CONN_RAY_DEFAULT": _connection(
                ray.host,
                ray.port or 8265,
                token,
                {"runtime_env": ray_runtime_env} if ray_runtime_env else None,
            ),
            "AIRFLOW_CONN_BURNOUT_SERVE": _connection(
                settings.host,
                settings.serve_http_port,
                settings.api_token(),
            ),
            # The DAG helpers import ray_jobs.submit / serve_app.client from this checkout.
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
            "NO_PROXY": "*",
            # Airflow starts task runners as `airflow ...` from PATH.
            "PATH": os.pathsep.join([str(settings.airflow_venv / "bin"), os.environ["PATH"]]),
            "AIRFLOW_VENV_BIN": str(settings.airflow_venv / "bin"),
            "AIRFLOW_ADMIN_USER_SCRIPT": str(ADMIN_USER_SCRIPT),
        },
    )


class AirflowClient:
    """Airflow 3's REST API (/api/v2) with a JWT from /auth/token."""

    def __init__(self, settings: Settings) -> None:
        self.base = f"http://{settings.host}:{settings.airflow_port}"
        secret = settings.airflow_admin_password
        self.password = secret.get_secret_value() if secret else ""
        self._token: str | None = None

    def _headers(self) -> dict[str, str]:
        if self._token is None:
            try:
                response = httpx.post(
                    f"{self.base}/auth/token",
                    json={"username": "admin", "password": self.password},
                    timeout=30,
                )
            except httpx.HTTPError as error:
                raise ServiceUnavailable(
                    f"Airflow at {self.base} is unreachable ({error.__class__.__name__}): "
                    "start it with `make airflow`"
                ) from None
            if response.status_code >= 400:
                raise ServiceUnavailable(
                    f"Airflow refused the login ({response.status_code}): check "
                    "BURNOUT_AIRFLOW_ADMIN_PASSWORD"
                )
            self._token = str(response.json()["access_token"])
        return {"Authorization": f"Bearer {self._token}"}

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = httpx.request(
            method, f"{self.base}/api/v2{path}", headers=self._headers(), timeout=30, **kwargs
        )
        if response.status_code >= 400:
            raise BurnoutError(f"Airflow {method} {path}: {response.status_code} {response.text}")
        return response.json()

    def wait_for_dag(self, dag_id: str, timeout_s: float = 180) -> None:
        """Until the dag-processor has parsed the DAG (a fresh Airflow needs a few seconds)."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self.request("GET", f"/dags/{dag_id}")
                return
            except BurnoutError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(2)

    def trigger(self, dag_id: str, conf: dict[str, Any]) -> str:
        """Start a DAG run now; its run id."""
        run = self.request(
            "POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf}
        )
        return str(run["dag_run_id"])

    def wait(self, dag_id: str, run_id: str, timeout_s: float) -> dict[str, Any]:
        """Poll the run to success/failed, logging each task's state as it changes."""
        deadline = time.monotonic() + timeout_s
        seen: dict[str, str] = {}
        while True:
            run = self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}")
            tasks = self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
            for ti in tasks.get("task_instances", []):
                state = str(ti.get("state"))
                if seen.get(ti["task_id"]) != state:
                    seen[ti["task_id"]] = state
                    log.info("airflow %s.%s: %s", dag_id, ti["task_id"], state)
            if run["state"] in TERMINAL:
                return {"run": run, "tasks": seen}
            if time.monotonic() > deadline:
                raise BurnoutError(f"DAG run {dag_id}/{run_id} did not finish in {timeout_s:.0f} s")
            time.sleep(2)

    def xcom(self, dag_id: str, run_id: str, task_id: str) -> Any:
        """A task's return value."""
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value"
        entry = self.request("GET", path)
        return entry.get("value")
