"""Ray Serve (REST, GraphQL, gRPC) versus plain single-process apps, side by side in one run.

    make up && make serve && .venv/bin/python -m benchmarks.serve_bench [--seconds 5]

All targets serve the same registered model (the champion alias). The peers are the project's
own REST routes in one uvicorn process: `seed` predicts per request, `batched` adds an asyncio
micro-batcher. The load generator (`benchmarks.loadgen`) runs in its own process. Then 10,000
records in one REST request versus `pipeline.predict` in-process. Results and a plot go to
docs/benchmarks.md: a section for a quiet machine, and another when Airflow is up too (as
`make demo` leaves it; `make airflow` starts it), each saying how many cores the idle services
kept busy just before.
"""

from __future__ import annotations

import io
import json
import logging
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import typer

from benchmarks.common import (
    DOCS,
    busy_cores,
    machine,
    serve_address,
    surroundings,
    write_section,
)
from features.schema import BURN_RATE, RAW_COLUMNS
from features.synthetic import generate
from ray_jobs.core import cli, tracking
from ray_jobs.core.errors import ServiceUnavailable
from ray_jobs.core.settings import Settings, child_env, get_settings
from serve_app import server_timing
from serve_app.columnar import PARQUET
from serve_app.deploy import replicas, wait_healthy
from serve_app.predictor import registry_loader

log = logging.getLogger(__name__)

CONCURRENCY = (1, 8, 32)
TARGETS = {
    "rest_vs_seed_32": 6.0,
    "rest_vs_batched_32": 1.0,
    "rest_p50_vs_seed_p50": 1.5,
    "grpc_vs_rest_32": 1.0,
    "bulk_vs_in_process": 1.5,
    "bulk_parquet_vs_in_process": 1.2,
}
# With the demo's stack up (issue 19, item 7), as users run it: Serve must clearly beat the
# single-process peer, gRPC beat REST, and one request cost little more than in the plain app.
STACK_TARGETS = {
    **TARGETS,
    "rest_vs_batched_32": 1.2,
    "grpc_vs_rest_32": 1.2,
    "rest_p50_vs_seed_p50": 1.2,
}


def sample_records(rows: int, seed: int = 7) -> list[dict[str, Any]]:
    """Synthetic raw records (with the generator's missing values) under the wire names."""
    frame = generate(rows, seed=seed).drop(columns=[BURN_RATE.raw])
    frame = frame.rename(columns={c.raw: c.name for c in RAW_COLUMNS})
    frame = frame.astype(object).where(frame.notna(), None)
    return frame.to_dict("records")


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@contextmanager
def plain_app(settings: Settings, mode: str) -> Iterator[str]:
    """A peer app on a free port, stopped on exit."""
    port = _free_port(settings.host)
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.plain_app", "--mode", mode, "--port", str(port)],
        env=child_env(settings, {"BURNOUT_LOG_LEVEL": "WARNING"}),
    )
    url = f"http://{settings.host}:{port}"
    try:
        wait_healthy(url, 120)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def settle_s(settings: Settings) -> float:
    """Load before measuring a cell that needs another replica: the autoscaler's delay and
    look-back window, then a replica's start under that load and HAProxy taking it in (~20 s
    here with the machine's two cores busy: 5 s more than the delays alone were not enough)."""
    return settings.serve_upscale_delay_s + settings.serve_look_back_period_s + 25.0


def running_replicas(settings: Settings) -> int:
    return sum(r["state"] == "RUNNING" for r in replicas(settings))


