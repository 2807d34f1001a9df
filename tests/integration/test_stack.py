"""The embedded local stack: health, idempotent up, buckets, persistence across restarts."""

from __future__ import annotations

import httpx
import pytest

from local_stack.stack import Stack, format_status
from ray_jobs.core import s3
from ray_jobs.core.settings import Settings
from tests.conftest import run_module

pytestmark = pytest.mark.integration


def test_status_reports_every_service_healthy(stack: Stack) -> None:
    rows = stack.status()
    assert [r["service"] for r in rows] == ["s3", "mlflow", "ray"]
    assert all(r["health"] == "healthy" for r in rows), format_status(rows)
    assert all(r["url"].startswith("http://127.0.0.1:") for r in rows)


def test_status_cli_prints_a_table(settings: Settings) -> None:
    result = run_module(settings, "local_stack.cli", "status")
    assert result.returncode == 0, result.stderr
    assert "mlflow" in result.stdout and "healthy" in result.stdout


def test_up_twice_keeps_the_same_processes(stack: Stack) -> None:
    before = {r["service"]: r["pid"] for r in stack.status()}
    stack.up()
    after = {r["service"]: r["pid"] for r in stack.status()}
    assert before == after


def test_buckets_exist(settings: Settings) -> None:
    names = {b["Name"] for b in s3.client(settings).list_buckets()["Buckets"]}
    assert {settings.bucket_data, settings.bucket_processed, settings.bucket_mlflow} <= names


def test_ray_jobs_api_requires_the_token(settings: Settings) -> None:
    url = f"{settings.ray_address}/api/jobs/"
    assert httpx.get(url, timeout=5).status_code == 401
    assert httpx.get(url, headers=settings.ray_auth_headers(), timeout=5).status_code == 200


def test_wrong_s3_keys_are_refused(settings: Settings) -> None:
    wrong = settings.model_copy(
        update={"s3_secret_key": type(settings.s3_secret_key)("wrong-secret")}
    )
    with pytest.raises(Exception, match="refused the credentials"):
        s3.check_reachable(wrong)


def test_s3_data_survives_a_restart(stack: Stack) -> None:
    client = s3.client(stack.settings)
    client.put_object(Bucket=stack.settings.bucket_data, Key="persist/check.txt", Body=b"kept")
    stack.down(("s3",))
    assert stack.status()[0]["health"] == "down"
    stack.up(("s3",))
    body = (
        s3.client(stack.settings)
        .get_object(Bucket=stack.settings.bucket_data, Key="persist/check.txt")["Body"]
        .read()
    )
    assert body == b"kept"


def test_s3_starts_in_a_checkout_whose_path_has_a_comma_and_spaces(stack: Stack) -> None:
    """weed reads -dir as a list of folders split at commas: `make up` failed in such a
    checkout (a stranger's clone, stop 27). Its data must still land in the run folder."""
    from local_stack.port_blocks import free_port_block
    from tests.conftest import make_settings

    run_dir = stack.settings.run_dir.parent / "my projects, 2026" / "burnout ray" / ".run"
    other = Stack(make_settings(run_dir, free_port_block()))
    try:
        other.up(("s3",))
        assert other.status()[0]["health"] == "healthy"
        client = s3.client(other.settings)
        client.put_object(Bucket=other.settings.bucket_data, Key="comma/check.txt", Body=b"ok")
        got = client.get_object(Bucket=other.settings.bucket_data, Key="comma/check.txt")
        assert got["Body"].read() == b"ok"
        assert any(path.is_file() for path in (run_dir / "s3").rglob("*"))
    finally:
        other.down()


def test_port_taken_by_a_stranger_is_reported(stack: Stack, tmp_path: object) -> None:
    import socket

    from local_stack.port_blocks import free_port_block
    from ray_jobs.core.errors import ServiceUnavailable
    from tests.conftest import make_settings

    base = free_port_block()
    other = Stack(make_settings(stack.settings.run_dir / "other", base))
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", base))
        blocker.listen()
        with pytest.raises(ServiceUnavailable, match=f"port {base}"):
            other.up(("s3",))
    other.down()


def test_sockets_get_short_paths_although_the_run_folder_is_deep(settings: Settings) -> None:
    import psutil

    from local_stack.run_paths import UNIX_MAX
    from tests.conftest import DEEP_RUN_DIR

    assert len(str(settings.run_dir)) >= DEEP_RUN_DIR
    assert settings.socket_dir is not None
    listening = [
        c.laddr
        for c in psutil.net_connections(kind="unix")
        if isinstance(c.laddr, str) and c.laddr.startswith(f"{settings.socket_dir}/")
    ]
    names = {path.rsplit("/", 1)[-1] for path in listening}
    assert {"plasma_store", "raylet"} <= names, listening
    assert all(len(path.encode()) <= UNIX_MAX for path in listening)
    # Ray's logs still live in the run folder: its temp dir there is what the short link names.
    assert (settings.run_dir / "ray" / "session_latest" / "logs").is_dir()


def test_status_counts_processes_and_memory(stack: Stack) -> None:
    rows = {r["service"]: r for r in stack.status()}
    assert int(rows["ray"]["processes"]) > 5  # gcs, raylet, dashboard, agents...
    for row in rows.values():
        rss, pss = (float(row[k].split()[0]) for k in ("rss", "pss"))
        assert 0 < pss <= rss, row


def test_a_failed_demo_names_the_step_and_leaves_the_stack_up(stack: Stack) -> None:
    result = run_module(
        stack.settings,
        "local_stack.cli",
        "demo",
        "--rows",
        "1000",
        extra_env={"BURNOUT_AIRFLOW_VENV": "/nonexistent/airflow-venv"},
        timeout=300,
    )
    assert result.returncode == 1
    assert "demo failed at step 'start Airflow': Airflow is not installed in" in result.stderr
    assert "look at:" in result.stderr and "Traceback" not in result.stderr
    assert all(r["health"] == "healthy" for r in stack.status())


def test_mlflow_runs_without_its_job_runner(stack: Stack) -> None:
    """MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false keeps the six huey consumers (1.8 GiB) away; an
    MLflow upgrade that renames the switch brings them back and fails this."""
    import psutil

    pid = stack.owned("mlflow").pid()
    assert pid is not None
    tree = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    commands = [" ".join(p.cmdline()) for p in tree]
    assert not [c for c in commands if "huey" in c], commands
