"""Helpers shared by the benchmark scripts: memory sampling and the results file."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def _tree_rss(roots: list[int]) -> int:
    total = 0
    seen: set[int] = set()
    for pid in roots:
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(pid)
            for p in [process, *process.children(recursive=True)]:
                if p.pid not in seen:
                    seen.add(p.pid)
                    with contextlib.suppress(psutil.Error):
                        total += p.memory_info().rss
    return total


@dataclass
class MemorySampler:
    """Samples the summed RSS of process trees every `interval` seconds, in a thread."""

    roots: list[int]
    interval: float = 0.2
    samples: list[int] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> MemorySampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(_tree_rss(self.roots))
            time.sleep(self.interval)

    @property
    def peak(self) -> int:
        return max(self.samples, default=0)


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


def machine() -> str:
    return f"{os.cpu_count()} CPUs, {psutil.virtual_memory().total / 2**30:.0f} GiB RAM"
