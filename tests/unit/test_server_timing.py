"""The Server-Timing header: stages recorded only inside a request, summed, read back."""

from __future__ import annotations

import asyncio

from serve_app import server_timing
from serve_app.server_timing import collecting, header, parse, stage


def test_stages_are_recorded_inside_a_request_only() -> None:
    with stage("model"):
        pass  # no request collecting: nothing recorded, nothing raised
    with collecting() as spans:
        with stage("parse"):
            pass
        with stage("model"):
            pass
        with stage("model"):
            pass
    assert [name for name, _ in spans] == ["parse", "model", "model"]
    value = header(spans, 12.5)
    assert value.startswith("parse;dur=") and value.endswith("app;dur=12.5")
    timing = parse(value)
    assert list(timing) == ["parse", "model", "app"]  # a repeated stage is summed once
    assert timing["model"] == round(sum(ms for n, ms in spans if n == "model"), 1)


def test_tasks_started_inside_a_request_add_to_its_stages() -> None:
    async def work() -> None:
        with stage("batch"):
            await asyncio.sleep(0.01)

    async def request() -> server_timing.Spans:
        with collecting() as spans:
            await asyncio.create_task(work())
        return spans

    ((name, ms),) = asyncio.run(request())
    assert name == "batch" and ms >= 9


def test_parse_reads_other_servers_headers() -> None:
    assert parse('db;dur=53, cache;desc="Cache Read";dur=23.2, miss') == {"db": 53.0, "cache": 23.2}
