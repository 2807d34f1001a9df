"""The `burnout` command: its subcommands, log level from .env, and the demo's failure report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from local_stack.demo import DemoFailed, one_line, step
from ray_jobs.core import cli
from ray_jobs.core.errors import NotFound, ServiceUnavailable
from ray_jobs.core.settings import load_settings

SUBCOMMANDS = ["up", "down", "status", "ingest", "etl", "train", "batch-predict", "submit"]
SUBCOMMANDS += ["serve", "demo", "token"]


def test_burnout_help_lists_every_subcommand() -> None:
    script = Path(sys.executable).parent / "burnout"
    result = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    for name in SUBCOMMANDS:
        assert f" {name} " in result.stdout, name


def test_log_level_comes_from_dotenv_unless_the_environment_sets_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BURNOUT_LOG_LEVEL", raising=False)
    assert cli.log_level() == "INFO"
    (tmp_path / ".env").write_text("BURNOUT_LOG_LEVEL=debug\n")
    assert cli.log_level() == "DEBUG"
    monkeypatch.setenv("BURNOUT_LOG_LEVEL", "warning")
    assert cli.log_level() == "WARNING"


def test_one_line_keeps_the_gist_of_a_long_error() -> None:
    error = RuntimeError("\nHAProxy crashed during startup\n" + "\n".join(["frame"] * 60))
    assert one_line(error) == "RuntimeError: HAProxy crashed during startup"
    assert one_line(ServiceUnavailable("ray is down\nlog tail")) == "ray is down"
    assert len(one_line(ValueError("x" * 1000))) == 300


def test_a_failed_step_names_itself_its_cause_and_its_log(tmp_path: Path) -> None:
    settings = load_settings(
        _env_file=None,
        run_dir=tmp_path,
        s3_access_key="key",
        s3_secret_key="secret-key",
        ray_auth_token="t" * 24,
    )
    with pytest.raises(DemoFailed) as failure, step(settings, "deploy serving", "serve.log"):
        raise RuntimeError("HAProxy crashed during startup\n" + "frame\n" * 60)
    message = str(failure.value)
    assert message.startswith(
        "demo failed at step 'deploy serving': RuntimeError: HAProxy crashed during startup"
    )
    assert "serve.log" in message and "still running" in message
    assert message.count("\n") < 6
    traceback_file = tmp_path / "logs" / "demo-error.log"
    assert "Traceback" in traceback_file.read_text() and str(traceback_file) in message


JOB_SCRIPT = """
import atexit, logging, sys
import typer
from ray_jobs.core import cli
from ray_jobs.core.errors import NotFound

app = typer.Typer()


@app.command()
def main(fail: bool = False) -> None:
    atexit.register(lambda: print("interpreter teardown ran"))
    logging.getLogger("job").warning("working")
    if fail:
        raise NotFound("no such dataset version")
    typer.echo("x" * 200_000)
    typer.echo('{"summary": "last line"}')


cli.run(app, job=True)
"""


@pytest.mark.parametrize("fail", [False, True])
def test_a_job_leaves_without_teardown_once_done_and_loses_no_output(
    fail: bool, tmp_path: Path
) -> None:
    script = tmp_path / "job.py"
    script.write_text(JOB_SCRIPT)
    result = subprocess.run(
        [sys.executable, str(script), *(["--fail"] if fail else [])],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert "working" in result.stderr
    if fail:  # the error path exits as before: its code, the teardown runs
        assert result.returncode == NotFound.exit_code, result.stderr
        assert "no such dataset version" in result.stderr
        assert "interpreter teardown ran" in result.stdout
    else:
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert lines == ["x" * 200_000, '{"summary": "last line"}']  # flushed, teardown skipped
