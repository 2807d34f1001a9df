"""Serving under load while things change: a model swap, a killed replica, autoscaling.

    make reliability          # = make up, then python -m benchmarks.reliability

Scenarios 1-3 of docs/reliability.md, each a bounded closed-loop load (benchmarks.loadgen, its
own process, one-record REST requests on loopback) with a fault or a change staged in the middle:

1. swap: the `champion` alias moves to another version and POST /models/reload is called;
2. kill: with two replicas, one replica process gets SIGKILL;
3. autoscale: more clients than one replica's target, then idle; Serve's replica timeline.

The app is redeployed with the user's settings at the end; the registry's champion is restored.
Results (tables and a timeline plot) go to the "Measured" section of docs/reliability.md.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import typer

from benchmarks.common import every, machine, serve_address, write_section
from benchmarks.loadgen import warmup_s
from benchmarks.serve_bench import sample_records
from ray_jobs.core import cli, tracking
from ray_jobs.core.errors import BurnoutError, ServiceUnavailable
from ray_jobs.core.settings import Settings, child_env, get_settings
from serve_app.client import bearer
from serve_app.deploy import deploy, replicas, wait_healthy, wait_running

log = logging.getLogger(__name__)

RELIABILITY = Path(__file__).resolve().parent.parent / "docs" / "reliability.md"
SWAP_WINDOW_S = 10.0  # "during the swap": from the alias move until this much later
KILL_RECOVERY_TIMEOUT_S = 90.0


# -- the load, in its own process ----------------------------------------------------------------


class Load:
    """One timeline cell of benchmarks.loadgen running in the background (REST or gRPC)."""

    def __init__(
        self, settings: Settings, clients: int, seconds: float, protocol: str = "rest"
    ) -> None:
        cell = {
            "name": "reliability",
            "protocol": protocol,
            "address": serve_address(settings, protocol),
            "concurrency": clients,
            "timeline": True,
        }
        plan = {"cells": [cell], "records": sample_records(500), "seconds": seconds}
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
            json.dump(plan, handle)
        self.plan = Path(handle.name)
        self.seconds = seconds
        self.launched = time.time()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.loadgen", "--plan", str(self.plan)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env(settings, {}),
        )

    def sleep_until(self, offset_s: float) -> None:
        """Sleep until about `offset_s` into the measured part of the load."""
        warmup = warmup_s(self.seconds)
        time.sleep(max(0.0, self.launched + warmup + offset_s - time.time()))

    def result(self) -> dict[str, Any]:
        try:
            stdout, stderr = self.process.communicate(timeout=self.seconds + 120)
        finally:
            self.plan.unlink(missing_ok=True)
        if self.process.returncode != 0:
            raise BurnoutError(f"load generator failed: {stderr[-3000:]}")
        return dict(json.loads(next(ln for ln in stdout.splitlines() if ln.startswith("{"))))


@dataclass
class Window:
    name: str
    start: float
    end: float


def window_stats(samples: list[list[Any]], window: Window) -> dict[str, Any]:
    """Requests that started inside the window: count, failures, p50/p99, throughput."""
    inside = [s for s in samples if window.start <= s[0] < window.end]
    latencies = np.array([s[1] for s in inside])
    span = max(window.end - window.start, 1e-9)
    return {
        "window": window.name,
        "from_s": round(window.start, 1),
        "to_s": round(window.end, 1),
        "requests": len(inside),
        "failed": sum(not s[2] for s in inside),
        "rps": round(len(inside) / span, 1),
        "p50_ms": round(float(np.percentile(latencies, 50)), 1) if inside else None,
        "p99_ms": round(float(np.percentile(latencies, 99)), 1) if inside else None,
    }


# -- Serve's replicas, watched from the dashboard API ------------------------------------------


@dataclass
class ReplicaWatch:
    """Polls the application's replicas every `interval` s in a thread: (time, {id: state})."""

    settings: Settings
    interval: float = 0.25
    history: list[tuple[float, dict[str, str]]] = field(default_factory=list)
    _polling: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    def __enter__(self) -> ReplicaWatch:
        self._polling.enter_context(every(self.interval, self._poll))
        return self

    def __exit__(self, *exc: object) -> None:
        self._polling.close()

    def _poll(self) -> None:
        try:
            seen = {r["replica_id"]: r["state"] for r in replicas(self.settings)}
            self.history.append((time.time(), seen))
        except (httpx.HTTPError, ServiceUnavailable) as error:
            log.debug("replica poll failed: %s", error)

    def running_count(self) -> list[tuple[float, int]]:
        return [(t, sum(s == "RUNNING" for s in seen.values())) for t, seen in self.history]

    def lifetimes(self) -> dict[str, dict[str, float | None]]:
        """Per replica: first seen RUNNING and first seen gone (or no longer RUNNING)."""
        spans: dict[str, dict[str, float | None]] = {}
        for t, seen in self.history:
            for rid, state in seen.items():
                span = spans.setdefault(rid, {"running": None, "left": None})
                if state == "RUNNING" and span["running"] is None:
                    span["running"] = t
            for rid, span in spans.items():
                gone = seen.get(rid) != "RUNNING"
                if span["running"] is not None and span["left"] is None and gone:
                    span["left"] = t
        return spans


