"""Columns already in clean form: the fast path of the cleaning rules (features.cleaning).

An API client's records mostly are clean as sent (canonical categories, ISO days in range,
stripped ids, finite in-range numbers). Checking that once per distinct value costs a fraction of
running the rules, which would return the same cells without an error; each check here must
accept only such values (tests/unit/test_clean_as_is.py holds them to the rules' result).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from features.schema import EARLIEST_JOINING_DATE, LATEST_JOINING_YEAR, MAX_ID_LENGTH

ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ][0-9:.+\-Z]*)?$")
ISO_DAY = 10  # characters of YYYY-MM-DD

Cleaned = tuple[pd.Series, pd.Series]  # (values, error messages)


def no_errors(index: pd.Index) -> pd.Series:
    return pd.Series(None, index=index, dtype=object)


def as_is(raw: pd.Series, required: bool, fits: Callable[[Any], bool]) -> Cleaned | None:
    """The column unchanged and without errors, or None if any cell is not in clean form."""
    if raw.dtype != object:
        return None
    try:
        distinct = set(raw.to_numpy())
    except TypeError:  # an unhashable cell (a list, say): the rules say what is wrong with it
        return None
    if None in distinct:
        if required:
            return None
        distinct.discard(None)
    if not all(map(fits, distinct)):
        return None
    return raw, no_errors(raw.index)


def numbers_as_is(
    raw: pd.Series, minimum: float | None, maximum: float | None, required: bool
) -> Cleaned | None:
    """Plain numbers (no text, no booleans) that all pass (finite, in range, present if
    required) as float64 without errors, in one pass over an array; None when any fails."""
    values = (
        np.asarray(raw.to_numpy(), dtype=float)
        if raw.dtype == object
        else raw.to_numpy(dtype=float, na_value=np.nan)
    )
    missing = np.isnan(values)
    present = values[~missing]
    if (required and missing.any()) or not np.isfinite(present).all():
        return None
    if (minimum is not None and (present < minimum).any()) or (
        maximum is not None and (present > maximum).any()
    ):
        return None
    return pd.Series(values, index=raw.index), no_errors(raw.index)


def plain_iso_day(value: Any) -> bool:
    """A 'YYYY-MM-DD' string of a real day in the accepted range."""
    if type(value) is not str or len(value) != ISO_DAY or not value.isascii():
        return False
    if not ISO_DATE.match(value):
        return False
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        return False
    return day >= EARLIEST_JOINING_DATE and day.year <= LATEST_JOINING_YEAR


def plain_identifier(value: Any) -> bool:
    """A stripped, non-empty string within the id length limit."""
    return type(value) is str and 0 < len(value) <= MAX_ID_LENGTH and value == value.strip()
