"""Helpers shared by the benchmark scripts: memory sampling, the results file, where the Serve
app listens and what runs beside it."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from local_stack.stack import Stack
from ray_jobs.core.cluster import port_open
from ray_jobs.core.settings import Settings

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def _tree(roots: list[int]) -> list[psutil.Process]:
    found: dict[int, psutil.Process] = {}
    for pid in roots:
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(pid)
            for p in [process, *process.children(recursive=True)]:
                found.setdefault(p.pid, p)
    return list(found.values())


def _tree_rss(roots: list[int]) -> int:
    total = 0
    for p in _tree(roots):
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


@contextlib.contextmanager
def every(interval: float, action: Callable[[], None]) -> Iterator[None]:
    """Call `action` every `interval` seconds in a daemon thread while the block runs."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            action()
            stop.wait(interval)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


@dataclass
class TreeSampler:
    """Samples process trees every `interval` seconds in a thread: summed RSS and CPU seconds.

    CPU is the user + system time each process used while sampled (its last reading minus its
    first, or all of it for a process born during the run), so short-lived workers count too,
    up to one interval of their life.
    """

    roots: list[int]
    interval: float = 0.2
    samples: list[int] = field(default_factory=list)
    _first: dict[int, float] = field(default_factory=dict)
    _last: dict[int, float] = field(default_factory=dict)
    _sampling: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    def __enter__(self) -> TreeSampler:
        self._sample(first=True)
        self._sampling.enter_context(every(self.interval, lambda: self._sample(first=False)))
        return self

    def __exit__(self, *exc: object) -> None:
        self._sampling.close()

    def _sample(self, first: bool) -> None:
        rss = 0
        for p in _tree(self.roots):
            with contextlib.suppress(psutil.Error):
                times = p.cpu_times()
                used = times.user + times.system
                if first:
                    self._first[p.pid] = used
                self._last[p.pid] = used
                rss += p.memory_info().rss
        self.samples.append(rss)

    @property
    def peak(self) -> int:
        return max(self.samples, default=0)

    @property
    def cpu_seconds(self) -> float:
        return sum(used - self._first.get(pid, 0.0) for pid, used in self._last.items())


def ray_head_pid(settings: Settings) -> int:
    """The local stack's Ray head process (the root of every Ray process a job uses)."""
    return service_pids(settings, ("ray",))[0]


def service_pids(settings: Settings, names: tuple[str, ...]) -> list[int]:
    """The local stack's service processes, each the root of its tree (`ray` is the head)."""
    pids = [Stack(settings).owned(name).pid() for name in names]
    if None in pids:
        raise SystemExit("start the local stack first: make up")
    return [pid for pid in pids if pid is not None]


def baseline_rss(roots: list[int]) -> int:
    """RSS of the trees right now."""
    return _tree_rss(roots)


def write_section(title: str, body: str, path: Path = DOCS) -> None:
    """Replace (or append) one '## title' section of docs/benchmarks.md (or another page)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = (
        path.read_text()
        if path.exists()
        else "# Benchmarks\n\nWritten by the scripts in `benchmarks/`; each section says how.\n"
    )
    marker = f"## {title}\n"
    section = f"{marker}\n{body.strip()}\n\n"
    if marker in text:
        start = text.index(marker)
        end = text.find("\n## ", start + len(marker))
        text = text[:start] + section + (text[end + 1 :] if end != -1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n")


def busy_cores(seconds: float = 10.0) -> float:
    """How many cores the whole machine kept busy over `seconds` (before a load runs: what the
    idle services cost)."""
    return psutil.cpu_percent(interval=seconds) / 100 * (os.cpu_count() or 1)


def machine() -> str:
    return f"{os.cpu_count()} CPUs, {psutil.virtual_memory().total / 2**30:.0f} GiB RAM"


def serve_address(settings: Settings, protocol: str) -> str:
    """Where benchmarks.loadgen reaches the Serve app: a URL for REST and GraphQL, host:port for
    gRPC."""
    if protocol == "grpc":
        return f"{settings.host}:{settings.serve_grpc_port}"
    return f"http://{settings.host}:{settings.serve_http_port}"


def surroundings(settings: Settings) -> tuple[bool, str]:
    """Whether the demo's stack (Airflow up, as `make demo` leaves it) idles beside the
    measurement, and the words a report says it in. Serving is measured both ways."""
    stack_up = port_open(settings.host, settings.airflow_port)
    return (
        stack_up,
        "the demo's stack idling beside it (Airflow, MLflow, S3)" if stack_up else "quiet",
    )
