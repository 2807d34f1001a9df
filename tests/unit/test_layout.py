"""The rings of the house: an import may only point inwards (see the README's layout)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

# What each ring may import of ours (its own package included).
ALLOWED = {
    "features": {"features"},
    "ray_jobs/core": {"features", "ray_jobs.core"},
    "ray_jobs/etl": {"features", "ray_jobs.core", "ray_jobs.etl"},
    "ray_jobs/train": {"features", "ray_jobs.core", "ray_jobs.train"},
    "ray_jobs/monitor": {"features", "ray_jobs.core", "ray_jobs.monitor"},
    "ray_jobs/ingest.py": {"features", "ray_jobs.core"},
    "ray_jobs/batch_predict.py": {"features", "ray_jobs.core"},
    "ray_jobs/submit.py": {"features", "ray_jobs.core"},
    "serve_app": {"features", "ray_jobs.core", "serve_app"},
    "airflow/dags": {"ray_jobs.core.jobs_client", "ray_jobs.submit", "serve_app.client"},
}
OURS = ("features", "ray_jobs", "serve_app", "local_stack")


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.split(".")[0] in OURS}


@pytest.mark.parametrize("ring", sorted(ALLOWED))
def test_imports_point_inwards(ring: str) -> None:
    root = REPO / ring
    files = [root] if root.is_file() else sorted(root.rglob("*.py"))
    assert files, ring
    allowed = ALLOWED[ring]
    wrong = {
        f"{path.relative_to(REPO)}: {name}"
        for path in files
        for name in _imports(path)
        if not any(name == a or name.startswith(f"{a}.") for a in allowed)
        and not any(a.startswith(f"{name}.") for a in allowed)  # the `from pkg import mod` head
    }
    assert not wrong, sorted(wrong)


def test_nothing_imports_the_local_stack() -> None:
    inner = [p for p in REPO.glob("*/**/*.py") if p.parts[len(REPO.parts)] in OURS[:3]]
    offenders = [str(p.relative_to(REPO)) for p in inner if any(
        n.startswith("local_stack") for n in _imports(p))]  # fmt: skip
    assert not offenders, offenders
