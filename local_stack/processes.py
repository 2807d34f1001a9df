"""Start, find and stop the background processes we own, by PID file and process group.

A PID file records the PID and a marker that must appear in the process's command line, so a
recycled PID belonging to somebody else is never signalled.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from ray_jobs.core.errors import BurnoutError

log = logging.getLogger(__name__)
EXEC_WAIT_S = 5.0  # for a started child to exec its own program


@dataclass(frozen=True)
class Owned:
    """A process we started: where its PID file and log live."""

    name: str
    pid_file: Path
    log_file: Path

    def _record(self) -> tuple[int, str] | None:
        try:
            record = json.loads(self.pid_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return int(record["pid"]), str(record["marker"])

    def pid(self) -> int | None:
        """The PID if the recorded process is still alive and still ours."""
        if (record := self._record()) is None:
            return None
        pid, marker = record
        try:
            process = psutil.Process(pid)
            if process.status() == psutil.STATUS_ZOMBIE:
                return None
            if marker not in " ".join(process.cmdline()):
                return None
        except psutil.Error:
            return None
        return pid

    def start(self, argv: list[str], env: dict[str, str], marker: str, cwd: Path) -> int:
        """Start argv in its own session (so its whole group can be stopped), log to a file."""
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log_handle:
            process = subprocess.Popen(
                argv,
                stdout=log_handle,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=cwd,
                start_new_session=True,
            )
        self.pid_file.write_text(json.dumps({"pid": process.pid, "marker": marker}))
        # Until the child has exec'd, its command line is still ours and pid() says "not ours":
        # a caller polling health "until healthy or gone" then gave up at once ("in 0 s").
        deadline = time.monotonic() + EXEC_WAIT_S
        while self.pid() is None and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        return process.pid

    def stop(
        self,
        timeout: float = 20.0,
        also_matching: tuple[str, ...] = (),
        sig: signal.Signals = signal.SIGTERM,
    ) -> bool:
        """Signal the process group, SIGKILL what is left; True if something was stopped.

        `also_matching` names strings (for example Ray's temp dir) whose presence in a command
        line marks a stray child that left the group; those are stopped too.
        """
        pid = self.pid()
        victims: list[psutil.Process] = []
        if pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, sig)
            with contextlib.suppress(psutil.Error):
                victims.append(psutil.Process(pid))
        if also_matching:
            for needle in also_matching:
                victims.extend(_matching(needle))
            for process in victims:
                with contextlib.suppress(psutil.Error):
                    process.terminate()
        _, alive = psutil.wait_procs(victims, timeout=timeout)
        for process in alive:
            with contextlib.suppress(psutil.Error):
                process.kill()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        psutil.wait_procs(alive, timeout=5)
        self.pid_file.unlink(missing_ok=True)
        return pid is not None or bool(victims)

    def how_it_ended(self) -> str:
        """Why the recorded process is not running: its exit code or signal, when this process
        started it and can still reap it; else only that it is gone."""
        if (record := self._record()) is None:
            return "it was never started"
        try:
            reaped, status = os.waitpid(record[0], os.WNOHANG)
        except ChildProcessError:  # not our child, or reaped already (by subprocess)
            return "its process is gone"
        if reaped == 0:
            return "its process is still running"
        if os.WIFSIGNALED(status):
            return f"its process was killed by {signal.Signals(os.WTERMSIG(status)).name}"
        return f"its process exited with code {os.waitstatus_to_exitcode(status)}"

    def dump_stacks(self, wait_s: float = 5.0) -> bool:
        """Ask a running Python process started with `-X faulthandler` to write every thread's
        stack to its log (SIGABRT, which also ends it); True if it was running."""
        pid = self.pid()
        if pid is None:
            return False
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGABRT)
        with contextlib.suppress(psutil.Error):
            psutil.Process(pid).wait(timeout=wait_s)
        return True

    def tail(self, lines: int = 20) -> str:
        """The end of the log, for error messages."""
        try:
            text = self.log_file.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return ""
        return "\n".join(text[-lines:])


def _matching(needle: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        # Padded, so that a needle ending in a space (`--port=1777 `) matches a whole last word.
        cmdline = f" {' '.join(process.info.get('cmdline') or [])} "
        if needle in cmdline and process.pid != os.getpid():
            found.append(process)
    return found


def tree_usage(pid: int | None) -> tuple[int, int, int]:
    """(processes, summed RSS, summed PSS) of a process and its descendants; zeros if gone.

    RSS counts pages shared between processes (Ray's forked dashboard modules, say) once per
    process; PSS splits them among their sharers, so the PSS sum is the real footprint.
    """
    if pid is None:
        return 0, 0, 0
    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0, 0, 0
    count = rss = pss = 0
    for process in tree:
        with contextlib.suppress(psutil.Error):
            memory = process.memory_full_info()
            rss += memory.rss
            pss += getattr(memory, "pss", memory.rss)  # PSS is Linux-only
            count += 1
    return count, rss, pss


def console_script(name: str) -> str:
    """A console script of this environment (next to the interpreter), else from PATH."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if not found:
        raise BurnoutError(f"'{name}' is not installed: run `make install`")
    return found