def run_load(cells: list[dict[str, Any]], records: list[dict[str, Any]], seconds: float) -> list:
    """Run the cells in a separate load-generator process; one result dict per cell."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump({"cells": cells, "records": records, "seconds": seconds}, handle)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "benchmarks.loadgen", "--plan", handle.name],
            capture_output=True, text=True, check=False,
            env=child_env(get_settings(), {}),
        )  # fmt: skip
    finally:
        Path(handle.name).unlink()
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    sys.stderr.write(result.stderr)
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def bulk(
    settings: Settings, records: list[dict[str, Any]], alias: str, repeats: int = 5
) -> dict[str, Any]:
    """Median seconds for all records in one REST request versus in-process predict, both with
    the model of `alias` (a fixed family: the champion's cost per row varies ~20x by family,
    and with SVR's ~2 s per 10,000 rows every overhead would vanish in the ratio).

    JSON twice: as clients send it (read column by column, serve_app.plain_json) and with
    `explain=false`, which sends the same body through the route's pydantic model."""
    url = f"{serve_address(settings, 'rest')}/predict?model={alias}"
    body = json.dumps({"records": records}).encode()
    rows = len(records)
    stages: dict[str, dict[str, float]] = {}
    times = {
        "serve_s": _posts(url, body, "application/json", rows, repeats, stages),
        "pydantic_s": _posts(url + "&explain=false", body, "application/json", rows, repeats),
        "parquet_s": _posts(url, _parquet(records), PARQUET, rows, repeats, stages),
    }
    # The same registry loader as the Serve replicas: the model the alias names, with the
    # predict a replica calls (compiled when exact) and, for reference, the Pipeline's own.
    loaded = registry_loader(settings.mlflow_tracking_uri, settings.model_name)(alias)
    # The in-process caller starts from the same records the REST client sends.
    local = _timed(lambda: loaded.predict(pd.DataFrame.from_records(records)), repeats)
    plain = _timed(lambda: loaded.model.predict(pd.DataFrame.from_records(records)), repeats)
    return {
        **times,
        "in_process_s": local,
        "pipeline_s": plain,
        "alias": alias,
        "rows": rows,
        "stages": stages,
    }


def _timed(call: Callable[[], Any], repeats: int) -> float:
    """Median seconds of `repeats` calls after one warm-up."""
    took = []
    for attempt in range(repeats + 1):
        started = time.perf_counter()
        call()
        if attempt:
            took.append(time.perf_counter() - started)
    return statistics.median(took)


def _posts(
    url: str,
    body: bytes,
    content_type: str,
    rows: int,
    repeats: int,
    stages: dict[str, dict[str, float]] | None = None,
) -> float:
    """Median seconds until the whole answer is in (the first call is a warm-up); the client's
    own parsing of the answer is not the server's time. The answer must have `rows` rows.
    `stages` gets the median of each Server-Timing stage, and of the client's own total."""
    took: list[float] = []
    timings: list[dict[str, float]] = []
    with httpx.Client(timeout=120, headers={"content-type": content_type}) as client:
        for attempt in range(repeats + 1):
            started = time.perf_counter()
            response = client.post(url, content=body)
            seconds = time.perf_counter() - started
            response.raise_for_status()
            if attempt:
                took.append(seconds)
                timing = server_timing.parse(response.headers.get(server_timing.HEADER, ""))
                timings.append({**timing, "client": seconds * 1000})
    if stages is not None:
        stages[content_type] = {k: statistics.median(t[k] for t in timings) for k in timings[0]}
    if content_type == PARQUET:
        count = pq.read_metadata(io.BytesIO(response.content)).num_rows
    else:
        count = len(json.loads(response.content)["predictions"])
    if count != rows:
        raise RuntimeError(f"Serve answered {count} rows for {rows} records ({content_type})")
    return statistics.median(took)


def model_named(settings: Settings, alias: str) -> str:
    """'v3, SVR': which model the single-record cells measured (costs differ ~20x by family)."""
    loaded = registry_loader(settings.mlflow_tracking_uri, settings.model_name)(alias)
    return f"v{loaded.version}, {type(loaded.model.steps[-1][1]).__name__}"


def _parquet(records: list[dict[str, Any]]) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(records), sink)
    return sink.getvalue()


def _cell(results: list[dict[str, Any]], name: str, protocol: str, concurrency: int) -> dict:
    for row in results:
        if (row["name"], row["protocol"], row["concurrency"]) == (name, protocol, concurrency):
            return row
    raise KeyError((name, protocol, concurrency))


