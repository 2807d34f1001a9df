"""Airflow on one machine, as the local stack runs it: `python -m local_stack.airflow_local HOME`.

Instead of `airflow standalone` it migrates the database and sets the admin user's password
(airflow/admin_user.py), then runs the api-server, scheduler and dag-processor as children of this
process (one process group, stopped together by the stack).
What it leaves out, and why:
- the log servers (`airflow serve-logs`): Airflow 3 binds them to every interface with no host
  setting, and on one machine the api-server reads task logs from the log folder directly, so
  the scheduler runs with `--skip-serve-logs`;
- the triggerer: no task of this project defers, and it would start a log server of its own.
If any component exits, the others are stopped and this process exits with its code.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from types import FrameType

log = logging.getLogger(__name__)

MODULE = "local_stack.airflow_local"


def components(airflow: str, host: str, port: str) -> dict[str, list[str]]:
    """The command line of each long-running Airflow component."""
    return {
        "api-server": [airflow, "api-server", "--host", host, "--port", port, "--workers", "1"],
        "scheduler": [airflow, "scheduler", "--skip-serve-logs"],
        "dag-processor": [airflow, "dag-processor"],
    }


def _stop(children: dict[str, subprocess.Popen[bytes]], timeout_s: float = 20) -> None:
    for child in children.values():
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + timeout_s
    for child in children.values():
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()


def main(home: str) -> int:
    """Migrate, set the admin's password, start the components, and wait for the first to exit
    (or for SIGTERM)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s airflow_local: %(message)s")
    os.environ["AIRFLOW_HOME"] = home
    airflow = os.path.join(os.environ["AIRFLOW_VENV_BIN"], "airflow")
    python = os.path.join(os.environ["AIRFLOW_VENV_BIN"], "python")
    for step in ([airflow, "db", "migrate"], [python, os.environ["AIRFLOW_ADMIN_USER_SCRIPT"]]):
        done = subprocess.run(step, check=False)
        if done.returncode != 0:
            log.error("%s failed (exit %d)", " ".join(step[1:]), done.returncode)
            return done.returncode
    host, port = os.environ["AIRFLOW__API__HOST"], os.environ["AIRFLOW__API__PORT"]
    children = {
        name: subprocess.Popen(argv) for name, argv in components(airflow, host, port).items()
    }
    stopping = False

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        log.info("signal %d: stopping %s", signum, ", ".join(children))
        _stop(children)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("started %s", ", ".join(f"{n} (pid {c.pid})" for n, c in children.items()))
    while True:
        for name, child in children.items():
            code = child.poll()
            if code is not None:
                if not stopping:
                    log.error("%s exited with %d: stopping the others", name, code)
                    _stop(children)
                return 0 if stopping else (code or 1)
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
