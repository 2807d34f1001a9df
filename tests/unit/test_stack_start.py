"""Starting a service that does not come up: what the error says, and the second attempt."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_stack import run_paths
from local_stack.services import Service
from local_stack.stack import Stack
from ray_jobs.core.errors import ServiceUnavailable
from ray_jobs.core.settings import load_settings

# Each start appends a line to `starts`; from the `ready_from`-th start on it creates `ready`.
SCRIPT = """
import sys, time
from pathlib import Path
starts, ready = Path(sys.argv[1]), Path(sys.argv[2])
ready_from, code = int(sys.argv[3]), int(sys.argv[4])
with starts.open("a") as f:
    f.write("start\\n")
if code:
    sys.exit(code)
if len(starts.read_text().splitlines()) >= ready_from:
    ready.touch()
time.sleep(120)
"""


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    settings = load_settings(
        _env_file=None,
        run_dir=tmp_path / ".run",
        s3_access_key="key",
        s3_secret_key="secret-key",
        ray_auth_token="t" * 24,
    )
    stack = Stack(settings)
    yield stack
    stack.down(("probe",))
    run_paths.remove(settings)


def add_probe(stack: Stack, tmp_path: Path, ready_from: int, exit_code: int = 0) -> Path:
    starts, ready = tmp_path / "starts", tmp_path / "ready"
    marker = f"--probe={tmp_path}"
    argv = [sys.executable, "-X", "faulthandler", "-c", SCRIPT, str(starts), str(ready)]
    stack.services["probe"] = Service(
        "probe",
        "probe://",
        1,
        marker,
        lambda: [*argv, str(ready_from), str(exit_code), marker],
        ready.exists,
        start_timeout_s=3.0,
        start_attempts=2,
        dumps_stacks=True,
    )
    return starts


def test_a_service_that_never_answers_has_its_stacks_dumped_and_is_started_twice(
    stack: Stack, tmp_path: Path
) -> None:
    starts = add_probe(stack, tmp_path, ready_from=99)
    with pytest.raises(ServiceUnavailable) as raised:
        stack.up(("probe",))
    message = str(raised.value)
    assert "probe did not become healthy" in message
    assert "its stacks are at the end of its log" in message and "load average" in message
    assert starts.read_text().splitlines() == ["start", "start"]
    log = stack.owned("probe").log_file.read_text()
    assert log.count("Fatal Python error: Aborted") == 2, log
    sleeping = SCRIPT.splitlines().index("time.sleep(120)") + 1
    assert f'File "<string>", line {sleeping} in <module>' in message  # where it sat


def test_a_service_that_answers_on_its_second_start_is_up(stack: Stack, tmp_path: Path) -> None:
    starts = add_probe(stack, tmp_path, ready_from=2)
    stack.up(("probe",))
    assert starts.read_text().splitlines() == ["start", "start"]
    assert stack.owned("probe").pid() is not None
    assert stack.owned("probe").log_file.read_text().count("Fatal Python error: Aborted") == 1


def test_a_service_that_exits_says_with_which_code(stack: Stack, tmp_path: Path) -> None:
    add_probe(stack, tmp_path, ready_from=1, exit_code=3)
    with pytest.raises(ServiceUnavailable, match="its process exited with code 3"):
        stack.up(("probe",))