def ratios(results: list[dict[str, Any]], bulk_times: dict[str, Any]) -> dict[str, float]:
    top = max(CONCURRENCY)
    rest = _cell(results, "serve", "rest", top)["rps"]
    return {
        "rest_vs_seed_32": rest / _cell(results, "seed", "rest", top)["rps"],
        "rest_vs_batched_32": rest / _cell(results, "batched", "rest", top)["rps"],
        "rest_p50_vs_seed_p50": _cell(results, "serve", "rest", 1)["p50_ms"]
        / _cell(results, "seed", "rest", 1)["p50_ms"],
        "grpc_vs_rest_32": _cell(results, "serve", "grpc", top)["rps"] / rest,
        "bulk_vs_in_process": bulk_times["serve_s"] / bulk_times["in_process_s"],
        "bulk_parquet_vs_in_process": bulk_times["parquet_s"] / bulk_times["in_process_s"],
    }


def _met(name: str, value: float, targets: dict[str, float]) -> str:
    lower_is_better = name.startswith("bulk_") or name == "rest_p50_vs_seed_p50"
    ok = value <= targets[name] if lower_is_better else value >= targets[name]
    bound = "<=" if lower_is_better else ">="
    return f"{value:.2f} (target {bound} {targets[name]:g}: {'met' if ok else 'NOT met'})"


