"""Families tuned side by side versus one after another: the same trials, in one run.

    make up && .venv/bin/python -m benchmarks.train_parallel [--trials 6] [--dataset-version ds-...]

Both runs use the same config, seed and dataset (the latest complete version unless given) and
register under a separate model name, so the project's champion is untouched.
"""

from __future__ import annotations

import logging
import os
import statistics
import subprocess
import sys
import time

import typer

from benchmarks.common import TreeSampler, machine, service_pids, write_section
from ray_jobs.core import cli
from ray_jobs.core.settings import child_env, get_settings
from ray_jobs.submit import summary_line

log = logging.getLogger(__name__)
BENCH_MODEL = "burnout-rate-benchmark"
# Issue 19: parallel / sequential within 15 % of the CPU lower bound measured in the same run.
TARGET_OVER_BOUND = 1.15


def _train(args: list[str]) -> tuple[float, float, dict[str, object]]:
    """Wall seconds, CPU seconds (the driver, Ray's processes, and the S3 and MLflow servers
    the job keeps busy: work on the same cores) and the job's summary."""
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "ray_jobs.train", *args],
        env=child_env(get_settings(), {"BURNOUT_MODEL_NAME": BENCH_MODEL}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Sampling costs CPU, which the parallel mode has none of to spare: every 0.5 s is plenty.
    roots = [*service_pids(get_settings(), ("ray", "s3", "mlflow")), process.pid]
    with TreeSampler(roots, interval=0.5) as sampler:
        stdout, stderr = process.communicate()
    seconds = time.monotonic() - started
    if process.returncode != 0:
        raise RuntimeError(stderr[-3000:])
    return seconds, sampler.cpu_seconds, summary_line(stdout)


def _verdict(ratio: float, bound: float) -> str:
    over = ratio / bound
    met = "met" if over <= TARGET_OVER_BOUND else "NOT met"
    return f"{over:.2f}x the lower bound; target <= {TARGET_OVER_BOUND}x: {met}"


def _runs(values: list[float]) -> str:
    return ", ".join(f"{v:.1f}" for v in values)


app = typer.Typer(add_completion=False)


@app.command()
def main(
    trials: int = typer.Option(0, min=0, help="trials per family (0: the config's budgets)"),
    dataset_version: str = typer.Option("", help="default: latest complete"),
    repeats: int = typer.Option(3, min=1, max=5, help="timed runs per mode, alternating"),
) -> None:
    """Measure and write the 'Training: parallel vs sequential families' section."""
    args = ["--trials", str(trials)] if trials else []
    if dataset_version:
        args += ["--dataset-version", dataset_version]
    # Untimed: the first job after `make up` also pays for cold worker processes and caches.
    _train([*args, "--trials", "1"])
    machine_cpus = os.cpu_count()
    times: dict[str, list[float]] = {"parallel": [], "sequential": []}
    phase: dict[str, list[float]] = {"parallel": [], "sequential": []}
    busy: dict[str, list[float]] = {"parallel": [], "sequential": []}
    summaries: dict[str, dict[str, object]] = {}
    for _ in range(repeats):
        for mode, extra in (("parallel", []), ("sequential", ["--sequential"])):
            seconds, cpu, summaries[mode] = _train([*args, *extra])
            times[mode].append(seconds)
            phase[mode].append(summaries[mode]["phase_seconds"]["families"])  # type: ignore[index]
            busy[mode].append(cpu / seconds)
            log.info(
                "%s: %.1f s (families %.1f s), %.2f cores busy",
                mode, seconds, phase[mode][-1], cpu / seconds,
            )  # fmt: skip
    parallel, sequential = summaries["parallel"], summaries["sequential"]
    parallel_s, sequential_s = (
        statistics.median(times["parallel"]),
        statistics.median(times["sequential"]),
    )
    ratio = parallel_s / sequential_s
    phase_p, phase_s = statistics.median(phase["parallel"]), statistics.median(phase["sequential"])
    rest = statistics.median(
        t - f for t, f in zip(times["parallel"], phase["parallel"], strict=True)
    )
    floor = statistics.median(busy["sequential"]) / (machine_cpus or 1)
    per_family = ", ".join(
        f"{f} {v['seconds']}s/{sequential['families'][f]['seconds']}s"  # type: ignore[index]
        for f, v in parallel["families"].items()  # type: ignore[union-attr]
    )
    body = f"""Machine: {machine()}; Ray head with {get_settings().ray_num_cpus} CPUs.
Command: `python -m ray_jobs.train {" ".join(args)}`, with and without `--sequential`;
same seed, dataset {parallel["dataset_version"]}; wall time of the whole job, median of
{repeats} alternating runs per mode after one untimed warm-up job.

| mode | job wall seconds | families phase seconds | cores busy (CPU s / wall s) |
|---|---|---|---|
| families in parallel (3 Tuners, one thread each) | {parallel_s:.1f} ({_runs(times["parallel"])}) \
| {phase_p:.1f} ({_runs(phase["parallel"])}) \
| {statistics.median(busy["parallel"]):.2f} of {machine_cpus} |
| families one after another | {sequential_s:.1f} ({_runs(times["sequential"])}) \
| {phase_s:.1f} ({_runs(phase["sequential"])}) \
| {statistics.median(busy["sequential"]):.2f} of {machine_cpus} |
| **ratio parallel / sequential** | **{ratio:.2f}** ({_verdict(ratio, floor)}) \
| **{phase_p / phase_s:.2f}** | |

The families phase is what running the families side by side can change: tuning, refit, test
scoring and MLflow logging of all three (`phase_seconds.families` in the job's summary). The
rest of the job, {rest:.1f} s in parallel mode, is the same in both modes: interpreter and imports,
service checks, Ray connect, reading the splits, registry writes.

Per family, tuning + refit seconds (parallel / sequential): {per_family}.
CPU s: the job's driver, every Ray process, and the S3 and MLflow servers it keeps busy (work
on the same cores). The same CPU work with every core busy the whole time would take
sequential CPU s / {machine_cpus}:
a lower bound of **{floor:.2f}** for the ratio on this machine (sequential cores busy / CPUs).
"""
    write_section("Training: parallel vs sequential families", body)
    typer.echo(body)


if __name__ == "__main__":
    cli.run(app)
