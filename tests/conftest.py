"""Shared fixtures: a real local stack (SeaweedFS, MLflow, Ray head) on free ports."""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import psutil
import pytest

from local_stack.port_blocks import free_port_block, ray_ports
from local_stack.stack import Stack
from ray_jobs.core.settings import Settings, child_env, load_settings

REPO = Path(__file__).resolve().parent.parent
REAL_TRAIN_CSV = REPO.parent / "shared" / "data" / "employee_burnout_train.csv"

log = logging.getLogger(__name__)
DEEP_RUN_DIR = 150  # characters: deeper than any socket path limit allows on its own


def make_settings(run_dir: Path, base: int) -> Settings:
    """Settings for a private stack: own ports, own folder, random keys and token."""
    return load_settings(
        _env_file=None,
        run_dir=run_dir,
        s3_access_key="test-" + secrets.token_hex(4),
        s3_secret_key=secrets.token_urlsafe(18),
        ray_auth_token=secrets.token_urlsafe(24),
        s3_port=base,
        s3_internal_base_port=base + 1,
        mlflow_port=base + 5,
        **ray_ports(base),
        airflow_port=base + 19,
        airflow_admin_password=secrets.token_urlsafe(18),
        ray_num_cpus=2,
        ray_object_store_mb=512,
        serve_drift_poll_s=2,  # the drift gauges follow a new report within seconds
    )


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """The whole local stack, started once per test session and always stopped."""
    # Deliberately deep, like a real checkout nested in a workspace: unix sockets (Ray's,
    # HAProxy's) must still fit their length limits (local_stack/run_paths.py).
    top = Path(tempfile.mkdtemp(prefix="br-", dir="/tmp"))
    run_dir = deep_folder(top)
    settings = make_settings(run_dir, free_port_block())
    instance = Stack(settings)
    try:
        instance.up()
        yield instance
    finally:
        instance.down()
        leftovers = processes_mentioning(str(run_dir)) + processes_mentioning(
            str(settings.socket_dir)
        )
        for process in leftovers:
            process.kill()
        shutil.rmtree(top, ignore_errors=True)
    # `down` must stop everything the stack (and Serve inside Ray) started.
    assert not leftovers, [" ".join(p.info["cmdline"] or [])[:200] for p in leftovers]


def deep_folder(top: Path, depth: int = DEEP_RUN_DIR) -> Path:
    """A run folder at least `depth` characters long under `top`."""
    folder = top / "workspace" / "burnout-ray" / ".run"
    while len(str(folder)) < depth:
        folder = top / "a-nested-monorepo-folder" / folder.relative_to(top)
    return folder


def require_real_data(path: Path = REAL_TRAIN_CSV) -> Path:
    """The real public file; skip without it on a developer's machine, fail under CI=true."""
    if path.exists():
        return path
    missing(f"real dataset not present: {path} (../shared/data beside the checkout)")


def missing(what: str) -> NoReturn:
    """Something a test needs is absent: skip on a developer's machine, fail under CI=true."""
    if os.environ.get("CI", "").lower() in {"true", "1"}:
        pytest.fail(f"CI=true and the {what}", pytrace=False)
    pytest.skip(what)


@pytest.fixture(scope="session")
def real_train_csv() -> Path:
    return require_real_data()


def processes_mentioning(needle: str) -> list[psutil.Process]:
    """Processes (not this one) whose command line contains needle, e.g. a stack's run folder."""
    return [
        p
        for p in psutil.process_iter(["cmdline"])
        if needle in " ".join(p.info["cmdline"] or []) and p.pid != os.getpid()
    ]


def stack_listeners(settings: Settings) -> list[tuple[str, int, str]]:
    """(address, port, process name) of every listening TCP socket of the stack's processes:
    those naming its run or socket folder, and all their descendants."""
    roots = processes_mentioning(str(settings.run_dir))
    roots += processes_mentioning(str(settings.socket_dir))
    pids = {p.pid for p in roots}
    for process in roots:
        try:
            pids.update(child.pid for child in process.children(recursive=True))
        except psutil.NoSuchProcess:
            continue
    found = []
    for conn in psutil.net_connections(kind="inet"):
        if conn.status == psutil.CONN_LISTEN and conn.pid in pids:
            try:
                found.append((conn.laddr.ip, conn.laddr.port, psutil.Process(conn.pid).name()))
            except psutil.NoSuchProcess:
                continue
    return found


def is_loopback(host: str) -> bool:
    address = ipaddress.ip_address(host)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_loopback


@pytest.fixture(scope="session")
def settings(stack: Stack) -> Settings:
    return stack.settings


def run_module(
    settings: Settings,
    module: str,
    *args: str,
    timeout: float = 600,
    extra_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `python -m module args` as a user would, with the test stack's settings."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        env=child_env(settings, extra_env),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