def plot(results: list[dict[str, Any]], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for name, protocol in sorted({(r["name"], r["protocol"]) for r in results}):
        rows = sorted(
            (r for r in results if (r["name"], r["protocol"]) == (name, protocol)),
            key=lambda r: r["concurrency"],
        )
        label = f"{name} {protocol}"
        left.plot([r["concurrency"] for r in rows], [r["rps"] for r in rows], "o-", label=label)
        right.plot([r["concurrency"] for r in rows], [r["p50_ms"] for r in rows], "o-", label=label)
    left.set(xlabel="concurrent clients", ylabel="requests/s", xscale="log", title="throughput")
    right.set(xlabel="concurrent clients", ylabel="p50 ms", xscale="log", title="median latency")
    left.legend(fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def report(
    results: list[dict[str, Any]],
    bulk_times: dict[str, Any],
    mode: str,
    seconds: float,
    picture: Path,
    targets: dict[str, float],
) -> str:
    lines = [
        f"`python -m benchmarks.serve_bench --seconds {seconds:g}` ({machine()}; {mode}). "
        "One-record requests from a closed-loop load generator in its own process; the model "
        "is the registry's champion in every target. `seed`: plain FastAPI + uvicorn, predict "
        "per request; `batched`: the same with an asyncio micro-batcher. A Serve cell with more "
        "clients than the autoscaling target first runs unmeasured until the autoscaler has "
        "acted (`settle_s`); `replicas`: RUNNING right after the cell.",
        "",
        "| target | protocol | clients | replicas | req/s | p50 ms | p99 ms | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['name']} | {r['protocol']} | {r['concurrency']} | {r.get('replicas', 1)} "
            f"| {r['rps']:.1f} "
            f"| {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['errors']} |"
        )
    lines += [
        "",
        f"Bulk: {_bulk_note(bulk_times)}",
        "",
        "| ratio | value |",
        "|---|---|",
    ]
    for name, value in ratios(results, bulk_times).items():
        lines.append(f"| {name} | {_met(name, value, targets)} |")
    lines += ["", *_stage_table(bulk_times["stages"]), "", f"![serving benchmark]({picture.name})"]
    return "\n".join(lines)


def _stage_table(stages: dict[str, dict[str, float]]) -> list[str]:
    """Where a bulk request's time went (the replica's Server-Timing header, medians in ms);
    `outside` is the client's total minus the app's: HTTP, HAProxy and Serve's routing."""
    kinds = list(stages)
    names = list(dict.fromkeys(n for kind in kinds for n in stages[kind] if n != "client"))
    lines = [
        "Where a bulk request's time goes (ms, medians; the replica's `Server-Timing` header):",
        "",
        "| stage | " + " | ".join(kinds) + " |",
        "|---|" + "---|" * len(kinds),
    ]
    for name in [*names, "outside", "client"]:
        cells = []
        for kind in kinds:
            row = stages[kind]
            value = row["client"] - row.get("app", 0.0) if name == "outside" else row.get(name)
            cells.append("-" if value is None else f"{value:.1f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _bulk_note(bulk_times: dict[str, Any]) -> str:
    return (
        f"{bulk_times['rows']:,} records in one REST request: "
        f"{bulk_times['serve_s'] * 1000:.0f} ms as JSON "
        f"({bulk_times['pydantic_s'] * 1000:.0f} ms when the route's pydantic model reads it), "
        f"{bulk_times['parquet_s'] * 1000:.0f} ms as a Parquet body (Parquet answer), vs "
        "in-process `LoadedModel.predict(DataFrame(records))` (the replica's call: the compiled "
        f"pipeline) {bulk_times['in_process_s'] * 1000:.0f} ms; the sklearn `Pipeline.predict` "
        f"takes {bulk_times['pipeline_s'] * 1000:.0f} ms (medians of 5; model alias "
        f"`{bulk_times['alias']}` on both sides). What serving adds to the in-process call: "
        f"{(bulk_times['serve_s'] - bulk_times['in_process_s']) * 1000:.0f} ms for JSON, "
        f"{(bulk_times['parquet_s'] - bulk_times['in_process_s']) * 1000:.0f} ms for Parquet; "
        "the ratios depend on the model's own cost (a cheaper model makes the same overhead a "
        "larger share)."
    )


app = typer.Typer(add_completion=False)


@app.command()
def main(
    seconds: float = typer.Option(5.0, min=1.0, help="measured seconds per cell"),
    bulk_rows: int = typer.Option(10_000, min=1),
    bulk_alias: str = typer.Option("lightgbm", help="registry alias the bulk cells use"),
) -> None:
    """Measure and write the serving section of docs/benchmarks.md."""
    settings = get_settings()
    tracking.use_tracking_server(settings)
    try:
        wait_healthy(serve_address(settings, "rest"), timeout_s=3)
    except ServiceUnavailable:
        from serve_app.deploy import deploy

        deploy(settings)
    records = sample_records(1000)
    # Serving is measured as users run it: alone, or beside the demo's Airflow (`make demo`
    # leaves it up); each way gets its own section, with what the idle machine already burns.
    stack_up, beside = surroundings(settings)
    idle_cores = busy_cores()
    results: list[dict[str, Any]] = []
    for protocol in ("rest", "graphql", "grpc"):
        address = serve_address(settings, protocol)
        for clients in CONCURRENCY:
            cell = {"name": "serve", "protocol": protocol, "address": address,
                    "concurrency": clients, "app": settings.serve_app_name}  # fmt: skip
            if clients > settings.serve_target_ongoing_requests:
                cell["warmup_s"] = settle_s(settings)
            (measured,) = run_load([cell], records, seconds)
            measured["replicas"] = running_replicas(settings)
            results.append(measured)
    for mode in ("seed", "batched"):
        with plain_app(settings, mode) as url:
            peer = [
                {"name": mode, "protocol": "rest", "address": url, "concurrency": c}
                for c in CONCURRENCY
            ]
            results += run_load(peer, records, seconds)
    bulk_times = bulk(settings, sample_records(bulk_rows, seed=11), bulk_alias)
    mode = (
        "HAProxy + throughput-optimized Serve" if settings.serve_haproxy else "Python proxy"
    ) + (
        f", {settings.serve_min_replicas}-{settings.serve_max_replicas} replicas, "
        f"batch wait {settings.serve_batch_wait_s * 1000:g} ms; champion: "
        + model_named(settings, settings.champion_alias)
        + f"; {beside}: {idle_cores:.2f} cores busy before the load"
    )
    name = ("haproxy" if settings.serve_haproxy else "proxy") + ("_stack" if stack_up else "")
    picture = DOCS.parent / f"serve_bench_{name}.png"
    plot(results, f"burnout-ray serving ({mode})", picture)
    targets = STACK_TARGETS if stack_up else TARGETS
    body = report(results, bulk_times, mode, seconds, picture, targets)
    title = "HAProxy" if settings.serve_haproxy else "Python proxy"
    write_section(f"Serving: {title}" + (", stack idling" if stack_up else ""), body)
    for name, value in ratios(results, bulk_times).items():
        log.info("%s = %s", name, _met(name, value, targets))


if __name__ == "__main__":
    cli.run(app)
