"""Families tuned side by side versus one after another: the same trials, in one run.

    make up && .venv/bin/python -m benchmarks.train_parallel [--trials 6] [--dataset-version ds-...]

Both runs use the same config, seed and dataset (the latest complete version unless given) and
register under a separate model name, so the project's champion is untouched.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time

import typer

from benchmarks.common import machine, write_section
from ray_jobs import cli
from ray_jobs.settings import child_env, get_settings
from ray_jobs.submit import summary_line

log = logging.getLogger(__name__)
BENCH_MODEL = "burnout-rate-benchmark"


def _train(args: list[str]) -> tuple[float, dict[str, object]]:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "ray_jobs.train", *args],
        env=child_env(get_settings(), {"BURNOUT_MODEL_NAME": BENCH_MODEL}),
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    return seconds, summary_line(result.stdout)


app = typer.Typer(add_completion=False)


@app.command()
def main(
    trials: int = typer.Option(0, min=0, help="trials per family (0: the config's budgets)"),
    dataset_version: str = typer.Option("", help="default: latest complete"),
) -> None:
    """Measure and write the 'Training: parallel vs sequential families' section."""
    args = ["--trials", str(trials)] if trials else []
    if dataset_version:
        args += ["--dataset-version", dataset_version]
    parallel_s, parallel = _train(args)
    sequential_s, sequential = _train([*args, "--sequential"])
    ratio = parallel_s / sequential_s
    per_family = ", ".join(
        f"{f} {v['seconds']}s/{sequential['families'][f]['seconds']}s"  # type: ignore[index]
        for f, v in parallel["families"].items()  # type: ignore[union-attr]
    )
    body = f"""Machine: {machine()}; Ray head with {get_settings().ray_num_cpus} CPUs.
Command: `python -m ray_jobs.train {" ".join(args)}`, with and without `--sequential`;
same seed, dataset {parallel["dataset_version"]}; wall time of the whole job.

| mode | wall seconds |
|---|---|
| families in parallel (3 Tuners as Ray tasks) | {parallel_s:.1f} |
| families one after another | {sequential_s:.1f} |
| **ratio parallel / sequential** | **{ratio:.2f}** (target <= 0.6) |

Per family, tuning + refit seconds (parallel / sequential): {per_family}.
"""
    write_section("Training: parallel vs sequential families", body)
    typer.echo(body)


if __name__ == "__main__":
    cli.run(app)
