"""What CI may not do: skip the real-data tests, or hang."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tests.conftest import REPO, require_real_data


def test_missing_real_data_skips_on_a_developer_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="real dataset not present"):
        require_real_data(tmp_path / "absent.csv")


def test_missing_real_data_fails_under_ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true and the real dataset not present"):
        require_real_data(tmp_path / "absent.csv")


def test_present_real_data_is_returned(tmp_path: Path) -> None:
    present = tmp_path / "employee_burnout_train.csv"
    present.write_text("Employee ID\n")
    assert require_real_data(present) == present


def test_pytest_has_a_timeout() -> None:
    options = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert 0 < int(options["timeout"]) <= 3600
    assert int(options["session_timeout"]) < 5400  # CI's own limit is 90 minutes