def redeploy(settings: Settings, **overrides: Any) -> Settings:
    changed = settings.model_copy(update=overrides)
    deploy(changed)
    return changed


# -- scenario 1: a model swap under load --------------------------------------------------------


def reload_call(settings: Settings) -> Callable[[], None]:
    """The API's way to swap: POST /models/reload reaches one replica, the alias board the rest."""
    url = f"{serve_address(settings, 'rest')}/models/reload"

    def swap() -> None:
        httpx.post(url, headers=bearer(settings.api_token()), timeout=120).raise_for_status()

    return swap


def scenario_swap(
    settings: Settings, clients: int, seconds: float, swap: Callable[[], None] | None = None
) -> dict[str, Any]:
    """Move the alias under load, then `swap` (default: POST /models/reload)."""
    import mlflow

    client = mlflow.MlflowClient(settings.mlflow_tracking_uri)
    name, alias = settings.model_name, settings.champion_alias
    before = str(client.get_model_version_by_alias(name, alias).version)
    others = sorted(
        (str(v.version) for v in client.search_model_versions(f"name='{name}'")),
        key=int,
        reverse=True,
    )
    target = next((v for v in others if v != before), None)
    if target is None:
        raise BurnoutError(f"'{name}' has one version only: train once more to swap models")
    load = Load(settings, clients, seconds)
    try:
        load.sleep_until(seconds / 3)
        moved_at = time.time()
        client.set_registered_model_alias(name, alias, target)
        (swap or reload_call(settings))()
        reloaded_at = time.time()
        result = load.result()
    finally:
        client.set_registered_model_alias(name, alias, before)
        reload_call(settings)()
    move = moved_at - result["started_at"]
    samples = result["samples"]
    old_after = [s[0] + s[1] / 1000 for s in samples if s[0] >= move and s[3] == before]
    windows = [
        Window("before", 0.0, move),
        Window("during", move, move + SWAP_WINDOW_S),
        Window("after", move + SWAP_WINDOW_S, float(seconds)),
    ]
    return {
        "clients": clients,
        "seconds": seconds,
        "from_version": before,
        "to_version": target,
        "move_at_s": round(move, 2),
        "reload_call_s": round(reloaded_at - moved_at, 2),
        "last_old_version_answer_s": round(max(old_after) - move, 2) if old_after else 0.0,
        "new_version_answers": sum(s[3] == target for s in samples),
        "requests": result["requests"],
        "failed": result["errors"],
        "windows": [window_stats(samples, w) for w in windows],
        "per_second": per_second(samples, seconds),
        "events": {"alias moved + reload": move},
    }


# -- scenario 2: a replica process killed under load -------------------------------------------


# Given the stack and the replica chosen as the victim, makes the replica go away (and whatever
# else the scenario says).
Fault = Callable[[Settings, dict[str, Any]], None]


def kill_replica(settings: Settings, victim: dict[str, Any]) -> None:
    """SIGKILL the replica's process (this machine's processes only)."""
    if victim["node_ip"] not in {settings.host, "127.0.0.1"}:
        raise BurnoutError(f"replica {victim['replica_id']} is on another node: kill locally")
    os.kill(int(victim["pid"]), signal.SIGKILL)
    log.info("killed replica %s (pid %s)", victim["replica_id"], victim["pid"])


