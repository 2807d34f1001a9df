"""A `Server-Timing` header on POST /predict: where a request's time went inside the replica.

    Server-Timing: read;dur=3.1, parse;dur=17.9, validate;dur=41.0, model;dur=230.2,
                   log;dur=0.1, encode;dur=5.2, app;dur=298.0

`app` is the whole time in the replica's app; a client's own total minus `app` is what the
network, HAProxy and Serve's routing cost. Browsers' developer tools and the serving benchmark
read it. Stages are recorded only while a request collects them (a context variable), so the
same code called outside a request (tests, batch scoring) records nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

HEADER = "Server-Timing"
Spans = list[tuple[str, float]]

_CURRENT: ContextVar[Spans | None] = ContextVar("server_timing", default=None)


@contextmanager
def collecting() -> Iterator[Spans]:
    """Collect the stages run inside this block (in this task and the tasks it starts)."""
    spans: Spans = []
    token = _CURRENT.set(spans)
    try:
        yield spans
    finally:
        _CURRENT.reset(token)


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Time a stage of the current request, if one is collecting."""
    spans = _CURRENT.get()
    if spans is None:
        yield
        return
    started = time.perf_counter()
    try:
        yield
    finally:
        spans.append((name, (time.perf_counter() - started) * 1000))


def header(spans: Spans, app_ms: float) -> str:
    """The header's value: each stage (summed if it ran more than once), then `app`."""
    summed: dict[str, float] = {}
    for name, ms in spans:
        summed[name] = summed.get(name, 0.0) + ms
    parts = [f"{name};dur={ms:.1f}" for name, ms in summed.items()]
    return ", ".join([*parts, f"app;dur={app_ms:.1f}"])


def parse(value: str) -> dict[str, float]:
    """A Server-Timing value back into {stage: milliseconds} (for clients and tests)."""
    out: dict[str, float] = {}
    for part in value.split(","):
        name, _, rest = part.strip().partition(";")
        for param in rest.split(";"):
            key, _, number = param.strip().partition("=")
            if key == "dur" and name:
                out[name] = float(number)
    return out
