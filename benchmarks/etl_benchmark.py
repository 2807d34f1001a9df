"""ETL time and peak memory against the I/O floor and a single pandas process, side by side.

    make up && .venv/bin/python -m benchmarks.etl_benchmark [--sizes 1000000,10000000]

For each input (the real file, then synthetic inputs streamed to S3 in 250,000-row parts) runs,
one after the other: `python -m ray_jobs.etl --force` against the local stack, the I/O floor
(pyarrow CSV -> Parquet, one process) and the pandas reference applying the same rules
(`benchmarks.etl_reference`). Peak memory: the RSS of the process (and for the job, of every
Ray process of the head's group) above the idle baseline.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import typer

from benchmarks.common import TreeSampler, baseline_rss, machine, ray_head_pid, write_section
from ray_jobs.core import cli
from ray_jobs.core.settings import child_env, get_settings
from ray_jobs.ingest import raw_prefix, upload_file, upload_synthetic
from ray_jobs.submit import summary_line

log = logging.getLogger(__name__)
REAL = (
    Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "employee_burnout_train.csv"
)
MIB = 2**20


def _measure(command: list[str], ray_pid: int | None) -> dict[str, Any]:
    settings = get_settings()
    roots = [ray_pid] if ray_pid else []
    base = baseline_rss(roots) if roots else 0
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", *command],
        env=child_env(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with TreeSampler([*roots, process.pid]) as sampler:
        stdout, stderr = process.communicate()
    seconds = time.monotonic() - started
    if process.returncode != 0:
        raise RuntimeError(stderr[-2000:])
    return {
        "seconds": seconds,
        "peak_mib": (sampler.peak - base) / MIB,
        "summary": summary_line(stdout),
    }


def _compare(uri: str, ray_pid: int) -> dict[str, Any]:
    job = _measure(["ray_jobs.etl", "--input", uri, "--force"], ray_pid)
    floor = _measure(["benchmarks.etl_reference", "floor", uri], None)
    reference = _measure(["benchmarks.etl_reference", "pandas", uri], None)
    rows = job["summary"]["rows"]["in"]
    if not rows == floor["summary"]["rows"] == reference["summary"]["rows"]:
        raise RuntimeError(f"row counts differ: {rows}, {floor['summary']}, {reference['summary']}")
    return {"rows": rows, "job": job, "floor": floor, "pandas": reference}


app = typer.Typer(add_completion=False)


@app.command()
def main(sizes: str = typer.Option("1000000,10000000", help="synthetic row counts")) -> None:
    """Measure and write the 'ETL' section of docs/benchmarks.md."""
    settings = get_settings()
    ray_pid = ray_head_pid(settings)
    inputs: list[tuple[str, str]] = []
    if REAL.exists():
        target = raw_prefix(settings, "bench-real")
        upload_file(settings, REAL, target)
        inputs.append(("real train.csv", str(target)))
    for rows in (int(s) for s in sizes.split(",")):
        target = raw_prefix(settings, f"bench-synthetic-{rows}")
        upload_synthetic(settings, rows, 7, target)  # streamed: one 250,000-row part at a time
        inputs.append((f"synthetic {rows:,}", str(target)))
    lines = [
        f"Machine: {machine()}; Ray head with {settings.ray_num_cpus} CPUs; local SeaweedFS. "
        "`python -m ray_jobs.etl --force` (driver by hand, Ray Data on the local head), then the "
        "I/O floor (pyarrow CSV -> zstd Parquet, one process) and the pandas reference (pandas "
        "read_csv, the same `features` rules, splits and rejects to Parquet, one process) on the "
        "same S3 input, one after the other (`benchmarks/etl_reference.py`). Peak = RSS above "
        "the idle baseline (for the job: its driver and every Ray process of the head's group), "
        "sampled every 0.2 s.",
        "",
        "| input | rows | job s | job rows/s | job peak MiB | floor s | pandas s | pandas peak MiB "
        "| job / pandas | job / floor |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, uri in inputs:
        r = _compare(uri, ray_pid)
        log.info("%s: %s", label, r)
        job, floor, ref = r["job"], r["floor"], r["pandas"]
        lines.append(
            f"| {label} | {r['rows']:,} | {job['seconds']:.1f} | {r['rows'] / job['seconds']:,.0f} "
            f"| {job['peak_mib']:.0f} | {floor['seconds']:.1f} | {ref['seconds']:.1f} "
            f"| {ref['peak_mib']:.0f} | **{job['seconds'] / ref['seconds']:.2f}x** "
            f"| **{job['seconds'] / floor['seconds']:.2f}x** |"
        )
    lines += [
        "",
        "Targets: job / pandas <= 1.0 at 1M rows; job / floor <= 3 at 10M rows with the job's peak "
        "<= 4 GiB.",
    ]
    write_section("ETL", "\n".join(lines))
    typer.echo("\n".join(lines))


if __name__ == "__main__":
    cli.run(app)
