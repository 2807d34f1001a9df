"""What one Ray Data batch of the ETL does: parse CSV lines, validate, split, write Parquet.

Runs inside Ray workers. Each batch writes its own part files, named by a digest of its lines,
so a retried task overwrites its earlier attempt instead of duplicating rows.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.schema import NAMES, RAW_COLUMNS
from features.splitting import SPLITS, split_of
from features.validation import validate
from ray_jobs.etl import stats as dataset_stats

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


@dataclass(frozen=True)
class FileLayout:
    """Where each schema column sits in one input file."""

    header_line: str
    positions: dict[str, int]
    n_fields: int


def process_batch(
    batch: pd.DataFrame,
    layouts: dict[str, FileLayout],
    output_path: str,
    filesystem: Any,
    fractions: tuple[float, float, float],
) -> pd.DataFrame:
    """Lines in ('text', 'path'); one row of JSON statistics out, Parquet parts written."""
    raw_parts, reject_parts, rows_in = [], [], 0
    for path, group in batch.groupby("path", sort=False):
        layout = layouts[_normalise(str(path))]
        lines = group["text"].astype(str)
        lines = lines[lines.str.strip() != layout.header_line]
        rows_in += len(lines)
        raw, malformed = _parse(lines, layout, str(path))
        raw_parts.append(raw)
        reject_parts.append(malformed)
    raw = pd.concat(raw_parts, ignore_index=True) if raw_parts else pd.DataFrame(columns=NAMES)
    checked = validate(raw.drop(columns=["_line", "_source"]), require_target=True)
    reasons = checked.reasons("raw")
    ok = checked.valid.to_numpy()
    rejected = pd.DataFrame(
        {"source": raw["_source"][~ok], "raw_line": raw["_line"][~ok], "reason": reasons[~ok]}
    )
    rejects = pd.concat([*reject_parts, rejected], ignore_index=True)
    clean = checked.clean[ok].reset_index(drop=True)
    splits = (
        split_of(clean["employee_id"], fractions) if len(clean) else pd.Series([], dtype=object)
    )
    frames = {s: clean[splits.to_numpy() == s] for s in SPLITS}
    digest = _digest(batch["text"])
    for split, frame in frames.items():
        _write(frame, CLEAN_SCHEMA, f"{output_path}/{split}/part-{digest}.parquet", filesystem)
    _write(rejects, REJECT_SCHEMA, f"{output_path}/{REJECTS}/part-{digest}.parquet", filesystem)
    stats = dataset_stats.partial(frames, rejects["reason"], rows_in)
    return pd.DataFrame({"stats": [json.dumps(stats)]})


def _parse(lines: pd.Series, layout: FileLayout, source: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split CSV lines into fields; lines with the wrong field count become rejects."""
    rows = list(csv.reader(lines.tolist()))
    good = [i for i, r in enumerate(rows) if len(r) == layout.n_fields]
    bad = [i for i, r in enumerate(rows) if len(r) != layout.n_fields]
    texts = lines.tolist()
    columns: dict[str, list[Any]] = {
        name: [rows[i][pos] for i in good] for name, pos in layout.positions.items()
    }
    raw = pd.DataFrame(columns, dtype=object)
    raw["_line"] = [texts[i] for i in good]
    raw["_source"] = source
    malformed = pd.DataFrame(
        {
            "source": [source] * len(bad),
            "raw_line": [texts[i] for i in bad],
            "reason": [
                f"malformed CSV line: expected {layout.n_fields} fields, found {len(rows[i])}"
                for i in bad
            ],
        }
    )
    return raw, malformed


def _write(frame: pd.DataFrame, schema: pa.Schema, path: str, filesystem: Any) -> None:
    if frame.empty:
        return
    table = pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)
    pq.write_table(table, path, filesystem=filesystem, compression="zstd")


def _digest(lines: pd.Series) -> str:
    hasher = hashlib.blake2b(digest_size=10)
    for line in lines:
        hasher.update(str(line).encode())
        hasher.update(b"\n")
    return hasher.hexdigest()


def _normalise(path: str) -> str:
    return path.removeprefix("s3://")
