"""Socket paths: short at any checkout depth, and one clear line when they still do not fit."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from local_stack import run_paths
from ray_jobs.core.errors import ConfigError
from ray_jobs.core.settings import load_settings


def _settings(run_dir: Path, **overrides: object) -> object:
    return load_settings(
        _env_file=None,
        run_dir=run_dir,
        s3_access_key="key",
        s3_secret_key="secret-key",
        ray_auth_token="t" * 24,
        **overrides,
    )


def test_a_deep_run_folder_gets_a_short_socket_folder(tmp_path: Path) -> None:
    deep = tmp_path / ("nested-" * 40) / ".run"
    settings = _settings(deep)
    assert len(str(settings.run_dir)) > 300
    assert str(settings.socket_dir).startswith("/tmp/br-") and len(str(settings.socket_dir)) < 20
    run_paths.check(settings)  # every socket fits
    assert _settings(deep).socket_dir == settings.socket_dir  # stable for the same run folder
    assert _settings(tmp_path / "other").socket_dir != settings.socket_dir


def test_a_socket_folder_too_long_fails_with_one_line_naming_the_setting(tmp_path: Path) -> None:
    settings = _settings(tmp_path, socket_dir=tmp_path / ("x" * 60))
    with pytest.raises(ConfigError) as failure:
        run_paths.check(settings)
    message = str(failure.value)
    assert "\n" not in message
    assert "BURNOUT_SOCKET_DIR" in message
    assert "over the 107 Linux allows" in message  # Ray's plasma socket is checked first


def test_prepare_links_rays_temp_dir_into_the_run_folder(tmp_path: Path) -> None:
    short = Path(tempfile.mkdtemp(prefix="br-t", dir="/tmp")) / "s"
    settings = _settings(tmp_path / "run", socket_dir=short)
    try:
        run_paths.prepare(settings)
        link = run_paths.ray_temp_dir(settings)
        assert link.is_symlink() and link.resolve() == (tmp_path / "run" / "ray").resolve()
        assert short.stat().st_mode & 0o777 == 0o700
        run_paths.prepare(settings)  # idempotent
        run_paths.remove(settings)
        assert not short.exists() and (tmp_path / "run" / "ray").is_dir()
    finally:
        shutil.rmtree(short.parent, ignore_errors=True)


def test_haproxy_sockets_go_to_the_socket_folder_and_files_to_the_run_folder(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path / "run", socket_dir=tmp_path / "s")
    env = run_paths.haproxy_env(settings)
    assert env["RAY_SERVE_HAPROXY_SOCKET_PATH"].startswith(str(tmp_path / "s"))
    assert env["RAY_SERVE_HAPROXY_METRICS_SOCKET_PATH"].startswith(str(tmp_path / "s"))
    # HAProxy's config is named through the socket folder (no space there) but lives in the run
    # folder.
    config = Path(env["RAY_SERVE_HAPROXY_CONFIG_FILE_LOC"])
    assert str(config).startswith(str(tmp_path / "s"))
    assert config.parent.resolve() == (settings.run_dir / "haproxy").resolve()
    assert run_paths.haproxy_env(_settings(tmp_path, serve_haproxy=False)) == {}


def test_ray_runs_an_interpreter_path_without_the_checkout_s_spaces(tmp_path: Path) -> None:
    """Ray starts some processes through a shell without quoting: from a checkout path with a
    space the head died. The nodes run this environment through a link in the socket folder."""
    short = Path(tempfile.mkdtemp(prefix="br-t", dir="/tmp"))
    try:
        settings = _settings(tmp_path / "a folder with spaces" / ".run", socket_dir=short / "s")
        run_paths.prepare(settings)
        python = run_paths.ray_python(settings)
        assert " " not in python and python.startswith(str(short / "s"))
        result = subprocess.run(
            [python, "-c", "import ray, sys; print(sys.prefix, ray.__file__)"],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )
        prefix, ray_file = result.stdout.split()
        assert Path(prefix).resolve() == Path(sys.prefix).resolve()
        assert ray_file.startswith(str(short / "s"))  # so Ray's own paths (LD_PRELOAD) are short
    finally:
        shutil.rmtree(short, ignore_errors=True)
