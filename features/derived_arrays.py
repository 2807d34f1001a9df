"""`features.derived.derive_features` as NumPy arrays, for the compiled pipeline: the raw columns
the encoder and the imputer read, plus tenure, without building a frame."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.derived import tenure_years
from features.schema import CATEGORICAL_NAMES, NUMERIC_FEATURE_NAMES

_TENURE_CACHE: dict[str, float] = {}
_TENURE_CACHE_MAX = 200_000  # distinct join dates (a few thousand in practice)


def _tenure(dates: np.ndarray) -> np.ndarray:
    """`tenure_years` per value, remembered per 'YYYY-MM-DD' string (each value's own parse)."""
    out = np.empty(len(dates), dtype="float64")
    todo: list[int] = []
    for i, value in enumerate(dates):
        hit = _TENURE_CACHE.get(value) if isinstance(value, str) else None
        if hit is None:
            todo.append(i)
        else:
            out[i] = hit
    if todo:
        values = pd.Series(dates[todo], dtype=object)
        computed = tenure_years(values).to_numpy()
        out[todo] = computed
        if len(_TENURE_CACHE) < _TENURE_CACHE_MAX:
            for value, years in zip(values, computed, strict=True):
                if isinstance(value, str):
                    _TENURE_CACHE[value] = float(years)
    return out


def derived_arrays(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """`features.derived.derive_features` as arrays (categoricals: objects with None)."""
    columns: dict[str, np.ndarray] = {}
    rows = len(frame)
    for name in CATEGORICAL_NAMES:
        if name not in frame.columns:
            columns[name] = np.full(rows, None, dtype=object)
            continue
        values = frame[name].to_numpy(dtype=object)
        missing = pd.isna(values)
        columns[name] = np.where(missing, None, values) if missing.any() else values
    for name in NUMERIC_FEATURE_NAMES:
        if name not in frame.columns:
            columns[name] = np.full(rows, np.nan)
            continue
        column = frame[name]
        if column.dtype != np.float64:
            column = pd.to_numeric(column, errors="coerce").astype("float64")
        columns[name] = column.to_numpy(dtype="float64")
    if "date_of_joining" in frame.columns:
        columns["tenure_years"] = _tenure(frame["date_of_joining"].to_numpy(dtype=object))
    else:
        columns["tenure_years"] = np.full(rows, np.nan)
    return columns
