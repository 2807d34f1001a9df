"""Build hook: generate the gRPC stubs from serve_app/protos/*.proto on every build.

The stubs are never committed; generating them here means a plain `pip install .` or
`pip install -e .` gives a working gRPC server. They are written next to the .proto with
package-qualified imports (protoc runs from the project root), which Serve's gRPC proxy needs.
Everything else about the package is in pyproject.toml.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


def generate_stubs() -> None:
    """Run grpcio-tools' protoc on each .proto under serve_app/protos (root-relative paths)."""
    import grpc_tools
    from grpc_tools import protoc

    well_known = Path(grpc_tools.__file__).parent / "_proto"
    for proto in sorted((ROOT / "serve_app" / "protos").glob("*.proto")):
        args = [
            "grpc_tools.protoc",
            f"-I{ROOT}",
            f"-I{well_known}",
            f"--python_out={ROOT}",
            f"--grpc_python_out={ROOT}",
            str(proto.relative_to(ROOT)),
        ]
        if protoc.main(args) != 0:
            raise RuntimeError(f"protoc failed on {proto}")


class BuildPyWithStubs(build_py):
    def run(self) -> None:
        generate_stubs()
        super().run()


setup(cmdclass={"build_py": BuildPyWithStubs})
