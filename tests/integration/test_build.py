"""A clean source tree (what git holds: no gRPC stubs) builds into a package with the stubs."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.integration


def test_building_the_project_generates_the_grpc_stubs(tmp_path: Path) -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    source = tmp_path / "src"
    for name in tracked:
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    assert not list((source / "serve_app" / "protos").glob("*_pb2*.py"))
    uv = Path(sys.executable).parent / "uv"
    result = subprocess.run(
        [str(uv), "build", "--wheel", "--out-dir", str(tmp_path / "dist"), str(source)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("burnout_ray-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"serve_app/protos/burnout_pb2.py", "serve_app/protos/burnout_pb2_grpc.py"} <= names
    stub = zipfile.ZipFile(wheel).read("serve_app/protos/burnout_pb2_grpc.py").decode()
    # Package-qualified import: Serve's gRPC proxy imports the stubs as part of the package.
    assert "from serve_app.protos import burnout_pb2" in stub
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "burnout = local_stack.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
