"""Where the local stack keeps its unix sockets, and the check that they fit.

A unix socket path is limited to 107 bytes on Linux (`sun_path`) and HAProxy accepts 97; Ray puts
its plasma and raylet sockets under its temp folder (`ray start` has no option to move them), and
Serve puts HAProxy's admin and metrics sockets in a folder named after the 56-character node id.
Under a checkout's `.run/` that overflows at almost any real path, so sockets are addressed through
a short per-stack folder (`Settings.socket_dir`, default `/tmp/br-<hash of the run folder>`):
HAProxy's sockets live there, and Ray's temp folder is `<socket_dir>/ray`, a symlink to
`<run_dir>/ray`, so Ray's sockets get short paths while its logs and spilled objects stay in the
run folder (the kernel limits the path string, not the resolved one).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from ray_jobs.core.errors import ConfigError
from ray_jobs.core.settings import Settings

UNIX_MAX = 107  # Linux sun_path (108) less the terminating NUL
HAPROXY_MAX = 97  # what HAProxy itself accepts for a unix socket path
RAY_NODE_ID_CHARS = 56  # Serve nests HAProxy's sockets in a folder named after the node id
# Ray's session folder: session_<date>_<time>_<microseconds>_<pid>, a 7-digit pid at most.
RAY_SESSION = "session_2026-01-01_00-00-00_000000_1234567"
RAY_SOCKETS = ("sockets/plasma_store", "sockets/raylet")
REPLICA_PORTS = 50  # per protocol: ingress replicas of one stack (HTTP, then gRPC)


def socket_dir(settings: Settings) -> Path:
    assert settings.socket_dir is not None  # derived by Settings when left empty
    return settings.socket_dir


def ray_temp_dir(settings: Settings) -> Path:
    """Ray's --temp-dir: a short symlink to `<run_dir>/ray` (created by `prepare`)."""
    return socket_dir(settings) / "ray"


def haproxy_files(settings: Settings) -> Path:
    """HAProxy's config and state: `<run_dir>/haproxy`, reached through a link in the socket
    folder (made by `haproxy_env`)."""
    return socket_dir(settings) / "haproxy"


def haproxy_socket_folder(settings: Settings) -> Path:
    return socket_dir(settings) / "hp"


def linked(settings: Settings, name: str, target: Path) -> Path:
    """`<socket_dir>/<name>`, a link to `target` (both made here): a short path, free of the
    checkout's spaces and commas, for tools that split or do not quote their arguments."""
    link = socket_dir(settings) / name
    link.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    target.mkdir(parents=True, exist_ok=True)
    _link(link, target)
    return link


def _longest_paths(settings: Settings) -> list[tuple[str, int, str]]:
    """(path, limit, who imposes it) for every socket the stack will create."""
    node = "n" * RAY_NODE_ID_CHARS
    session = ray_temp_dir(settings) / RAY_SESSION
    paths = [(str(session / name), UNIX_MAX, "Linux") for name in RAY_SOCKETS]
    if settings.serve_haproxy:
        for name in ("admin.sock", "metrics.sock"):
            path = haproxy_socket_folder(settings) / node / name
            paths.append((str(path), HAPROXY_MAX, "HAProxy"))
    return paths


def check(settings: Settings) -> None:
    """Fail with one line if a socket path of this stack would be too long."""
    for path, limit, who in _longest_paths(settings):
        if len(path.encode()) > limit:
            raise ConfigError(
                f"unix socket path {path} is {len(path.encode())} bytes, over the {limit} "
                f"{who} allows: set BURNOUT_SOCKET_DIR to a shorter folder "
                f"(now {socket_dir(settings)})"
            )


def prepare(settings: Settings) -> Path:
    """Check the socket paths; create the socket folder (private) and Ray's temp-dir link."""
    check(settings)
    folder = socket_dir(settings)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if folder.stat().st_uid != os.getuid():  # /tmp is shared: never use somebody else's folder
        raise ConfigError(
            f"socket folder {folder} belongs to another user: set BURNOUT_SOCKET_DIR elsewhere"
        )
    linked(settings, ray_temp_dir(settings).name, settings.run_dir / "ray")
    _link(folder / "venv", Path(sys.prefix))
    return folder


def _link(link: Path, target: Path) -> None:
    if link.is_symlink() and link.resolve() != target.resolve():
        link.unlink()
    if not link.is_symlink():
        link.symlink_to(target, target_is_directory=True)


def ray_python(settings: Settings) -> str:
    """The interpreter the Ray nodes run, reached through `<socket_dir>/venv` (a link to this
    environment, made by `prepare`).

    Ray 2.60 starts some processes through a shell without quoting (the Ray Client server, the
    jemalloc LD_PRELOAD built from Ray's install path): from a checkout whose path has a space,
    the head died at start. Every Ray process inherits this space-free path instead.
    """
    try:
        inside = Path(sys.executable).relative_to(sys.prefix)
    except ValueError:  # not a venv-style layout: nothing to shorten
        return sys.executable
    return str(socket_dir(settings) / "venv" / inside)


def remove(settings: Settings) -> None:
    """Delete the socket folder (after every process using it has stopped)."""
    shutil.rmtree(socket_dir(settings), ignore_errors=True)


def haproxy_env(settings: Settings) -> dict[str, str]:
    """Serve's fast path: HTTP and gRPC served by each ingress replica, HAProxy in front.

    The Python proxy costs most of the throughput on 2 cores (see docs/benchmarks.md). HAProxy's
    config and state go to the run folder and its sockets to the socket folder instead of a
    shared /tmp folder, and each stack gets its own replica port range: Ray's default range is
    shared by every cluster on the host, and a second stack's HAProxy could otherwise reach the
    first stack's replica.
    """
    if not settings.serve_haproxy:
        return {}
    # HAProxy's config names these paths unquoted: through the socket folder they have no space.
    files = linked(settings, haproxy_files(settings).name, settings.run_dir / "haproxy")
    sockets = haproxy_socket_folder(settings)
    base = settings.serve_replica_base_port
    return {
        "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
        "RAY_SERVE_ENABLE_HA_PROXY": "1",
        "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": str(files / "haproxy.cfg"),
        "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": str(files),
        "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": str(files / "server-state"),
        "RAY_SERVE_HAPROXY_SOCKET_PATH": str(sockets / "admin.sock"),
        "RAY_SERVE_HAPROXY_METRICS_SOCKET_PATH": str(sockets / "metrics.sock"),
        "RAY_SERVE_HAPROXY_STATS_PORT": str(settings.serve_haproxy_stats_port),
        "RAY_SERVE_HAPROXY_METRICS_PORT": str(settings.serve_haproxy_metrics_port),
        "RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT": str(base),
        "RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT": str(base + REPLICA_PORTS - 1),
        "RAY_SERVE_DIRECT_INGRESS_MIN_GRPC_PORT": str(base + REPLICA_PORTS),
        "RAY_SERVE_DIRECT_INGRESS_MAX_GRPC_PORT": str(base + 2 * REPLICA_PORTS - 1),
        # Ray's 30 s default made every delete, redeploy and scale-down wait half a minute.
        "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": str(settings.serve_drain_s),
    }
