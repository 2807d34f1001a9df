"""The raw CSVs as Arrow blocks: every cell a string, no line lost.

Arrow's streaming CSV reader parses the files (C++, no Python call per line). Each block holds
the schema's columns as strings (positions from the file's header), the row's line as CSV text
and its source file. A line with the wrong number of fields becomes a row of its own, with only
its raw text, source and reason: Arrow's `invalid_row_handler` hands it over instead of failing
the file, so rows in = rows out + rejected holds line for line.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv

from features.schema import NAMES

SOURCE, LINE, MALFORMED = "_source", "_line", "_malformed"
BLOCK_SCHEMA = pa.schema(
    [
        *(pa.field(name, pa.string()) for name in NAMES),
        pa.field(SOURCE, pa.string()),
        pa.field(LINE, pa.string()),
        pa.field(MALFORMED, pa.string()),  # null for a parsed row, else why it was not
    ]
)
BLOCK_BYTES = 4 << 20  # of CSV text per block: ~60,000 rows of this schema
_NEEDS_QUOTES = r'[,"\r\n]'


@dataclass(frozen=True)
class FileLayout:
    """Where each schema column sits in one input file."""

    positions: dict[str, int]
    n_fields: int


def read_blocks(
    source: Any, path: str, layout: FileLayout, block_bytes: int = BLOCK_BYTES
) -> Iterator[pa.Table]:
    """BLOCK_SCHEMA tables from one CSV file (header line skipped), in file order."""
    malformed: list[tuple[str, int]] = []

    def keep(row: Any) -> str:
        malformed.append((row.text, row.actual_columns))
        return "skip"

    names = [f"c{i}" for i in range(layout.n_fields)]
    reader = csv.open_csv(
        source,
        read_options=csv.ReadOptions(
            use_threads=False, block_size=block_bytes, column_names=names, skip_rows=1
        ),
        parse_options=csv.ParseOptions(invalid_row_handler=keep),
        convert_options=csv.ConvertOptions(
            column_types={n: pa.string() for n in names},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    for batch in reader:
        yield _block(batch, path, layout, malformed)
        malformed.clear()
    if malformed:
        yield _block(None, path, layout, malformed)


def _block(
    batch: pa.RecordBatch | None, path: str, layout: FileLayout, malformed: list[tuple[str, int]]
) -> pa.Table:
    parts = []
    if batch is not None and batch.num_rows:
        fields = [batch.column(i) for i in range(layout.n_fields)]
        rows = batch.num_rows
        columns = [fields[layout.positions[name]] for name in NAMES]
        columns += [_repeat(path, rows), _as_line(fields), pa.nulls(rows, pa.string())]
        parts.append(pa.Table.from_arrays(columns, schema=BLOCK_SCHEMA))
    if malformed:
        rows = len(malformed)
        reasons = [
            f"malformed CSV line: expected {layout.n_fields} fields, found {found}"
            for _, found in malformed
        ]
        columns = [pa.nulls(rows, pa.string()) for _ in NAMES]
        columns += [
            _repeat(path, rows),
            pa.array([text for text, _ in malformed], pa.string()),
            pa.array(reasons, pa.string()),
        ]
        parts.append(pa.Table.from_arrays(columns, schema=BLOCK_SCHEMA))
    return pa.concat_tables(parts) if parts else BLOCK_SCHEMA.empty_table()


def _as_line(fields: list[pa.Array]) -> pa.Array:
    """The row written back as one CSV line: the line itself unless it quoted what needed none."""
    quoted = []
    for field in fields:
        if pc.any(pc.match_substring_regex(field, _NEEDS_QUOTES)).as_py():
            escaped = pc.replace_substring(field, '"', '""')
            wrapped = pc.binary_join_element_wise('"', escaped, '"', "")
            field = pc.if_else(pc.match_substring_regex(field, _NEEDS_QUOTES), wrapped, field)  # noqa: PLW2901
        quoted.append(field)
    return pc.binary_join_element_wise(*quoted, ",")


def _repeat(value: str, rows: int) -> pa.Array:
    return pc.take(pa.array([value], pa.string()), pa.array(np.zeros(rows, np.int32)))
