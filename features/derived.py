"""Derived features computed from validated records (inside the model pipeline, so serving
computes exactly what training saw)."""

from __future__ import annotations

import pandas as pd

from features.schema import CATEGORICAL_NAMES, NUMERIC_FEATURE_NAMES, REFERENCE_DATE

TENURE_YEARS = "tenure_years"
DERIVED_NUMERIC: tuple[str, ...] = (*NUMERIC_FEATURE_NAMES, TENURE_YEARS)
_DAYS_PER_YEAR = 365.25


def tenure_years(date_of_joining: pd.Series) -> pd.Series:
    """Years between joining and the dataset's reference date (NaN when the date is missing)."""
    joined = pd.to_datetime(date_of_joining, errors="coerce", format="ISO8601")
    days = (pd.Timestamp(REFERENCE_DATE) - joined).dt.days
    return (days / _DAYS_PER_YEAR).astype("float64")


def derive_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Model inputs from canonical records: categoricals as strings, numerics as float64."""
    out = pd.DataFrame(index=frame.index)
    for name in CATEGORICAL_NAMES:
        column = frame[name] if name in frame.columns else pd.Series(None, index=frame.index)
        out[name] = column.astype(object).where(column.notna(), None)
    for name in NUMERIC_FEATURE_NAMES:
        column = frame[name] if name in frame.columns else pd.Series(None, index=frame.index)
        out[name] = pd.to_numeric(column, errors="coerce").astype("float64")
    dates = frame["date_of_joining"] if "date_of_joining" in frame.columns else None
    out[TENURE_YEARS] = (
        tenure_years(dates) if dates is not None else pd.Series(float("nan"), index=frame.index)
    )
    return out
