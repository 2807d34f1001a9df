"""One ETL batch without a cluster: rows in = rows written + rejected, whatever the batch holds
(all valid, some refused, only malformed lines), and the same batch writes the same part names."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyarrow import fs

from features.schema import RAW_HEADER, check_header
from features.splitting import SPLITS
from ray_jobs.etl.batch import REJECTS, process_batch
from ray_jobs.etl.csv_source import FileLayout, read_blocks

VALID = "fffe{n:020d},2008-03-01,Male,Service,Yes,2,4,5.5,0.5"
REFUSED = "fffe{n:020d},2008-03-01,Male,Service,Yes,9,4,5.5,0.5"  # Designation out of range
MALFORMED = "short,line"
FRACTIONS = (0.7, 0.15, 0.15)


def block(lines: list[str]) -> pa.Table:
    layout = FileLayout(check_header(RAW_HEADER).positions, len(RAW_HEADER))
    data = io.BytesIO(("\n".join([",".join(RAW_HEADER), *lines]) + "\n").encode())
    return pa.concat_tables(list(read_blocks(data, "raw/x.csv", layout)))


def run(tmp_path: Path, lines: list[str]) -> tuple[dict, dict[str, int], list[dict]]:
    out = tmp_path / "out"
    for folder in (*SPLITS, REJECTS):  # S3 needs no folders; a local filesystem does
        (out / folder).mkdir(parents=True, exist_ok=True)
    result = process_batch(block(lines), str(out), fs.LocalFileSystem(), FRACTIONS)
    stats = json.loads(result["stats"][0].as_py())
    written: dict[str, int] = {}
    for part in out.glob("*/part-*.parquet"):
        rows = pq.read_metadata(part).num_rows
        written[part.parent.name] = written.get(part.parent.name, 0) + rows
    rejects = [r for part in (out / REJECTS).glob("*") for r in pq.read_table(part).to_pylist()]
    return stats, written, rejects


@pytest.mark.parametrize(
    ("lines", "n_rejected"),
    [
        ([VALID.format(n=n) for n in range(50)], 0),
        ([*(VALID.format(n=n) for n in range(50)), REFUSED.format(n=99), MALFORMED], 2),
        ([MALFORMED, MALFORMED], 2),
        ([REFUSED.format(n=1)], 1),
    ],
    ids=["all-valid", "mixed", "only-malformed", "only-refused"],
)
def test_every_row_is_written_or_rejected_with_its_reason(
    tmp_path: Path, lines: list[str], n_rejected: int
) -> None:
    stats, written, rejects = run(tmp_path, lines)
    assert sum(n for split, n in written.items() if split != REJECTS) + len(rejects) == len(lines)
    assert len(rejects) == n_rejected
    assert all(r["reason"] and r["raw_line"] in lines for r in rejects)
    assert stats["rows_in"] == len(lines) and stats["rejected"] == n_rejected
    assert {s: v["rows"] for s, v in stats["splits"].items() if v["rows"]} == {
        s: n for s, n in written.items() if s != REJECTS
    }


def test_a_retried_batch_overwrites_its_own_parts(tmp_path: Path) -> None:
    lines = [*(VALID.format(n=n) for n in range(20)), MALFORMED]
    run(tmp_path, lines)
    _, written, rejects = run(tmp_path, lines)
    assert sum(written.values()) == len(lines) and len(rejects) == 1
