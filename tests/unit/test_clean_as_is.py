"""Columns already in clean form skip the cleaning rules: the result must be what the rules give.

The rules are row by row, so a column's rows must clean the same way with one more, bad, row
appended; that bad row sends the whole column through the full rules.
"""

from __future__ import annotations

import math

import pandas as pd
import pandas.testing as pdt
import pytest

from features.schema import BY_NAME
from features.validation import clean_column

# A value of each kind that the rules refuse: appended, it forces the full rules.
POISON = {"id": "x" * 65, "date": "not a date", "category": "??", "number": math.inf}

API_VALUES = {  # what API clients send, the canonical form first
    "employee_id": ["fffe32003000360033003200", "a", "E" * 64, None],
    "date_of_joining": ["2008-09-30", "1950-01-01", "2100-12-31", "2008-02-29", None],
    "gender": ["Female", "Male"],
    "company_type": ["Service", "Product"],
    "wfh_setup_available": ["No", "Yes"],
    "designation": [2.0, 0.0, 5.0, 3, None],
    "resource_allocation": [3.0, 1.0, 10.0, None],
    "mental_fatigue_score": [3.8, 0.0, 10.0, None],
}
NEAR_MISSES = {  # not clean as sent: each must take the rules (and clean or fail as they say)
    "employee_id": [" padded ", "", "x" * 65, 12345],
    "date_of_joining": ["2008-9-30", "2008-02-30", "1949-12-31", "٢٠٠٨-٠١-٠٥", "2008-09-30 "],
    "gender": ["female", " Male", "Other", math.nan],
    "company_type": ["SERVICE", None],
    "wfh_setup_available": ["no", True],
    "designation": [5.5, -1.0, math.nan, True],
    "resource_allocation": [math.inf, 11.0],
    "mental_fatigue_score": [-math.inf, "3.8"],
}


def cleaned(name: str, cells: list[object]) -> tuple[pd.Series, pd.Series]:
    return clean_column(BY_NAME[name], pd.Series(cells, dtype=object))


@pytest.mark.parametrize("name", list(API_VALUES))
def test_a_clean_column_cleans_as_the_full_rules_clean_it(name: str) -> None:
    column = BY_NAME[name]
    cells = [v for v in API_VALUES[name] if v is not None or not column.required] * 50
    values, errors = cleaned(name, cells)
    full_values, full_errors = cleaned(name, [*cells, POISON[column.kind]])
    assert errors.isna().all()
    assert full_errors.iloc[-1] is not None  # the poison did take the full rules
    pdt.assert_series_equal(values, full_values.iloc[:-1])
    pdt.assert_series_equal(errors, full_errors.iloc[:-1])


@pytest.mark.parametrize("name", list(NEAR_MISSES))
def test_a_cell_not_in_clean_form_gets_the_full_rules(name: str) -> None:
    column = BY_NAME[name]
    good = API_VALUES[name][0]
    for near_miss in NEAR_MISSES[name]:
        values, errors = cleaned(name, [good, near_miss])
        alone_values, alone_errors = cleaned(name, [near_miss, POISON[column.kind]])
        assert same(values.iloc[1], alone_values.iloc[0]), near_miss
        assert same(errors.iloc[1], alone_errors.iloc[0]), near_miss


def same(a: object, b: object) -> bool:
    """Equal, or both missing (the rules say "no value" as None or NaN)."""
    return bool(pd.isna(a) and pd.isna(b)) if pd.isna(a) or pd.isna(b) else a == b


def test_the_rules_still_fix_and_refuse_what_api_clients_send() -> None:
    assert cleaned("gender", ["Male", " female "])[0].tolist() == ["Male", "Female"]
    assert cleaned("employee_id", ["a", " b "])[0].tolist() == ["a", "b"]
    values, errors = cleaned("date_of_joining", ["2008-09-30", "2008-02-30"])
    assert values.tolist() == ["2008-09-30", None]
    assert "is not an ISO date" in errors.iloc[1]
    values, errors = cleaned("designation", [2.0, 5.5])
    assert math.isnan(values.iloc[1]) and "outside [0, 5]" in errors.iloc[1]
    errors = cleaned("gender", ["Female", None])[1]
    assert pd.isna(errors.iloc[0]) and errors.iloc[1] == "missing"
