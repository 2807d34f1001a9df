"""ETL time and peak memory: the real file and synthetic inputs of growing size, side by side.

    make up && .venv/bin/python -m benchmarks.etl_benchmark [--sizes 100000,1000000]

Runs `python -m ray_jobs.etl --force` against the local stack for each input and samples the RSS
of the ETL driver plus every Ray process (the head's process group) above the idle baseline.
If memory streams, the peak for 1M rows stays close to the peak for 100k rows.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path

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


def _measure(input_uri: str, ray_pid: int) -> dict[str, float]:
    settings = get_settings()
    base = baseline_rss([ray_pid])
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "ray_jobs.etl", "--input", input_uri, "--force"],
        env=child_env(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with TreeSampler([ray_pid, process.pid]) as sampler:
        stdout, stderr = process.communicate()
    seconds = time.monotonic() - started
    if process.returncode != 0:
        raise RuntimeError(stderr[-2000:])
    summary = summary_line(stdout)
    return {
        "rows_in": summary["rows"]["in"],
        "seconds": seconds,
        "peak_mib": (sampler.peak - base) / MIB,
        "rows_per_s": summary["rows"]["in"] / seconds,
    }


app = typer.Typer(add_completion=False)


@app.command()
def main(sizes: str = typer.Option("100000,1000000", help="synthetic row counts")) -> None:
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
        upload_synthetic(settings, rows, 1, target)
        inputs.append((f"synthetic {rows:,}", str(target)))
    results = []
    for label, uri in inputs:
        result = _measure(uri, ray_pid)
        log.info("%s: %s", label, result)
        results.append((label, result))
    smallest = next((r for label, r in results if label.startswith("synthetic")), results[0][1])
    lines = [
        f"Machine: {machine()}; Ray head with {settings.ray_num_cpus} CPUs; local SeaweedFS; "
        "`python -m ray_jobs.etl --force` (driver run by hand, Ray Data on the local head).",
        "Peak memory = max summed RSS of the driver and the Ray head's process group, minus the "
        "idle baseline, sampled every 0.2 s (shared object-store pages may count more than once).",
        "",
        "| input | rows in | seconds | rows/s | peak extra RSS (MiB) "
        "| time vs smallest synthetic | memory vs smallest synthetic |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, r in results:
        lines.append(
            f"| {label} | {r['rows_in']:,} | {r['seconds']:.1f} | {r['rows_per_s']:,.0f} | "
            f"{r['peak_mib']:.0f} | {r['seconds'] / smallest['seconds']:.2f}x | "
            f"{r['peak_mib'] / max(smallest['peak_mib'], 1):.2f}x |"
        )
    write_section("ETL", "\n".join(lines))
    typer.echo("\n".join(lines))


if __name__ == "__main__":
    cli.run(app)
