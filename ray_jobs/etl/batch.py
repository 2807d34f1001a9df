"""What one Ray Data batch of the ETL does: validate, split, write Parquet.

Runs inside Ray workers, on Arrow blocks from `ray_jobs.etl.csv_source`. Each batch writes its
own part files, named by a digest of its lines, so a retried task overwrites its earlier attempt
instead of duplicating rows.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from features.schema import NAMES, RAW_COLUMNS
from features.splitting import SPLITS, split_of
from features.validation import validate
from ray_jobs.etl import stats as dataset_stats
from ray_jobs.etl.csv_source import LINE, MALFORMED, SOURCE

CLEAN_SCHEMA = pa.schema(
    [pa.field(c.name, pa.float64() if c.kind == "number" else pa.string()) for c in RAW_COLUMNS]
)
REJECT_SCHEMA = pa.schema(
    [
        pa.field("source", pa.string()),
        pa.field("raw_line", pa.string()),
        pa.field("reason", pa.string()),
    ]
)
REJECTS = "rejects"


def process_batch(
    batch: pa.Table,
    output_path: str,
    filesystem: Any,
    fractions: tuple[float, float, float],
) -> pa.Table:
    """Rows of the raw block schema in; one row of JSON statistics out, Parquet parts written."""
    is_parsed = pc.is_null(batch[MALFORMED])
    parsed, malformed = batch.filter(is_parsed), batch.filter(pc.invert(is_parsed))
    checked = validate(parsed.select(list(NAMES)).to_pandas(), require_target=True)
    ok = checked.valid.to_numpy()
    lines = parsed.select([SOURCE, LINE]).filter(pa.array(~ok))
    rejects = pa.table(
        {
            "source": _joined(malformed[SOURCE], lines[SOURCE]),
            "raw_line": _joined(malformed[LINE], lines[LINE]),
            "reason": _joined(
                malformed[MALFORMED], pa.array(checked.reasons("raw")[~ok], pa.string())
            ),
        },
        schema=REJECT_SCHEMA,
    )
    clean = checked.clean[ok].reset_index(drop=True)
    splits = split_of(clean["employee_id"], fractions).to_numpy()
    frames = {s: clean[splits == s] for s in SPLITS}
    digest = _digest(batch)
    for split, frame in frames.items():
        _write(frame, CLEAN_SCHEMA, f"{output_path}/{split}/part-{digest}.parquet", filesystem)
    if rejects.num_rows:
        pq.write_table(
            rejects,
            f"{output_path}/{REJECTS}/part-{digest}.parquet",
            filesystem=filesystem,
            compression="zstd",
        )
    reasons = pd.Series(rejects["reason"].to_pylist(), dtype=object)
    stats = dataset_stats.partial(frames, reasons, batch.num_rows)
    return pa.table({"stats": [json.dumps(stats)]})


def _joined(*parts: pa.Array | pa.ChunkedArray) -> pa.ChunkedArray:
    """One string column of the parts, in order. Each chunk is cast: an empty part (a batch
    with no failing rows) comes from pandas as Arrow's null type, which Arrow will not mix."""
    chunks = [c for p in parts for c in (p.chunks if isinstance(p, pa.ChunkedArray) else [p])]
    return pa.chunked_array([c.cast(pa.string()) for c in chunks], pa.string())


def _write(frame: pd.DataFrame, schema: pa.Schema, path: str, filesystem: Any) -> None:
    if frame.empty:
        return
    table = pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)
    pq.write_table(table, path, filesystem=filesystem, compression="zstd")


def _digest(batch: pa.Table) -> str:
    """Of the batch's lines and their files, in order: the same rows give the same name."""
    sink = pa.BufferOutputStream()
    table = batch.select([SOURCE, LINE]).combine_chunks()  # bytes independent of chunking
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return hashlib.blake2b(sink.getvalue(), digest_size=10).hexdigest()
