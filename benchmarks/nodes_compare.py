"""The cost of spreading out: the ETL and training on one Ray node vs a head + two worker nodes
with the same total CPUs, side by side in one run.

    make up && .venv/bin/python -m benchmarks.nodes_compare [--rows 200000] [--trials 4]

Each shape is a Ray cluster of its own, started by the local stack on a free port block beside
the user's stack and sharing its S3 and MLflow (it registers under a model name of its own, so
the user's champion stays where it is):

- one node: a head with 2 CPUs;
- spread: a head that takes no work (0 CPUs) and two worker nodes with 1 CPU each.

The jobs go through the Jobs API as usual. The shapes alternate for `--rounds` rounds and the
median of each is reported; the ratio spread / one node is the overhead of distribution.
Results go to the "One node vs three" section of docs/benchmarks.md.
"""

from __future__ import annotations

import logging
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import typer

from benchmarks.common import machine, write_section
from local_stack.port_blocks import free_port_block, ray_cluster_settings
from local_stack.stack import Stack
from ray_jobs.core import cli
from ray_jobs.core.jobs_client import JobsClient
from ray_jobs.core.settings import Settings, get_settings
from ray_jobs.ingest import raw_prefix, upload_synthetic
from ray_jobs.submit import run_job, summary_line

log = logging.getLogger(__name__)

SHAPES: dict[str, dict[str, Any]] = {
    "one node (head, 2 CPUs)": {"ray_num_cpus": 2, "ray_workers": 0},
    "spread (head 0 CPUs + 2 workers x 1 CPU)": {
        "ray_num_cpus": 0,
        "ray_workers": 2,
        "ray_worker_num_cpus": 1,
    },
}
MODEL_NAME = "burnout-rate-bench-nodes"


def timed_job(settings: Settings, entrypoint: str) -> tuple[float, dict[str, Any]]:
    """Wall seconds from submission to a terminal state, and the job's JSON summary."""
    started = time.monotonic()
    info = run_job(settings, entrypoint, echo=False, timeout_s=1800)
    seconds = time.monotonic() - started
    if info["status"] != "SUCCEEDED":
        raise RuntimeError(f"{entrypoint} ended {info['status']}: {info.get('message')}")
    return seconds, summary_line(JobsClient.from_settings(settings).logs(info["submission_id"]))


def measure_shape(
    settings: Settings, shape: dict[str, Any], input_uri: str, trials: int
) -> dict[str, float]:
    """Start a cluster of this shape, run the ETL then training on it, stop it."""
    top = Path(tempfile.mkdtemp(prefix="br-shape-", dir="/tmp"))
    cluster = ray_cluster_settings(
        settings, top / ".run", free_port_block(), model_name=MODEL_NAME, **shape
    )
    stack = Stack(cluster)
    nodes = ("ray", *(f"ray-worker-{i}" for i in range(1, cluster.ray_workers + 1)))
    try:
        stack.up(nodes)
        etl_s, etl = timed_job(cluster, f"python -m ray_jobs.etl --input {input_uri} --force")
        train_s, train = timed_job(
            cluster,
            f"python -m ray_jobs.train --dataset-version {etl['dataset_version']}"
            f" --trials {trials}",
        )
    finally:
        stack.down(nodes)
        shutil.rmtree(top, ignore_errors=True)
    return {
        "etl_s": etl_s,
        "etl_job_s": float(etl["seconds"]),
        "train_s": train_s,
        "families_s": float(train["phase_seconds"]["families"]),
        "task_nodes": len(set(train["nodes"]["cpu_task_nodes"])),
    }


app = typer.Typer(add_completion=False)


@app.command()
def main(
    rows: int = typer.Option(200_000, min=1_000, max=2_000_000, help="synthetic rows for the ETL"),
    trials: int = typer.Option(4, min=1, max=32, help="trials per family"),
    rounds: int = typer.Option(2, min=1, max=5, help="alternating rounds per shape"),
) -> None:
    """Measure both shapes and write the section of docs/benchmarks.md."""
    settings = get_settings()
    target = raw_prefix(settings, f"bench-nodes-{rows}")
    upload_synthetic(settings, rows, 3, target)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in SHAPES}
    for round_ in range(rounds):
        for name, shape in SHAPES.items():
            result = measure_shape(settings, shape, str(target), trials)
            log.info("round %d, %s: %s", round_ + 1, name, result)
            runs[name].append(result)
    medians = {
        name: {k: statistics.median(r[k] for r in results) for k in results[0]}
        for name, results in runs.items()
    }
    one, spread = (medians[name] for name in SHAPES)
    lines = [
        f"Machine: {machine()}. {rows:,} synthetic rows, {trials} trials per family, the median "
        f"of {rounds} alternating rounds per shape; each shape a Ray cluster of its own beside the "
        "stack (same S3 and MLflow), jobs through the Jobs API. Job = submission to SUCCEEDED; "
        "ETL in-job = the manifest's own time; families = the training job's tuning phase.",
        "",
        "| shape | ETL job (s) | ETL in-job (s) | training job (s) | families (s) "
        "| nodes running trials |",
        "|---|---|---|---|---|---|",
    ]
    for name, m in medians.items():
        lines.append(
            f"| {name} | {m['etl_s']:.1f} | {m['etl_job_s']:.1f} | {m['train_s']:.1f} | "
            f"{m['families_s']:.1f} | {m['task_nodes']:.0f} |"
        )
    lines.append(
        f"| **spread / one node** | **{spread['etl_s'] / one['etl_s']:.2f}x** | "
        f"{spread['etl_job_s'] / one['etl_job_s']:.2f}x | "
        f"**{spread['train_s'] / one['train_s']:.2f}x** | "
        f"{spread['families_s'] / one['families_s']:.2f}x | |"
    )
    lines += ["", "Goal: spread / one node <= 1.2x for both jobs."]
    write_section("One node vs three", "\n".join(lines))
    typer.echo("\n".join(lines))


if __name__ == "__main__":
    cli.run(app)
