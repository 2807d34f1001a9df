"""Keep Ray Serve's hard-wired all-interface listeners on loopback (local stack only).

With the node on 127.0.0.1 (see `Settings.ray_env`) Ray's own servers bind loopback, but Ray 2.60
still binds some Serve servers to every interface whatever the node IP, with no setting to change
it: each replica's gRPC servers (direct ingress and inter-deployment calls, `[::]:port`), the
fallback gRPC proxy (`[::]:9500`) and HAProxy's stats and Prometheus frontends (`*:port`). The
local stack's Ray head puts `loopback_site/` on its workers' PYTHONPATH; its `sitecustomize`
calls `install()`, which rewrites those addresses when (and only if) the Serve modules load.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import logging
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

log = logging.getLogger(__name__)

LOOPBACK_IP = "127.0.0.1"
SITE_DIR = str(Path(__file__).resolve().parent / "loopback_site")
_WILDCARD = re.compile(r"^(\[::\]|0\.0\.0\.0|\*)?:(\d+)$")
_HAPROXY_BINDS = (  # (in Ray's template, what it becomes)
    ("bind :{{ config.metrics_port }}", "bind 127.0.0.1:{{ config.metrics_port }}"),
    ("bind *:{{ config.stats_port }}", "bind 127.0.0.1:{{ config.stats_port }}"),
)


def loopback_address(address: str) -> str:
    """`[::]:N`, `0.0.0.0:N`, `*:N` and `:N` become `127.0.0.1:N`; anything else is kept."""
    match = _WILDCARD.match(address)
    return f"{LOOPBACK_IP}:{match.group(2)}" if match else address


def _wrap_address(function: Callable[..., Any]) -> Callable[..., Any]:
    def bind_loopback(server: Any, address: str, *args: Any, **kwargs: Any) -> Any:
        return function(server, loopback_address(address), *args, **kwargs)

    return bind_loopback


def _patch_grpc_binding(module: ModuleType, attribute: str) -> None:
    function = getattr(module, attribute, None)
    if function is None:
        log.warning("%s.%s is gone: Serve may bind all interfaces", module.__name__, attribute)
        return
    setattr(module, attribute, _wrap_address(function))


def _patch_haproxy(module: ModuleType) -> None:
    template = getattr(module, "HAPROXY_CONFIG_TEMPLATE", "")
    for wildcard, loopback in _HAPROXY_BINDS:
        if wildcard not in template:
            log.warning("HAProxy template changed (%r): it may bind all interfaces", wildcard)
        template = template.replace(wildcard, loopback)
    module.HAPROXY_CONFIG_TEMPLATE = template  # type: ignore[attr-defined]


PATCHES: dict[str, Callable[[ModuleType], None]] = {
    "ray.serve._private.default_impl": lambda m: _patch_grpc_binding(m, "add_grpc_address"),
    "ray.serve._private.replica": lambda m: _patch_grpc_binding(m, "add_port_to_grpc_server"),
    "ray.serve._private.haproxy": _patch_haproxy,
}


class _PatchAfterImport(importlib.abc.MetaPathFinder):
    """Finds the modules in PATCHES as usual and patches each right after it executes."""

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name not in PATCHES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        execute = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            execute(module)
            PATCHES[name](module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def install() -> None:
    """Patch the Serve modules when they load (or now, if they already have)."""
    if any(isinstance(finder, _PatchAfterImport) for finder in sys.meta_path):
        return
    for name, patch in PATCHES.items():
        if name in sys.modules:
            patch(sys.modules[name])
    sys.meta_path.insert(0, _PatchAfterImport())
