"""The two references the ETL job is measured against, each one process over the same S3 input.

    python -m benchmarks.etl_reference floor s3://data/raw/bench-.../
    python -m benchmarks.etl_reference pandas s3://data/raw/bench-.../

`floor`: pyarrow reads each CSV part and writes it back as zstd Parquet: the I/O floor.
`pandas`: pandas reads each part, applies the project's own rules (`features.validation`, reasons
for the rejected rows, `features.splitting`) and writes the splits and rejects as Parquet: what
one process does without Ray.
"""

from __future__ import annotations

import logging
import time

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import typer
from pyarrow import csv

from features.schema import RAW_TO_NAME
from features.splitting import SPLITS, split_of
from features.validation import validate
from ray_jobs.core import cli, s3
from ray_jobs.core.settings import get_settings

log = logging.getLogger(__name__)
app = typer.Typer(add_completion=False)


def _parts(input_uri: str) -> list[str]:
    settings = get_settings()
    source = s3.S3Uri.parse(input_uri)
    return [
        s3.S3Uri(source.bucket, o["key"]).path
        for o in s3.raw_csv_objects(s3.client(settings), source)
    ]


@app.command()
def floor(input_uri: str, output: str = "processed/bench-floor") -> None:
    """pyarrow CSV -> zstd Parquet, part by part."""
    filesystem = s3.arrow_fs(get_settings())
    started, rows = time.monotonic(), 0
    for index, path in enumerate(_parts(input_uri)):
        with filesystem.open_input_stream(path) as stream:
            table = csv.read_csv(stream)
        rows += table.num_rows
        pq.write_table(
            table, f"{output}/part-{index}.parquet", filesystem=filesystem, compression="zstd"
        )
    typer.echo(f'{{"rows": {rows}, "seconds": {time.monotonic() - started:.3f}}}')


@app.command(name="pandas")
def pandas_rules(input_uri: str, output: str = "processed/bench-pandas") -> None:
    """pandas read_csv, the project's rules, splits and rejects to zstd Parquet, part by part."""
    filesystem = s3.arrow_fs(get_settings())
    started, rows = time.monotonic(), 0
    for index, path in enumerate(_parts(input_uri)):
        with filesystem.open_input_stream(path) as stream:
            raw = pd.read_csv(stream, dtype=str, keep_default_na=False).rename(columns=RAW_TO_NAME)
        rows += len(raw)
        checked = validate(raw, require_target=True)
        ok = checked.valid.to_numpy()
        rejects = pd.DataFrame({"reason": checked.reasons("raw")[~ok]})
        clean = checked.clean[ok]
        splits = split_of(clean["employee_id"]).to_numpy()
        for split in SPLITS:
            table = pa.Table.from_pandas(clean[splits == split], preserve_index=False)
            pq.write_table(
                table,
                f"{output}/{split}/part-{index}.parquet",
                filesystem=filesystem,
                compression="zstd",
            )
        pq.write_table(
            pa.Table.from_pandas(rejects, preserve_index=False),
            f"{output}/rejects/part-{index}.parquet",
            filesystem=filesystem,
            compression="zstd",
        )
    typer.echo(f'{{"rows": {rows}, "seconds": {time.monotonic() - started:.3f}}}')


if __name__ == "__main__":
    cli.run(app)
