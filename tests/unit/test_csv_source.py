"""The ETL's Arrow CSV reading, without a cluster: every line comes out once, as a row or as a
malformed line with its own text and reason, in file order, whatever the block size."""

from __future__ import annotations

import io

import pyarrow as pa

from features.schema import NAMES, RAW_HEADER, check_header
from ray_jobs.etl.csv_source import BLOCK_SCHEMA, LINE, MALFORMED, SOURCE, FileLayout, read_blocks

ROW = "fffe{n:020d},2008-03-01,Male,Service,Yes,2,4,5.5,0.5,{n}"
LINES = [
    ROW.format(n=0),
    "short,line",
    '"fffe-quoted","2008-01-01",Male,Service,Yes,2,4,5.5,0.5,"a ""team"", b"',
    "   ",
    ROW.format(n=1) + ",one-too-many",
    ROW.format(n=2),
]


def read(text: str, block_bytes: int) -> pa.Table:
    header = [*RAW_HEADER, "Team Size"]
    layout = FileLayout(check_header(header).positions, len(header))
    data = io.BytesIO(("\n".join([",".join(header), *text.splitlines()]) + "\n").encode())
    blocks = list(read_blocks(data, "raw/x.csv", layout, block_bytes))
    assert all(b.schema == BLOCK_SCHEMA for b in blocks)
    return pa.concat_tables(blocks)


def test_every_line_is_a_row_or_a_malformed_line_with_its_text() -> None:
    table = read("\n".join(LINES), 1 << 20)
    assert table.num_rows == len(LINES)
    rows = table.to_pylist()
    parsed = [r for r in rows if r[MALFORMED] is None]
    malformed = {r[LINE]: r[MALFORMED] for r in rows if r[MALFORMED] is not None}
    assert malformed == {
        "short,line": "malformed CSV line: expected 10 fields, found 2",
        "   ": "malformed CSV line: expected 10 fields, found 1",
        ROW.format(n=1) + ",one-too-many": "malformed CSV line: expected 10 fields, found 11",
    }
    assert all(r[SOURCE] == "raw/x.csv" for r in rows)
    assert [r["employee_id"] for r in parsed] == [
        "fffe00000000000000000000",
        "fffe-quoted",
        "fffe00000000000000000002",
    ]
    # Lines are written back as CSV: the same text, quotes only where a field needs them.
    assert parsed[0][LINE] == LINES[0]
    assert parsed[1][LINE] == 'fffe-quoted,2008-01-01,Male,Service,Yes,2,4,5.5,0.5,"a ""team"", b"'
    assert parsed[1]["burn_rate"] == "0.5" and set(NAMES) <= set(parsed[1])


def test_small_blocks_keep_every_line_in_order() -> None:
    text = "\n".join([*LINES] * 200)
    whole, small = read(text, 1 << 20), read(text, 4096)
    assert small.num_rows == whole.num_rows == len(LINES) * 200
    assert sorted(small[LINE].to_pylist()) == sorted(whole[LINE].to_pylist())
    parsed = [r[LINE] for r in small.to_pylist() if r[MALFORMED] is None]
    assert parsed == [r[LINE] for r in whole.to_pylist() if r[MALFORMED] is None]
