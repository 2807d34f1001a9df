"""Closed-loop load generator: N clients, each sending one-record requests back to back.

    python -m benchmarks.loadgen --plan plan.json

The plan lists cells ({"name", "protocol": rest|graphql|grpc, "address", "concurrency"}, and
optionally "timeline": true and "warmup_s") and the records to send; the result is one JSON line
per cell on stdout. A timeline cell also returns every request as [start offset s, latency ms,
ok, model version, failure kind] and the wall-clock start, for runs that stage faults while the
load runs.
It runs in its own process so the server under test never shares an interpreter (or a GIL) with
its clients. The optional API token (BURNOUT_SERVE_API_TOKEN) is sent when it is set.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import typer

from ray_jobs.core import cli
from ray_jobs.core.settings import get_settings
from serve_app.client import GRAPHQL_QUERY, bearer, camel, grpc_metadata

log = logging.getLogger(__name__)

# (ok, model version or "", failure kind or "")
Outcome = tuple[bool, str, str]
Call = Callable[[int], Awaitable[Outcome]]


async def _http_caller(
    protocol: str, address: str, records: list[dict[str, Any]], concurrency: int
) -> tuple[Call, Callable[[], Awaitable[None]]]:
    import aiohttp

    if protocol == "rest":
        url = f"{address}/predict"
        bodies = [json.dumps({"records": [r]}).encode() for r in records]
    else:
        url = f"{address}/graphql"
        bodies = [
            json.dumps({"query": GRAPHQL_QUERY, "variables": {"r": [camel(r)]}}).encode()
            for r in records
        ]
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=concurrency),
        headers={"content-type": "application/json", **bearer(get_settings().api_token())},
        timeout=aiohttp.ClientTimeout(total=60),
    )

    async def call(i: int) -> Outcome:
        async with session.post(url, data=bodies[i % len(bodies)]) as response:
            payload = await response.read()
            if response.status != 200:
                return False, "", str(response.status)
            if protocol == "rest":
                return True, str(json.loads(payload)["model"]["version"]), ""
            data = json.loads(payload)
            if data.get("errors"):
                return False, "", "graphql-error"
            return True, str(data["data"]["predict"][0]["model"]["version"]), ""

    return call, session.close


async def _grpc_caller(
    address: str, records: list[dict[str, Any]], app_name: str, concurrency: int
) -> tuple[Call, Callable[[], Awaitable[None]]]:
    import grpc

    from serve_app.protos import burnout_pb2 as pb
    from serve_app.protos import burnout_pb2_grpc

    # One channel (one HTTP/2 connection) per client, as REST gets one keep-alive connection
    # per client: every client is its own caller, not 32 streams squeezed into one socket.
    channels = [grpc.aio.insecure_channel(address) for _ in range(concurrency)]
    stubs = [burnout_pb2_grpc.BurnoutServiceStub(channel) for channel in channels]
    requests = [pb.PredictRequest(records=[pb.Employee(**r)]) for r in records]
    metadata = grpc_metadata(app_name, get_settings().api_token())

    async def call(i: int) -> Outcome:
        stub = stubs[i % len(stubs)]
        reply = await stub.Predict(requests[i % len(requests)], metadata=metadata, timeout=60)
        return len(reply.predictions) == 1, reply.model.version, ""

    async def close() -> None:
        for channel in channels:
            await channel.close()

    return call, close


def warmup_s(seconds: float) -> float:
    """Unmeasured load before a cell's measured `seconds` (connections and batches settle)."""
    return min(2.0, seconds / 2)


async def run_cell(cell: dict[str, Any], records: list[dict[str, Any]], seconds: float) -> dict:
    """Warm up, then keep `concurrency` clients busy for `seconds`; latency per request."""
    concurrency = int(cell["concurrency"])
    if cell["protocol"] == "grpc":
        call, close = await _grpc_caller(
            cell["address"], records, cell.get("app", "burnout"), concurrency
        )
    else:
        call, close = await _http_caller(cell["protocol"], cell["address"], records, concurrency)
    latencies: list[float] = []
    samples: list[tuple[float, float, bool, str, str]] = []
    errors = 0
    counter = 0
    origin = time.perf_counter()

    async def client(deadline: float, record: bool) -> None:
        nonlocal errors, counter
        while time.perf_counter() < deadline:
            counter += 1
            started = time.perf_counter()
            try:
                ok, version, kind = await call(counter)
            except Exception as error:  # noqa: BLE001  (a failed request is counted, not fatal)
                ok, version, kind = False, "", type(error).__name__
            if record:
                latency = time.perf_counter() - started
                latencies.append(latency)
                errors += not ok
                if timeline:
                    samples.append(
                        (round(started - origin, 4), round(latency * 1000, 2), ok, version, kind)
                    )

    timeline = bool(cell.get("timeline"))
    try:
        # A cell may ask for longer (autoscaling to settle under its load first).
        warm_until = time.perf_counter() + float(cell.get("warmup_s", warmup_s(seconds)))
        await asyncio.gather(*(client(warm_until, False) for _ in range(concurrency)))
        started_at = time.time()
        origin = started = time.perf_counter()
        await asyncio.gather(*(client(started + seconds, True) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    finally:
        await close()
    values = np.array(latencies) * 1000
    extra = {"started_at": started_at, "samples": samples} if timeline else {}
    return {
        **extra,
        **cell,
        "requests": len(latencies),
        "errors": errors,
        "seconds": round(elapsed, 2),
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(float(np.percentile(values, 50)), 2) if len(values) else None,
        "p99_ms": round(float(np.percentile(values, 99)), 2) if len(values) else None,
    }


app = typer.Typer(add_completion=False)


@app.command()
def main(plan: str = typer.Option(..., help="JSON file: cells, records, seconds")) -> None:
    """Run every cell of the plan in order; print one JSON result line per cell."""
    spec = json.loads(Path(plan).read_text())
    for cell in spec["cells"]:
        result = asyncio.run(run_cell(cell, spec["records"], float(spec["seconds"])))
        log.info(
            "%-8s %-8s c=%-3d %7.1f req/s p50 %6.1f ms p99 %6.1f ms errors %d",
            result["name"], result["protocol"], result["concurrency"], result["rps"],
            result["p50_ms"] or 0, result["p99_ms"] or 0, result["errors"],
        )  # fmt: skip
        typer.echo(json.dumps(result), nl=True)


if __name__ == "__main__":
    cli.run(app)
