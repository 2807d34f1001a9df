"""Columnar bodies of POST /predict without a server: what is read, what is refused."""

from __future__ import annotations

import io

import pandas as pd
import pyarrow as pa
import pyarrow.csv
import pyarrow.parquet as pq
import pytest

from ray_jobs.core.errors import InvalidInput
from serve_app.columnar import ARROW, CSV, PARQUET, decode, encode, format_of


def rows(frame: pd.DataFrame) -> list[dict[str, object]]:
    """The frame's rows as wire records (None for a missing cell, NaN included)."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def test_content_types_name_a_format_and_json_is_not_one() -> None:
    assert format_of("text/csv; charset=utf-8") == CSV
    assert format_of("Application/Vnd.Apache.Parquet") == PARQUET
    assert format_of("application/json") is None and format_of(None) is None


def test_a_parquet_file_from_pandas_reads_as_wire_records() -> None:
    frame = pd.DataFrame(
        {"Employee ID": ["a", "b"], "Gender": pd.Categorical(["Male", "Female"]),
         "designation": [2, None], "Mental Fatigue Score": [5.5, 7.0]}
    )  # fmt: skip
    sink = io.BytesIO()
    frame.to_parquet(sink)  # the category is dictionary-encoded in the file
    frame = decode(sink.getvalue(), PARQUET)
    assert frame["gender"].dtype == object  # plain strings: the rules' fast path takes them
    assert rows(frame) == [
        {"employee_id": "a", "gender": "Male", "designation": 2.0, "mental_fatigue_score": 5.5},
        {"employee_id": "b", "gender": "Female", "designation": None, "mental_fatigue_score": 7.0},
    ]


@pytest.mark.parametrize(
    ("body", "kind", "field"),
    [
        (b"Gender,Team\nMale,x\n", CSV, "Team"),
        (b"gender,Gender\nMale,Male\n", CSV, "Gender"),
        (b"Gender\n", CSV, "body"),
        (b"\x00garbage", ARROW, "body"),
        (b"PAR1", PARQUET, "body"),
    ],
)
def test_bad_bodies_name_the_column_or_the_body(body: bytes, kind: str, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        decode(body, kind)
    assert caught.value.errors[0]["loc"] == [field]


def test_dates_and_timestamps_read_as_iso_dates() -> None:
    body = b"Date of Joining,Gender\n2008-03-01,Male\n,Female\n"
    assert rows(decode(body, CSV))[1]["date_of_joining"] is None
    assert decode(body, CSV)["date_of_joining"][0] == "2008-03-01"
    table = pa.table({"date_of_joining": pa.array([0, None], pa.timestamp("ms"))})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    records = rows(decode(sink.getvalue().to_pybytes(), PARQUET))
    assert [r["date_of_joining"] for r in records] == ["1970-01-01", None]


def test_nested_columns_are_refused() -> None:
    table = pa.table({"gender": [["Male"]]})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    with pytest.raises(InvalidInput, match="expected strings or numbers"):
        decode(sink.getvalue().to_pybytes(), PARQUET)


@pytest.mark.parametrize("kind", [CSV, ARROW, PARQUET])
def test_answers_are_one_row_per_prediction_in_the_same_format(kind: str) -> None:
    model = {"name": "burnout", "alias": "champion", "version": "3"}
    predictions = [
        {"employee_id": "a", "burn_rate": 0.25, "risk_level": "Low", "model": model},
        {"employee_id": None, "burn_rate": 0.75, "risk_level": "High", "model": model},
    ]
    data = encode(predictions, kind)
    if kind == CSV:
        nulls = pa.csv.ConvertOptions(strings_can_be_null=True)  # CSV has no null but ""
        table = pa.csv.read_csv(io.BytesIO(data), convert_options=nulls)
    elif kind == ARROW:
        table = pa.ipc.open_stream(data).read_all()
    else:
        table = pq.read_table(io.BytesIO(data))
    rows = table.to_pylist()
    assert [r["burn_rate"] for r in rows] == [0.25, 0.75]
    assert [r["employee_id"] for r in rows] == ["a", None]
    assert {r["model_version"] for r in rows} == {3 if kind == CSV else "3"}
