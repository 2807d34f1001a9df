"""Raw schema, header checks, cell cleaning and row validation reasons."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from features.schema import RAW_HEADER, check_header
from features.validation import MISSING_TARGET, validate


def good_row(**changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "employee_id": "fffe32003000360033003200",
        "date_of_joining": "2008-09-30",
        "gender": "Female",
        "company_type": "Service",
        "wfh_setup_available": "No",
        "designation": "2.0",
        "resource_allocation": "3.0",
        "mental_fatigue_score": "3.8",
        "burn_rate": "0.16",
    }
    row.update(changes)
    return row


def check(*rows: dict[str, object], require_target: bool = True):
    return validate(pd.DataFrame(list(rows), dtype=object), require_target=require_target)


def test_header_accepts_raw_and_canonical_names_and_reports_extras() -> None:
    result = check_header([*RAW_HEADER, "Sleep Hours"])
    assert not result.missing
    assert result.extra == ("Sleep Hours",)
    assert result.positions["burn_rate"] == 8
    canonical = check_header(["employee_id", "gender"], require_target=False)
    assert "Company Type" in canonical.missing
    assert canonical.positions == {"employee_id": 0, "gender": 1}


def test_header_missing_target_only_matters_when_required() -> None:
    header = list(RAW_HEADER[:-1])
    assert check_header(header, require_target=True).missing == ("Burn Rate",)
    assert check_header(header, require_target=False).missing == ()


def test_valid_row_is_typed() -> None:
    result = check(good_row())
    assert result.valid.tolist() == [True]
    clean = result.clean.iloc[0]
    assert clean["designation"] == 2.0 and clean["burn_rate"] == pytest.approx(0.16)
    assert clean["date_of_joining"] == "2008-09-30"
    assert result.reasons().tolist() == [""]


def test_categories_are_normalised_case_insensitively() -> None:
    result = check(good_row(gender=" male ", company_type="PRODUCT", wfh_setup_available="yes"))
    assert result.valid.all()
    assert result.clean.loc[0, ["gender", "company_type", "wfh_setup_available"]].tolist() == [
        "Male",
        "Product",
        "Yes",
    ]


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("designation", "abc", "Designation: 'abc' is not a number"),
        ("designation", "6", "Designation: '6.0' is outside [0, 5]"),
        ("designation", None, "Designation: missing"),
        ("resource_allocation", "0", "Resource Allocation: '0.0' is outside [1, 10]"),
        ("mental_fatigue_score", "10.5", "Mental Fatigue Score: '10.5' is outside [0, 10]"),
        ("mental_fatigue_score", "inf", "Mental Fatigue Score: 'inf' is not a number"),
        ("burn_rate", "1.2", "Burn Rate: '1.2' is outside [0, 1]"),
        ("burn_rate", "", f"Burn Rate: {MISSING_TARGET}"),
        ("gender", "Other", "Gender: 'Other' is not one of Male, Female"),
        ("gender", "", "Gender: missing"),
        ("company_type", None, "Company Type: missing"),
        ("wfh_setup_available", "maybe", "WFH Setup Available: 'maybe' is not one of Yes, No"),
        ("date_of_joining", "30/09/2008", "Date of Joining: '30/09/2008' is not an ISO date"),
        ("date_of_joining", "1900-01-01", "Date of Joining: '1900-01-01' is outside"),
        ("employee_id", "  ", "Employee ID: missing"),
        ("employee_id", "x" * 65, "Employee ID: longer than 64 characters"),
    ],
)
def test_each_rule_gives_its_reason(field: str, value: object, expected: str) -> None:
    result = check(good_row(**{field: value}))
    assert result.valid.tolist() == [False]
    assert result.reasons().iloc[0].startswith(expected)


def test_several_failures_are_all_reported() -> None:
    reason = check(good_row(gender="x", designation="-1")).reasons().iloc[0]
    assert "Gender:" in reason and "Designation:" in reason and reason.count(";") == 1


def test_optional_numbers_may_be_missing() -> None:
    result = check(good_row(resource_allocation=None, mental_fatigue_score=""))
    assert result.valid.all()
    assert math.isnan(result.clean.loc[0, "resource_allocation"])


def test_target_is_optional_for_scoring_data() -> None:
    row = good_row()
    del row["burn_rate"]
    result = check(row, require_target=False)
    assert result.valid.all()
    assert "burn_rate" not in result.clean.columns


def test_wire_names_in_reasons() -> None:
    result = check(good_row(designation="9"), require_target=False)
    assert result.reasons("name").iloc[0].startswith("designation: ")


def test_huge_values_are_truncated_in_reasons() -> None:
    reason = check(good_row(gender="z" * 10_000)).reasons().iloc[0]
    assert len(reason) < 120


def test_booleans_are_not_numbers() -> None:
    result = check(good_row(designation=True))
    assert result.reasons().iloc[0].startswith("Designation: 'True' is not a number")


def test_missing_optional_text_next_to_present_values() -> None:
    row = good_row()
    other = good_row(date_of_joining=None, employee_id=None)
    result = validate(
        pd.DataFrame([row, other], dtype=object), require_target=True, require_id=False
    )
    assert result.valid.all(), result.reasons().tolist()
    assert result.clean["date_of_joining"].tolist() == ["2008-09-30", None]