def scenario_kill(
    pinned: Settings,
    clients: int,
    seconds: float,
    fault: Fault = kill_replica,
    recovery_timeout_s: float = KILL_RECOVERY_TIMEOUT_S,
) -> dict[str, Any]:
    """Two replicas under load; a third of the way in, `fault` takes one away. Recovery: two
    RUNNING replicas again, the victim not among them."""
    wait_running(pinned, 2, 180)
    with ReplicaWatch(pinned) as watch:
        load = Load(pinned, clients, seconds)
        load.sleep_until(seconds / 3)
        current = replicas(pinned)
        before = {r["replica_id"] for r in current}
        victim = next(r for r in current if r["state"] == "RUNNING" and r["pid"])
        killed_at = time.time()
        fault(pinned, victim)
        result = load.result()
        recovered = _recovered_at(watch, victim["replica_id"], killed_at, recovery_timeout_s)
    kill = killed_at - result["started_at"]
    samples = result["samples"]
    failures = [s for s in samples if not s[2]]
    return {
        "clients": clients,
        "seconds": seconds,
        "victim": victim["replica_id"],
        "kill_at_s": round(kill, 2),
        "requests": result["requests"],
        "failed": result["errors"],
        "failed_pct": round(100 * result["errors"] / max(result["requests"], 1), 3),
        "failure_kinds": dict(Counter(s[4] for s in failures)),
        "failures_from_s": round(min(s[0] for s in failures) - kill, 2) if failures else None,
        "failures_until_s": round(max(s[0] for s in failures) - kill, 2) if failures else None,
        "noticed_s": _offset(
            _first_seen(watch, killed_at, lambda seen: seen.get(victim["replica_id"]) != "RUNNING"),
            killed_at,
        ),
        "replacement_started_s": _offset(
            _first_seen(watch, killed_at, lambda seen: bool(set(seen) - before)), killed_at
        ),
        "recovery_s": round(recovered - killed_at, 2) if recovered else None,
        "windows": [
            window_stats(samples, w)
            for w in (
                Window("before", 0.0, kill),
                Window("kill + 5 s", kill, kill + 5),
                Window("after", kill + 5, float(seconds)),
            )
        ],
        "per_second": per_second(samples, seconds),
        "events": {"replica killed": kill},
    }


def _first_seen(
    watch: ReplicaWatch, after: float, condition: Callable[[dict[str, str]], bool]
) -> float | None:
    return next((t for t, seen in watch.history if t > after and condition(seen)), None)


def _offset(at: float | None, origin: float) -> float | None:
    return round(at - origin, 2) if at is not None else None


def _recovered_at(
    watch: ReplicaWatch, victim: str, killed_at: float, timeout_s: float
) -> float | None:
    """When two replicas were RUNNING again, none of them the victim (waits for it)."""
    deadline = killed_at + timeout_s
    while time.time() < deadline:
        for t, seen in list(watch.history):
            running = {rid for rid, state in seen.items() if state == "RUNNING"}
            if t > killed_at and len(running) == 2 and victim not in running:
                return t
        time.sleep(0.5)
    return None


# -- scenario 3: autoscaling up under load and down after it ----------------------------------


def scenario_autoscale(
    settings: Settings, clients: int, seconds: float, idle_s: float, protocol: str = "rest"
) -> dict[str, Any]:
    scaled = redeploy(
        settings, serve_min_replicas=1, serve_max_replicas=max(2, settings.serve_max_replicas)
    )
    wait_running(scaled, 1, scaled.serve_downscale_delay_s + 120)
    with ReplicaWatch(scaled) as watch:
        load = Load(scaled, clients, seconds, protocol)
        result = load.result()
        load_end = result["started_at"] + seconds
        deadline = load_end + idle_s
        while time.time() < deadline:
            counts = watch.running_count()
            if counts and counts[-1][0] > load_end and counts[-1][1] <= 1:
                break
            time.sleep(0.5)
        time.sleep(2)  # a last look: nothing else starts or stops
    origin = result["started_at"]
    spans = {
        rid: {k: (round(v - origin, 1) if v is not None else None) for k, v in span.items()}
        for rid, span in watch.lifetimes().items()
    }
    counts = watch.running_count()
    up = next((t for t, n in counts if n >= 2 and t >= origin), None)
    down = next((t for t, n in counts if up and t > max(up, load_end) and n <= 1), None)
    return {
        "protocol": protocol,
        "clients": clients,
        "seconds": seconds,
        "target_ongoing_requests": scaled.serve_target_ongoing_requests,
        "upscale_delay_s": scaled.serve_upscale_delay_s,
        "downscale_delay_s": scaled.serve_downscale_delay_s,
        "look_back_period_s": scaled.serve_look_back_period_s,
        "requests": result["requests"],
        "failed": result["errors"],
        "scale_up_at_s": round(up - origin, 1) if up else None,
        "scale_down_after_load_s": round(down - load_end, 1) if down else None,
        "replicas": spans,
        "running": [(round(t - origin, 2), n) for t, n in counts],
        "per_second": per_second(result["samples"], seconds),
        "events": {"load ends": float(seconds)},
    }


