"""The locks and the build: runtime lock without dev tools, stubs built with the locked protoc."""

from __future__ import annotations

import re
import tomllib

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
