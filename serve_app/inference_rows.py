"""The inference log's rows as one Parquet file: the answered requests a flush takes, column by
column (no dict per row), in the log's schema (what `ray_jobs.monitor` reads)."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from features.schema import FEATURE_NAMES, NUMERIC_FEATURE_NAMES
from serve_app import answer_columns

COLUMNS = (*FEATURE_NAMES, *(f.name for f in answer_columns.FIELDS), "protocol", "served_at")
# One answered request: (records or a columnar body's frame, predictions, protocol, served at)
Batch = tuple[Any, list[dict[str, Any]], str, dt.datetime]


def _cells(records: Any, name: str, kind: Any) -> Any:
    """One field of a batch's rows as an Arrow array of the log's type: records' values as
    sent; a frame's (a columnar body) converted column-wise, an id read as a number as text."""
    if isinstance(records, list):
        return pa.array([r.get(name) for r in records], type=kind)
    if name not in records:
        return pa.nulls(len(records), type=kind)
    column = records[name]
    try:
        return pa.array(column.to_numpy(), type=kind, from_pandas=True)  # NaN and None: null
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # numbers in a text field, text in a number's
        import pandas as pd

        if pa.types.is_string(kind):
            column = column.astype(str).where(column.notna(), None)
        else:
            column = pd.to_numeric(column, errors="coerce")
        return pa.array(column.to_numpy(), type=kind, from_pandas=True)


def _runs(bodies: list[Any]) -> list[Any]:
    """Consecutive record lists joined into one (columnar frames stay apart), rows in order:
    one Arrow conversion per field for 5 s of one-record requests, not one per request (a
    flush of 4,500 such requests took ~200 ms of the replica's GIL, now ~20)."""
    runs: list[Any] = []
    for body in bodies:
        if isinstance(body, list) and runs and isinstance(runs[-1], list):
            runs[-1].extend(body)
        else:
            runs.append(list(body) if isinstance(body, list) else body)
    return runs


def parquet(batches: list[Batch]) -> bytes:
    """One Parquet file of the batches, built column by column (no dict per row)."""
    fields = schema()
    predictions = [p for batch in batches for p in batch[1]]
    runs = _runs([batch[0] for batch in batches])
    columns: dict[str, Any] = {
        n: pa.concat_arrays([_cells(run, n, fields.field(n).type) for run in runs])
        for n in FEATURE_NAMES
    }
    columns.update(answer_columns.columns(predictions))
    for name, at in (("protocol", 2), ("served_at", 3)):
        columns[name] = [value for b in batches for value in [b[at]] * len(b[0])]
    table = pa.Table.from_pydict(columns, schema=fields)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def schema() -> Any:
    """The log's Arrow schema."""
    fields = [
        pa.field(n, pa.float64() if n in NUMERIC_FEATURE_NAMES else pa.string())
        for n in FEATURE_NAMES
    ]
    fields += [
        *answer_columns.FIELDS,
        pa.field("protocol", pa.string()),
        pa.field("served_at", pa.timestamp("ms", tz="UTC")),
    ]
    return pa.schema(fields)
