"""The column-wise JSON reading of POST /predict agrees with pydantic on every body it takes,
and leaves everything unusual to pydantic."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import settings as fuzz_settings
from hypothesis import strategies as st
from pydantic import ValidationError

from serve_app.plain_json import plain_body, plain_records
from serve_app.predictor import _check
from serve_app.schemas import MAX_TEXT, EmployeeRecord, PredictRequest

GOOD = {
    "employee_id": "e1",
    "date_of_joining": "2008-09-30",
    "gender": "Female",
    "company_type": "Service",
    "wfh_setup_available": "No",
    "designation": 2,
    "resource_allocation": 3.0,
    "mental_fatigue_score": None,
}


def pydantic_records(body: bytes) -> list[dict[str, Any]] | None:
    try:
        return PredictRequest.model_validate_json(body).model_dump()["records"]
    except ValidationError:
        return None


def test_plain_bodies_take_the_fast_path_and_read_like_pydantic() -> None:
    minimal = {k: GOOD[k] for k in ("gender", "company_type", "wfh_setup_available")}
    body = json.dumps({"records": [GOOD, minimal | {"designation": 4.5}] * 50}).encode()
    fast = plain_records(body)
    assert fast is not None and fast == pydantic_records(body)
    assert fast[0]["designation"] == 2.0 and type(fast[0]["designation"]) is float
    assert fast[1]["employee_id"] is None and fast[1]["mental_fatigue_score"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"records": [GOOD | {"Gender": "Male"}]},  # raw CSV name: pydantic resolves aliases
        {"records": [GOOD | {"designation": "2"}]},  # a number as text: pydantic's lax parsing
        {"records": [GOOD | {"designation": True}]},
        {"records": [GOOD | {"gender": 1}]},
        {"records": [GOOD | {"team": "x"}]},
        {"records": [{k: v for k, v in GOOD.items() if k != "designation"}]},
        {"records": [GOOD | {"designation": None}]},
        {"records": [GOOD | {"employee_id": "x" * (MAX_TEXT + 1)}]},
        {"records": [GOOD | {"designation": 10**400}]},
        {"records": [GOOD], "extra": 1},
        {"records": []},
        {"records": [GOOD, [1]]},
        [GOOD],
    ],
)
def test_anything_unusual_is_left_to_pydantic(body: Any) -> None:
    assert plain_records(json.dumps(body).encode()) is None


def test_unparseable_and_nan_bodies_are_left_to_pydantic() -> None:
    assert plain_records(b'{"records": [') is None
    nan = json.dumps({"records": [GOOD | {"designation": float("nan")}]}).encode()
    assert plain_records(nan) is None


REQUIRED = {"gender", "company_type", "wfh_setup_available", "designation"}
TEXT = st.text(max_size=300)
NUMBER = st.one_of(st.integers(), st.floats(allow_nan=False))
TYPED = st.fixed_dictionaries(
    {k: TEXT if isinstance(v, str) else NUMBER for k, v in GOOD.items() if k in REQUIRED},
    optional={
        k: st.none() | (TEXT if isinstance(v, str) else NUMBER)
        for k, v in GOOD.items()
        if k not in REQUIRED
    },
)  # optional fields present or absent or null; long text, ints and floats
NOISE = st.dictionaries(
    st.sampled_from([*GOOD, "Gender", "other"]),
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5), st.lists(st.none())),
    max_size=1,
)  # now and then a null or wrongly typed field, or a raw CSV or unknown name


@fuzz_settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(TYPED, NOISE), min_size=1, max_size=4))
def test_whatever_the_fast_path_takes_pydantic_takes_the_same_way(
    parts: list[tuple[dict[str, Any], dict[str, Any]]],
) -> None:
    body = json.dumps({"records": [typed | noise for typed, noise in parts]}).encode()
    fast = plain_records(body)
    if fast is not None:
        assert fast == pydantic_records(body)


@fuzz_settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(TYPED, NOISE), min_size=1, max_size=6))
def test_a_bulk_body_read_as_columns_validates_as_its_records_do(
    parts: list[tuple[dict[str, Any], dict[str, Any]]],
) -> None:
    """Bulk bodies go to the rules as a frame (no dict per record); the rules must find the same
    errors and give the same clean rows as from the records."""
    body = json.dumps({"records": [typed | noise for typed, noise in parts]}).encode()
    plain = plain_body(body)
    if plain is None:
        return
    frame = plain.frame()
    assert len(frame) == len(plain) and list(frame.columns) == list(EmployeeRecord.model_fields)
    from_frame, from_records = _check(frame), _check(plain.records())
    assert from_frame[1] == from_records[1]
    pd.testing.assert_frame_equal(from_frame[0], from_records[0])


def test_a_realistic_bulk_body_reads_the_same_as_columns_and_as_records() -> None:
    from features.schema import RAW_TO_NAME
    from features.synthetic import generate, wire_records

    records = wire_records(generate(2_000, 3).rename(columns=RAW_TO_NAME))
    records[5] = records[5] | {"gender": "male ", "date_of_joining": "2008-02-30"}
    records[6] = {k: v for k, v in records[6].items() if v is not None and k != "employee_id"}
    plain = plain_body(json.dumps({"records": records}).encode())
    assert plain is not None
    from_frame, from_records = _check(plain.frame()), _check(plain.records())
    assert [(row, name) for row, name, _ in from_frame[1]] == [(5, "date_of_joining")]
    assert from_frame[1] == from_records[1]
    pd.testing.assert_frame_equal(from_frame[0], from_records[0])
    assert from_frame[0]["mental_fatigue_score"].isna().sum() > 0  # missing values kept missing
