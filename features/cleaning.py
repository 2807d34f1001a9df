"""Cell-level cleaning: turn raw values into typed ones and say why a value could not be used.

Each function takes a Series of raw cells (strings, numbers or missing) and returns the cleaned
Series (object dtype, None where missing) plus a Series of error messages (None where the value
is fine). The same code serves a 10M-row ETL batch and a single API record.

Cells that are all strings (a CSV column, an API record's text fields) take a column-wise path
on pandas' Arrow-backed strings: no Python call per cell. Anything else (an API client's number
or boolean in a text field) is normalised with a Python call per cell first, then follows the
same rules. A column already in clean form skips the rules (features.clean_form).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from features.clean_form import (
    ISO_DATE,
    ISO_DAY,
    as_is,
    no_errors,
    numbers_as_is,
    plain_identifier,
    plain_iso_day,
)
from features.schema import EARLIEST_JOINING_DATE, LATEST_JOINING_YEAR, MAX_ID_LENGTH

_SHOWN_CHARS = 40
_NUMBER_TYPES = {int, float, type(None), np.float64, np.int64}
# What float() would take, minus inf/nan/underscores (which the rules refuse anyway).
_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"


def normalize_text(raw: pd.Series) -> pd.Series:
    """Strip whitespace and turn empty strings into missing values.

    All-string cells come back as pandas' Arrow-backed `str` dtype (missing as NaN); mixed cells
    as object dtype (missing as None), non-strings kept as they are.
    """
    if _all_text(raw):
        text = raw.astype("str").str.strip()
        return text.mask(text == "")
    return _cellwise(raw, _clean_cell)


def _all_text(raw: pd.Series) -> bool:
    """True when every present cell is a string (the column-wise path applies)."""
    if isinstance(raw.dtype, pd.StringDtype):
        return True
    if raw.dtype != object:
        return False
    return pd.api.types.infer_dtype(raw, skipna=True) in {"string", "empty"} or bool(
        raw.isna().all()
    )


def _per_cell_or_column(
    text: pd.Series, column: Callable[[Any], pd.Series], cell: Callable[[Any], Any]
) -> pd.Series:
    """`column(text.str)` on normalised all-string text, else `cell` on each string cell (None
    for a non-string one)."""
    if isinstance(text.dtype, pd.StringDtype):
        return column(text.str)
    return _cellwise(text, lambda v: cell(v) if isinstance(v, str) else None)


def _objects(values: pd.Series) -> pd.Series:
    """Object dtype with None for missing: what every rule returns, whatever path it took."""
    return values.astype(object).where(values.notna(), None)


def _cellwise(values: pd.Series, function: Callable[[Any], Any]) -> pd.Series:
    """A Python function per cell, into an object Series (a list comprehension over the array
    is several times cheaper than Series.map, and this runs on every API request)."""
    return pd.Series(
        [function(v) for v in values.to_numpy(dtype=object)], index=values.index, dtype=object
    )


def _as_text(values: pd.Series) -> pd.Series:
    """Cells as strings (normalised text in; a number in an id field becomes its digits)."""
    if isinstance(values.dtype, pd.StringDtype):
        return values
    return pd.Series(
        [None if _clean_cell(v) is None else str(v) for v in values],
        index=values.index,
        dtype=object,
    )


def _clean_cell(value: object) -> object:
    if isinstance(value, str):
        return value.strip() or None
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return value


def _shown(values: pd.Series, suffix: str) -> Callable[[pd.Series], pd.Series]:
    """A message naming each offending value, quoted and truncated (so a reason never carries a
    huge string); built only for the rows that fail."""

    def build(condition: pd.Series) -> pd.Series:
        return "'" + values[condition].astype(str).str.slice(0, _SHOWN_CHARS) + "'" + suffix

    return build


def _messages(
    condition: pd.Series, message: Callable[[pd.Series], pd.Series] | str, index: pd.Index
) -> pd.Series:
    out = pd.Series(None, index=index, dtype=object)
    if condition.any():
        out[condition] = message if isinstance(message, str) else message(condition)
    return out


def _first(*candidates: pd.Series) -> pd.Series:
    """Combine message Series: the first non-missing message per row wins."""
    result = candidates[0]
    for other in candidates[1:]:
        result = result.where(result.notna(), other)
    return result


def to_number(
    raw: pd.Series, minimum: float | None, maximum: float | None, required: bool
) -> tuple[pd.Series, pd.Series]:
    """Parse numbers, checking the range; booleans are not numbers."""
    plain = _plain_numbers(raw)
    if plain and (done := numbers_as_is(raw, minimum, maximum, required)):
        return done
    if plain:
        # API records arrive as floats and None: nothing to strip, no booleans to refuse.
        text = raw.astype(object).where(raw.notna(), None)
        is_bool = pd.Series(False, index=raw.index)
        values = pd.to_numeric(text, errors="coerce").astype("float64")
    else:
        text = normalize_text(raw)
        if isinstance(text.dtype, pd.StringDtype):
            # Arrow's cast refuses what is not a number outright: only number-shaped cells go.
            shaped = text.str.fullmatch(_NUMBER, na=False)
            values = text.where(shaped).astype("float64")
            is_bool = pd.Series(False, index=raw.index)
        else:
            is_bool = _cellwise(text, lambda v: isinstance(v, (bool, np.bool_))).astype(bool)
            values = pd.to_numeric(text.where(~is_bool, None), errors="coerce").astype("float64")
    present = text.notna()
    bad = (present & values.isna()) | is_bool | np.isinf(values)
    values = values.where(~bad & ~np.isinf(values))
    low = values < minimum if minimum is not None else pd.Series(False, index=raw.index)
    high = values > maximum if maximum is not None else pd.Series(False, index=raw.index)
    errors = _first(
        _messages(bad, _shown(text, " is not a number"), raw.index),
        _messages(
            low | high,
            _shown(values, f" is outside [{_fmt(minimum)}, {_fmt(maximum)}]"),
            raw.index,
        ),
        _messages(~present & required, "missing", raw.index) if required else no_errors(raw.index),
    )
    return values.where(errors.isna()), errors


def _plain_numbers(raw: pd.Series) -> bool:
    """True when every cell is an int, a float or missing (never a string or a boolean)."""
    if pd.api.types.is_float_dtype(raw.dtype) or pd.api.types.is_integer_dtype(raw.dtype):
        return True
    if isinstance(raw.dtype, pd.StringDtype):
        return False
    return set(map(type, raw.to_numpy(dtype=object))) <= _NUMBER_TYPES


def to_category(
    raw: pd.Series, categories: tuple[str, ...], required: bool
) -> tuple[pd.Series, pd.Series]:
    """Match categories case-insensitively and return them in their canonical spelling."""
    canonical = frozenset(categories)
    if done := as_is(raw, required, lambda v: type(v) is str and v in canonical):
        return done
    text = normalize_text(raw)
    lookup = {c.lower(): c for c in categories}
    # A non-string cell (mixed input) is unknown, like a misspelt category.
    values = _per_cell_or_column(text, lambda t: t.lower(), str.lower).map(lookup)
    present = text.notna()
    unknown = present & values.isna()
    errors = _first(
        _messages(unknown, _shown(text, f" is not one of {', '.join(categories)}"), raw.index),
        _messages(~present, "missing", raw.index) if required else no_errors(raw.index),
    )
    return _objects(values.where(errors.isna())), errors


def to_iso_date(raw: pd.Series, required: bool) -> tuple[pd.Series, pd.Series]:
    """Parse ISO dates (YYYY-MM-DD, a time part is tolerated) into 'YYYY-MM-DD' strings."""
    if done := as_is(raw, required, plain_iso_day):
        return done
    text = _as_text(normalize_text(raw))
    iso_shaped = _per_cell_or_column(
        text, lambda t: t.match(ISO_DATE.pattern, na=False), lambda v: bool(ISO_DATE.match(v))
    ).astype(bool)
    parsed = pd.to_datetime(text.where(iso_shaped, None), errors="coerce", format="ISO8601")
    present = text.notna()
    bad = present & parsed.isna()
    years = parsed.dt.year
    out_of_range = (parsed < pd.Timestamp(EARLIEST_JOINING_DATE)) | (years > LATEST_JOINING_YEAR)
    out_of_range = out_of_range & parsed.notna()
    errors = _first(
        _messages(bad, _shown(text, " is not an ISO date (YYYY-MM-DD)"), raw.index),
        _messages(
            out_of_range,
            _shown(
                text,
                f" is outside {EARLIEST_JOINING_DATE.isoformat()}..{LATEST_JOINING_YEAR}-12-31",
            ),
            raw.index,
        ),
        _messages(~present, "missing", raw.index) if required else no_errors(raw.index),
    )
    # An ISO-shaped cell that parsed starts with its date: no formatting per cell needed.
    iso = _per_cell_or_column(text, lambda t: t.slice(0, ISO_DAY), lambda v: v[:ISO_DAY])
    return _objects(iso.where(errors.isna() & parsed.notna())), errors


def to_identifier(raw: pd.Series, required: bool) -> tuple[pd.Series, pd.Series]:
    """Identifiers are non-empty strings of bounded length."""
    if done := as_is(raw, required, plain_identifier):
        return done
    text = _as_text(normalize_text(raw))
    present = text.notna()
    too_long = present & (text.str.len() > MAX_ID_LENGTH)
    errors = _first(
        _messages(too_long, f"longer than {MAX_ID_LENGTH} characters", raw.index),
        _messages(~present, "missing", raw.index) if required else no_errors(raw.index),
    )
    return _objects(text.where(errors.isna())), errors


def _fmt(bound: float | None) -> str:
    if bound is None:
        return "-inf"
    return f"{bound:g}"
