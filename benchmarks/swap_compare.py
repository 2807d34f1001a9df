"""Ways to put a moved alias on every replica, side by side under the same load.

    python -m benchmarks.swap_compare --rounds 2

- board: POST /models/reload reaches one replica; it publishes on the alias board (a small
  detached actor) and the other replicas, polling it every 0.5 s, reload too;
- serve.run: Serve's imperative API, redeploying with a new `reload_generation` in user_config;
- config PUT: Serve's declarative API (what `serve deploy` sends to the dashboard), the same
  user_config change; the controller calls `reconfigure` on the running replicas in place.

The app is deployed from serve_app/config.yaml with 2 replicas; runs alternate; each is
scenario 1 of benchmarks.reliability. The table goes to the "Swap: alias board vs Serve
reconfigure" section of docs/reliability.md. The criteria: 0 failed requests, every replica on the
new version within 1 s of the swap.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import typer

from benchmarks.common import machine, write_section
from benchmarks.reliability import RELIABILITY, scenario_swap
from ray_jobs.core import cli, tracking
from ray_jobs.core.cluster import connect
from ray_jobs.core.settings import Settings, get_settings
from serve_app.deploy import apply, deploy, wait_running

log = logging.getLogger(__name__)

TITLE = "Swap: alias board vs Serve reconfigure"
WAYS = ("board", "serve.run", "config PUT")


def reconfigure_call(settings: Settings, generation: int) -> Callable[[], None]:
    """serve.run with only `user_config` changed. Serve gives every imperative deploy a new code
    version (`version=` was removed from the options), so this rolls the replicas over."""
    from ray import serve

    from serve_app.deployment import build

    def swap() -> None:
        app = build(settings, reload_generation=generation)
        serve.run(app, name=settings.serve_app_name, route_prefix="/", blocking=False)

    return swap


def compare(settings: Settings, clients: int, seconds: float, rounds: int) -> list[dict[str, Any]]:
    """Alternate the ways; the app is deployed from the config (as `serve deploy` would) so that
    a user_config change can be a lightweight update."""
    # The registry poll is off: only the way under test may bring the new version.
    pinned = settings.model_copy(
        update={"serve_min_replicas": 2, "serve_max_replicas": 2, "serve_poll_interval_s": 0.0}
    )
    apply(pinned, 0)
    wait_running(pinned, 2, 180)
    connect(pinned)  # before the load starts: a swap must not pay for ray.init
    import ray

    rows: list[dict[str, Any]] = []
    generation = 0
    try:
        for _ in range(rounds):
            for via in WAYS:
                generation += 1
                swap = {
                    "board": None,  # scenario_swap's default: POST /models/reload
                    "serve.run": reconfigure_call(pinned, generation),
                    # a lightweight update calling `reconfigure`
                    "config PUT": functools.partial(apply, pinned, generation),
                }[via]
                result = scenario_swap(pinned, clients, seconds, swap)
                log.info("%s: %s", via, {k: result[k] for k in summary_keys()})
                rows.append({"via": via, **result})
                if via == "serve.run":  # back to the declarative app for the next runs
                    apply(pinned, generation)
                wait_running(pinned, 2, 180)
    finally:
        ray.shutdown()
    return rows


def summary_keys() -> tuple[str, ...]:
    return ("requests", "failed", "reload_call_s", "last_old_version_answer_s")


def report(rows: list[dict[str, Any]], clients: int, seconds: float) -> str:
    lines = [
        f"`python -m benchmarks.swap_compare` ({machine()}; 2 replicas, {clients} one-record REST "
        f"clients for {seconds:g} s per run, the alias moves at a third of the run and the swap "
        "is requested at once; runs alternate). *Swap call* is how long the POST or the redeploy "
        "took; *last old answer* is when the last request answered by the old version ended, "
        "counted from the alias move (a request in flight at the move may still end on it).",
        "",
        "| way | requests | failed | swap call s | last old answer s | p99 ms before | "
        "p99 ms during 10 s |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        before, during = row["windows"][0], row["windows"][1]
        lines.append(
            f"| {row['via']} | {row['requests']} | {row['failed']} | {row['reload_call_s']} | "
            f"{row['last_old_version_answer_s']} | {before['p99_ms']} | {during['p99_ms']} |"
        )
    return "\n".join(lines)


app = typer.Typer(add_completion=False)


@app.command()
def main(
    rounds: int = typer.Option(2, min=1, max=5, help="runs of each way, alternating"),
    seconds: float = typer.Option(30.0, min=10.0, max=120.0, help="load per run (bounded)"),
    clients: int = typer.Option(32, min=1, max=128, help="concurrent REST clients"),
) -> None:
    """Run the comparison and write its section of docs/reliability.md."""
    settings = get_settings()
    tracking.use_tracking_server(settings)
    try:
        rows = compare(settings, clients, seconds, rounds)
    finally:
        deploy(settings)  # back to the user's configuration
    write_section(TITLE, report(rows, clients, seconds), RELIABILITY)


if __name__ == "__main__":
    cli.run(app)
