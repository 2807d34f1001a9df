"""The locks and the build: runtime lock without dev tools, stubs built with the locked protoc."""

from __future__ import annotations

import os
import re
import subprocess
import tomllib

import pytest

from tests.conftest import REPO

DEV_TOOLS = {"pytest", "pytest-timeout", "ruff", "hypothesis", "schemathesis", "grpcio-tools"}


def _pins(name: str) -> dict[str, str]:
    text = (REPO / "requirements" / name).read_text()
    return dict(re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)", text, re.M))


def test_runtime_lock_has_no_test_or_lint_tools() -> None:
    runtime = _pins("lock.txt")
    assert "ray" in runtime and "mlflow" in runtime
    assert not DEV_TOOLS & set(runtime), sorted(DEV_TOOLS & set(runtime))


def test_dev_lock_is_the_runtime_lock_plus_tools() -> None:
    runtime, dev = _pins("lock.txt"), _pins("dev-lock.txt")
    assert {k: dev.get(k) for k in runtime} == runtime  # same versions where both pin
    assert set(dev) >= DEV_TOOLS


def test_the_build_generates_stubs_with_the_locked_grpcio_tools() -> None:
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["build-system"]["requires"]
    (pin,) = [r for r in requires if r.startswith("grpcio-tools")]
    assert pin == f"grpcio-tools=={_pins('dev-lock.txt')['grpcio-tools']}"


def test_mlflow_graphql_and_strawberry_agree() -> None:
    """MLflow's server needs graphene 3 (graphql-core < 3.3); strawberry must accept the same."""
    runtime = _pins("lock.txt")
    assert int(runtime["graphene"].split(".")[0]) >= 3
    assert tuple(int(p) for p in runtime["graphql-core"].split(".")[:2]) < (3, 3)


@pytest.mark.parametrize(
    ("venv", "modules"),
    [(".venv", ("ray", "mlflow", "sklearn", "pandas")), (".venv-airflow", ("airflow",))],
)
def test_installed_dependencies_come_with_their_bytecode(
    venv: str, modules: tuple[str, ...]
) -> None:
    """`make install` / `make airflow-install` compile bytecode: with PYTHONDONTWRITEBYTECODE
    (set on CI machines and in our images) nothing else would, and every process would compile
    its imports from source again."""
    python = REPO / venv / "bin" / "python"
    if not python.exists() and os.environ.get("CI") != "true":
        pytest.skip(f"{venv} is not installed here")
    script = (
        "import importlib.util, os, sys\n"
        "for name in sys.argv[1:]:\n"
        "    origin = importlib.util.find_spec(name).origin\n"
        "    print(name, os.path.exists(importlib.util.cache_from_source(origin)))\n"
    )
    answer = subprocess.run(
        [str(python), "-c", script, *modules], capture_output=True, text=True, check=True
    ).stdout.split()
    assert answer == [word for name in modules for word in (name, "True")], answer
