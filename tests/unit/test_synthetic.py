"""The synthetic generator: schema, ranges, missing rates, relationships, determinism."""

from __future__ import annotations

import pandas as pd
import pytest

from features.schema import RAW_HEADER, RAW_TO_NAME
from features.synthetic import MISSING_RATES, generate, generate_chunks
from features.validation import validate


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return generate(50_000, seed=7)


def test_columns_and_validity(data: pd.DataFrame) -> None:
    assert tuple(data.columns) == RAW_HEADER
    checked = validate(data.rename(columns=RAW_TO_NAME).astype(object), require_target=False)
    assert checked.valid.all()
    assert data["Employee ID"].is_unique


@pytest.mark.parametrize(("column", "rate"), sorted(MISSING_RATES.items()))
def test_missing_rates(data: pd.DataFrame, column: str, rate: float) -> None:
    assert data[column].isna().mean() == pytest.approx(rate, abs=0.01)


def test_ranges(data: pd.DataFrame) -> None:
    assert data["Designation"].between(0, 5).all()
    assert data["Resource Allocation"].dropna().between(1, 10).all()
    assert data["Mental Fatigue Score"].dropna().between(0, 10).all()
    assert data["Burn Rate"].dropna().between(0, 1).all()
    assert set(data["Gender"]) == {"Male", "Female"}


def test_relationships_resemble_the_public_data(data: pd.DataFrame) -> None:
    corr = data[["Designation", "Resource Allocation", "Mental Fatigue Score", "Burn Rate"]].corr()
    assert corr.loc["Mental Fatigue Score", "Burn Rate"] == pytest.approx(0.94, abs=0.03)
    assert corr.loc["Resource Allocation", "Burn Rate"] == pytest.approx(0.86, abs=0.04)
    assert data["Burn Rate"].mean() == pytest.approx(0.452, abs=0.02)


def test_seeded_and_chunked() -> None:
    assert generate(1_000, 3).equals(generate(1_000, 3))
    assert not generate(1_000, 3).equals(generate(1_000, 4))
    chunks = list(generate_chunks(2_500, 3, chunk_rows=1_000))
    assert [len(c) for c in chunks] == [1_000, 1_000, 500]
    assert pd.concat(chunks)["Employee ID"].is_unique
