"""What the inference log costs serving: the same Serve app with the log on (every prediction kept)
and off (BURNOUT_SERVE_INFERENCE_LOG_FRACTION=0), side by side in one run, alternating.

    make up && .venv/bin/python -m benchmarks.inference_log_cost [--rounds 2 --seconds 8]

Each round deploys the app in one mode, then runs one-record REST at 1 and 32 clients, gRPC at
32 clients (the load generator of benchmarks.serve_bench, in its own process) and 10,000
records in one REST request. Ratios are on / off of the medians over rounds. The app is
redeployed with the settings' own fraction at the end. Results go to docs/benchmarks.md.
"""

from __future__ import annotations

import logging
import statistics
from typing import Any

import typer

from benchmarks.common import machine, serve_address, surroundings, write_section
from benchmarks.serve_bench import bulk, model_named, run_load, sample_records
from ray_jobs.core import cli, tracking
from ray_jobs.core.settings import Settings, get_settings
from serve_app.deploy import deploy

log = logging.getLogger(__name__)

MODES = {"off": 0.0, "on": 1.0}
CELLS = (("rest", 1), ("rest", 32), ("grpc", 32))


def measure(settings: Settings, fraction: float, seconds: float, alias: str) -> dict[str, Any]:
    """Deploy with this inference-log fraction; the cells' results and the bulk timing. One
    replica, pinned: the autoscaler's timing would otherwise decide the 32-client cells."""
    pinned = {"serve_min_replicas": 1, "serve_max_replicas": 1}
    deploy(settings.model_copy(update={"serve_inference_log_fraction": fraction, **pinned}))
    cells = [
        {"name": "serve", "protocol": protocol, "address": serve_address(settings, protocol),
         "concurrency": clients, "app": settings.serve_app_name}
        for protocol, clients in CELLS
    ]  # fmt: skip
    results = run_load(cells, sample_records(1000), seconds)
    return {
        "cells": {(r["protocol"], r["concurrency"]): r for r in results},
        "bulk_s": bulk(settings, sample_records(10_000, seed=11), alias)["serve_s"],
    }


def report(rounds: list[tuple[str, dict[str, Any]]], seconds: float, setting: str) -> str:
    def median(mode: str, pick: Any) -> float:
        return statistics.median(pick(m) for name, m in rounds if name == mode)

    rows = [(f"{p} {c} clients req/s", lambda m, k=(p, c): m["cells"][k]["rps"]) for p, c in CELLS]
    rows += [("rest 1 client p50 ms", lambda m: m["cells"][("rest", 1)]["p50_ms"])]
    rows += [("rest 32 clients p99 ms", lambda m: m["cells"][("rest", 32)]["p99_ms"])]
    rows += [("bulk 10,000 records ms", lambda m: m["bulk_s"] * 1000)]
    errors = sum(r["errors"] for _, m in rounds for r in m["cells"].values())
    lines = [
        f"`python -m benchmarks.inference_log_cost --rounds {len(rounds) // 2} --seconds "
        f"{seconds:g}` ({machine()}; {setting}). The same app, one replica, redeployed with the "
        "inference log off (fraction 0) and on (every prediction kept, flushed to S3 every 5 s), "
        f"alternating; medians over rounds. Errors in all cells: {errors}.",
        "",
        "| measure | log off | log on | on / off |",
        "|---|---|---|---|",
    ]
    for label, pick in rows:
        off, on = median("off", pick), median("on", pick)
        lines.append(f"| {label} | {off:.1f} | {on:.1f} | {on / off:.2f} |")
    return "\n".join(lines)


app = typer.Typer(add_completion=False)


@app.command()
def main(
    rounds: int = typer.Option(2, min=1, help="rounds per mode"),
    seconds: float = typer.Option(8.0, min=1.0, help="measured seconds per cell"),
    bulk_alias: str = typer.Option("lightgbm", help="registry alias the bulk request uses"),
) -> None:
    """Measure and write the section of docs/benchmarks.md."""
    settings = get_settings()
    tracking.use_tracking_server(settings)
    measured: list[tuple[str, dict[str, Any]]] = []
    try:
        for _ in range(rounds):
            for mode, fraction in MODES.items():
                log.info("inference log %s", mode)
                measured.append((mode, measure(settings, fraction, seconds, bulk_alias)))
    finally:
        deploy(settings)
    champion = model_named(settings, settings.champion_alias)
    _, beside = surroundings(settings)
    body = report(measured, seconds, f"{beside}; champion {champion}, bulk alias `{bulk_alias}`")
    write_section("Serving: inference log on vs off", body)
    log.info("\n%s", body)


if __name__ == "__main__":
    cli.run(app)
