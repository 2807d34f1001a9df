"""A seeded generator of HackerEarth-shaped data (same columns, ranges and missing rates).

The relationships are fitted by least squares on the public training file (Resource Allocation on
Designation and WFH; Mental Fatigue on those; Burn Rate on all), so models that do well here
behave like they do on the real data. Large sizes are produced chunk by chunk.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from features.schema import RAW_HEADER

DESIGNATION_SHARES = (0.066, 0.215, 0.334, 0.263, 0.105, 0.017)
MISSING_RATES = {
    "Resource Allocation": 0.06,
    "Mental Fatigue Score": 0.09,
    "Burn Rate": 0.05,
}
SHARE_FEMALE = 0.523
SHARE_SERVICE = 0.652
SHARE_WFH = 0.540
DEFAULT_CHUNK_ROWS = 250_000


def generate(rows: int, seed: int, start: int = 0) -> pd.DataFrame:
    """One frame of `rows` synthetic employees; `start` offsets the stream for chunking."""
    rng = np.random.default_rng([seed, start])
    designation = rng.choice(6, size=rows, p=_normalised(DESIGNATION_SHARES)).astype("float64")
    wfh = rng.random(rows) < SHARE_WFH
    allocation = np.clip(
        np.round(1.30 + 1.55 * designation - 0.35 * wfh + rng.normal(0, 0.96, rows)), 1, 10
    )
    fatigue = np.clip(
        np.round(
            2.54 + 0.77 * allocation - 0.07 * designation - 0.20 * wfh + rng.normal(0, 1.15, rows),
            1,
        ),
        0,
        10,
    )
    burn = np.clip(
        np.round(
            -0.085
            - 0.005 * designation
            + 0.0286 * allocation
            + 0.0739 * fatigue
            - 0.0116 * wfh
            + rng.normal(0, 0.056, rows),
            2,
        ),
        0,
        1,
    )
    joined = pd.Timestamp("2008-01-01") + pd.to_timedelta(rng.integers(0, 366, rows), unit="D")
    frame = pd.DataFrame(
        {
            "Employee ID": _employee_ids(rng, rows),
            "Date of Joining": joined.strftime("%Y-%m-%d"),
            "Gender": np.where(rng.random(rows) < SHARE_FEMALE, "Female", "Male"),
            "Company Type": np.where(rng.random(rows) < SHARE_SERVICE, "Service", "Product"),
            "WFH Setup Available": np.where(wfh, "Yes", "No"),
            "Designation": designation,
            "Resource Allocation": allocation,
            "Mental Fatigue Score": fatigue,
            "Burn Rate": burn,
        }
    )
    for column, rate in MISSING_RATES.items():
        frame.loc[rng.random(rows) < rate, column] = np.nan
    return frame[list(RAW_HEADER)]


def generate_chunks(
    rows: int, seed: int, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> Iterator[pd.DataFrame]:
    """The same data as a sequence of frames of at most `chunk_rows` rows each."""
    if rows < 0 or chunk_rows <= 0:
        raise ValueError("rows must be >= 0 and chunk_rows > 0")
    for start in range(0, rows, chunk_rows):
        yield generate(min(chunk_rows, rows - start), seed, start)


def _employee_ids(rng: np.random.Generator, rows: int) -> np.ndarray:
    """Hex ids shaped like the challenge's ('fffe' + 20 hex digits), unique with high odds."""
    high = rng.integers(0, 2**40, rows, dtype=np.int64)
    low = rng.integers(0, 2**40, rows, dtype=np.int64)
    return np.array([f"fffe{h:010x}{lo:010x}" for h, lo in zip(high, low, strict=True)])


def _normalised(shares: tuple[float, ...]) -> np.ndarray:
    values = np.asarray(shares, dtype="float64")
    return values / values.sum()


def shifted(frame: pd.DataFrame) -> pd.DataFrame:
    """A deliberately drifted copy of canonical-named records (monitoring demos and tests):
    more tired, more loaded, more senior and mostly without a WFH setup."""
    out = frame.copy()
    out["mental_fatigue_score"] = (out["mental_fatigue_score"] + 2.5).clip(upper=10)
    out["resource_allocation"] = (out["resource_allocation"] + 3).clip(upper=10)
    out["designation"] = (out["designation"] + 1).clip(upper=5)
    out["wfh_setup_available"] = np.where(np.arange(len(out)) % 10 < 8, "No", "Yes")
    return out


def wire_records(frame: pd.DataFrame) -> list[dict[str, object]]:
    """The valid rows of a canonical-named frame as wire records (feature fields, None where a
    value is missing): what a client sends to POST /predict."""
    from features.schema import FEATURE_NAMES
    from features.validation import validate

    clean = validate(frame.astype(object), require_target=False).clean
    clean = clean[list(FEATURE_NAMES)].astype(object)
    return list(clean.where(clean.notna(), None).to_dict("records"))