# -- report ---------------------------------------------------------------------------------------


def per_second(samples: list[list[Any]], seconds: float) -> dict[str, list[float]]:
    bins = int(np.ceil(seconds))
    ok = np.zeros(bins)
    failed = np.zeros(bins)
    for s in samples:
        index = min(int(s[0]), bins - 1)
        (ok if s[2] else failed)[index] += 1
    return {"ok": ok.tolist(), "failed": failed.tolist()}


def plot(results: dict[str, dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(len(results), 1, figsize=(10, 3 * len(results)), squeeze=False)
    for axis, (name, result) in zip(axes[:, 0], results.items(), strict=True):
        series = result["per_second"]
        x = np.arange(len(series["ok"]))
        axis.plot(x, series["ok"], label="ok req/s")
        axis.bar(x, series["failed"], color="red", label="failed req/s")
        for label, at in result["events"].items():
            axis.axvline(at, color="gray", linestyle="--")
            axis.annotate(label, (at, 0), xytext=(3, 3), textcoords="offset points", fontsize=8)
        if "running" in result:
            twin = axis.twinx()
            twin.step(
                [t for t, _ in result["running"]],
                [n for _, n in result["running"]],
                "g-",
                where="post",
            )
            twin.set_ylabel("RUNNING replicas", color="green")
            twin.set_ylim(0, 4)
        axis.set(title=name, xlabel="seconds since the load started", ylabel="requests/s")
        axis.legend(fontsize=8, loc="lower left")
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)


def _window_rows(result: dict[str, Any]) -> list[str]:
    rows = [
        "| window | from s | to s | requests | failed | req/s | p50 ms | p99 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for w in result["windows"]:
        rows.append(
            f"| {w['window']} | {w['from_s']} | {w['to_s']} | {w['requests']} | {w['failed']} "
            f"| {w['rps']} | {w['p50_ms']} | {w['p99_ms']} |"
        )
    return rows


def _autoscaling_lines(name: str, scale: dict[str, Any]) -> list[str]:
    return [
        f"**{name}.** min 1 / max 2 replicas, target_ongoing_requests "
        f"{scale['target_ongoing_requests']:g}, upscale_delay_s {scale['upscale_delay_s']:g}, "
        f"downscale_delay_s {scale['downscale_delay_s']:g}, look_back_period_s "
        f"{scale['look_back_period_s']:g}; {scale['clients']} {scale['protocol']} clients for "
        f"{scale['seconds']:g} s, then idle. {scale['requests']} requests, "
        f"{scale['failed']} failed. **Second replica RUNNING at {scale['scale_up_at_s']} s** "
        f"(load lasts {scale['seconds']:g} s); **back to one replica "
        f"{scale['scale_down_after_load_s']} s after the load ended**.",
        "",
        "| replica | RUNNING at s | left at s |",
        "|---|---|---|",
        *[
            f"| {rid} | {span['running']} | {span['left']} |"
            for rid, span in scale["replicas"].items()
        ],
        "",
    ]


def report(results: dict[str, dict[str, Any]], settings: Settings, picture: Path) -> str:
    lines = [
        f"`make reliability` ({machine()}; local stack, HAProxy={settings.serve_haproxy}, "
        "one-record REST requests (gRPC in 3b) from benchmarks.loadgen in its own process; "
        "offsets are seconds since the measured load started).",
        "",
    ]
    if swap := results.get("1. swap"):
        lines += [
            f"**1. Model swap.** 2 replicas, {swap['clients']} clients for {swap['seconds']:g} s "
            f"(registry poll every {settings.serve_poll_interval_s:g} s); at "
            f"{swap['move_at_s']} s `{settings.champion_alias}` moved v{swap['from_version']} -> "
            f"v{swap['to_version']} and POST /models/reload answered in {swap['reload_call_s']} s. "
            f"{swap['requests']} requests, **{swap['failed']} failed**; the last answer from the "
            f"old version came {swap['last_old_version_answer_s']} s after the move "
            f"({swap['new_version_answers']} answers from the new one).",
            "",
            *_window_rows(swap),
            "",
        ]
    if kill := results.get("2. replica killed"):
        lines += [
            f"**2. Replica killed.** 2 replicas, {kill['clients']} clients for "
            f"{kill['seconds']:g} s; SIGKILL to replica {kill['victim']} at {kill['kill_at_s']} s. "
            f"{kill['requests']} requests, **{kill['failed']} failed ({kill['failed_pct']} %)** "
            f"{kill['failure_kinds'] or ''}: requests that had started from "
            f"{kill['failures_from_s']} s to {kill['failures_until_s']} s relative to the kill "
            f"(in flight on the victim). Serve noticed the loss after {kill['noticed_s']} s, "
            f"started a replacement after {kill['replacement_started_s']} s; **two replicas "
            f"RUNNING again after {kill['recovery_s']} s**.",
            "",
            *_window_rows(kill),
            "",
        ]
    for name, scale in results.items():
        if name.startswith("3"):
            lines += _autoscaling_lines(name, scale)
    lines.append(f"![reliability timeline]({picture.name})")
    return "\n".join(lines)


SCENARIOS = ("swap", "kill", "autoscale", "autoscale-grpc")
app = typer.Typer(add_completion=False)


@app.command()
def main(
    seconds: float = typer.Option(60.0, min=10.0, max=300.0, help="load per scenario (bounded)"),
    clients: int = typer.Option(32, min=1, max=256, help="concurrent REST clients"),
    scale_clients: int = typer.Option(96, min=1, max=256, help="clients for the autoscaling run"),
    grpc_scale_clients: int = typer.Option(32, min=1, max=256, help="clients for 3b (gRPC)"),
    scale_seconds: float = typer.Option(45.0, min=10.0, max=300.0),
    idle_seconds: float = typer.Option(90.0, min=0.0, max=900.0, help="watch for scale-down"),
    only: str = typer.Option(
        ",".join(SCENARIOS), help="comma-separated subset of " + ", ".join(SCENARIOS)
    ),
) -> None:
    """Run the scenarios and write the measured section of docs/reliability.md."""
    settings = get_settings()
    tracking.use_tracking_server(settings)
    try:
        wait_healthy(serve_address(settings, "rest"), timeout_s=3)
    except ServiceUnavailable:
        deploy(settings)
    chosen = {name.strip() for name in only.split(",")}
    if unknown := chosen - set(SCENARIOS):
        raise typer.BadParameter(f"unknown scenarios {sorted(unknown)}", param_hint="--only")
    results: dict[str, dict[str, Any]] = {}
    try:
        # Two replicas for the swap and the kill: a reload reaches one of them, the other must
        # follow (alias board), and a killed replica must leave one to answer.
        if chosen & {"swap", "kill"}:
            pinned = redeploy(settings, serve_min_replicas=2, serve_max_replicas=2)
            wait_running(pinned, 2, 180)
        if "swap" in chosen:
            results["1. swap"] = scenario_swap(pinned, clients, seconds)
        if "kill" in chosen:
            results["2. replica killed"] = scenario_kill(pinned, clients, seconds)
        if "autoscale" in chosen:
            results["3. autoscaling"] = scenario_autoscale(
                settings, scale_clients, scale_seconds, idle_seconds
            )
        if "autoscale-grpc" in chosen:
            # 32 gRPC clients: the load generator's gRPC client costs more CPU per request.
            results["3b. autoscaling, gRPC"] = scenario_autoscale(
                settings, grpc_scale_clients, scale_seconds, idle_seconds, "grpc"
            )
    finally:
        deploy(settings)  # back to the user's configuration
    for name, result in results.items():
        summary = {k: v for k, v in result.items() if k not in {"per_second", "running", "windows"}}
        log.info("%s: %s", name, json.dumps(summary))
    picture = RELIABILITY.parent / "reliability_timeline.png"
    plot(results, picture)
    write_section("Measured by `make reliability`", report(results, settings, picture), RELIABILITY)


if __name__ == "__main__":
    cli.run(app)
