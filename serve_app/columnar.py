"""Columnar bodies on POST /predict: CSV, Arrow IPC stream or Parquet in, the same format out.

For clients that score files: no JSON to build or parse, one column per field. A body's columns
carry the wire names or the raw CSV header names (`Employee ID`, ...); every row is checked by
the same rules as a JSON record, and a bad row is a 422 naming `records[i].field` as for JSON.
The answer has one row per input row, in order: `employee_id`, `burn_rate`, `risk_level`,
`model_name`, `model_alias`, `model_version`.
"""

from __future__ import annotations

import io
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import csv

from features.schema import FEATURE_NAMES, RAW_TO_NAME
from ray_jobs.core.errors import InvalidInput
from serve_app import answer_columns

CSV = "text/csv"
ARROW = "application/vnd.apache.arrow.stream"
PARQUET = "application/vnd.apache.parquet"
FORMATS = (CSV, ARROW, PARQUET)
ANSWER = pa.schema([pa.field("employee_id", pa.string()), *answer_columns.FIELDS])

_BINARY = {"schema": {"type": "string", "format": "binary"}}
# Merged by FastAPI into the route's generated operation (next to its JSON body and answer).
OPENAPI: dict[str, Any] = {
    "requestBody": {
        "content": {CSV: {"schema": {"type": "string"}}, ARROW: _BINARY, PARQUET: _BINARY}
    },
    "responses": {
        "200": {"content": {CSV: {"schema": {"type": "string"}}, ARROW: _BINARY, PARQUET: _BINARY}}
    },
}


def explain_refused() -> InvalidInput:
    return _invalid(
        "explain",
        "explanations come with JSON bodies only; for files, the batch scoring job's --explain "
        "writes them as columns",
    )


def format_of(content_type: str | None) -> str | None:
    """The columnar format a Content-Type names, None for anything else (JSON included)."""
    base = (content_type or "").split(";")[0].strip().lower()
    return base if base in FORMATS else None


def decode(body: bytes, kind: str) -> pd.DataFrame:
    """The body's rows as a frame of raw cells under the canonical names, one column per field
    present: text as Python strings (None for null), numbers as NumPy numbers (NaN for null).

    Column by column, never a dict per row: the validation rules take the columns as they are.
    """
    try:
        table = _read(body, kind)
    except (pa.ArrowException, OSError, ValueError) as error:
        raise _invalid("body", f"not a readable {kind} body: {error}") from None
    table = _decoded(table)
    names: dict[str, str] = {}
    for column in table.column_names:
        name = RAW_TO_NAME.get(column.strip(), column.strip())
        if name not in FEATURE_NAMES:
            raise _invalid(column, "unknown column; expected " + ", ".join(FEATURE_NAMES))
        if name in names.values():
            raise _invalid(column, f"column {name} appears twice")
        kind_of = table.schema.field(column).type
        if not _plain(kind_of):
            raise _invalid(column, f"Arrow type {kind_of}; expected strings or numbers")
        names[column] = name
    if table.num_rows == 0:
        raise _invalid("body", "no rows")
    columns = {}
    for column in table.column_names:
        values = table.column(column).to_numpy(zero_copy_only=False)
        # Object arrays stay object (pandas would infer its string dtype, a slower rule path).
        columns[names[column]] = pd.Series(values, dtype=object if values.dtype == object else None)
    return pd.DataFrame(columns, copy=False)


def encode(predictions: list[dict[str, Any]], kind: str) -> bytes:
    """The predictions as one table in the format they came in."""
    ids = [p.get("employee_id") for p in predictions]
    table = pa.table({"employee_id": ids, **answer_columns.columns(predictions)}, schema=ANSWER)
    sink = pa.BufferOutputStream()
    if kind == CSV:
        csv.write_csv(table, sink)
    elif kind == ARROW:
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
    else:
        pq.write_table(table, sink, compression="zstd")
    return sink.getvalue().to_pybytes()


def _read(body: bytes, kind: str) -> pa.Table:
    if kind == CSV:
        return csv.read_csv(io.BytesIO(body), read_options=csv.ReadOptions(use_threads=False))
    if kind == ARROW:
        return pa.ipc.open_stream(body).read_all()
    return pq.read_table(io.BytesIO(body))


def _decoded(table: pa.Table) -> pa.Table:
    """Dictionary-encoded columns (a pandas category written to Parquet) as plain values, and
    dates (Arrow's CSV reader infers them; Parquet stores them) as the ISO text the rules read."""
    for index, field in enumerate(table.schema):
        column = table.column(index)
        if pa.types.is_dictionary(field.type):
            column = column.cast(field.type.value_type)
        if pa.types.is_timestamp(column.type):
            column = column.cast(pa.date32())  # the record's field is a date: the time goes
        if pa.types.is_date(column.type):
            column = column.cast(pa.string())
        if column is not table.column(index):
            table = table.set_column(index, field.name, column)
    return table


def _plain(kind: pa.DataType) -> bool:
    types = pa.types
    return bool(
        types.is_string(kind)
        or types.is_large_string(kind)
        or types.is_integer(kind)
        or types.is_floating(kind)
        or types.is_null(kind)
    )


def _invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput([{"field": field, "loc": [field], "message": message}])
