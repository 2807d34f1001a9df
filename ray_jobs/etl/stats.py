"""Dataset statistics computed per batch and merged, so the ETL never holds the data to count it."""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any

import pandas as pd

from features.schema import CATEGORICAL_NAMES, NAMES, RAW_COLUMNS

NUMERIC = tuple(c.name for c in RAW_COLUMNS if c.kind == "number")
_QUOTED = re.compile(r"'[^']*'")


def reason_key(reason: str) -> str:
    """A reason without the offending values, so reasons can be counted by rule."""
    return _QUOTED.sub("<value>", reason)


def partial(frames: dict[str, pd.DataFrame], reasons: pd.Series, rows_in: int) -> dict[str, Any]:
    """Counts, sums and extremes of one batch, per split."""
    splits: dict[str, Any] = {}
    for split, frame in frames.items():
        numeric = {
            name: {
                "n": int(frame[name].notna().sum()),
                "sum": float(frame[name].sum()),
                "sumsq": float((frame[name] ** 2).sum()),
                "min": _finite(frame[name].min()),
                "max": _finite(frame[name].max()),
            }
            for name in NUMERIC
        }
        splits[split] = {
            "rows": len(frame),
            "missing": {name: int(frame[name].isna().sum()) for name in NAMES},
            "numeric": numeric,
            "categories": {
                name: {str(k): int(v) for k, v in frame[name].value_counts().items()}
                for name in CATEGORICAL_NAMES
            },
        }
    keys = Counter(reason_key(r) for part in reasons for r in str(part).split("; "))
    return {"rows_in": rows_in, "splits": splits, "rejected": len(reasons), "reasons": dict(keys)}


def merge(partials: list[dict[str, Any]]) -> dict[str, Any]:
    """Combine batch partials into totals with mean and standard deviation per numeric column."""
    rows_in = sum(p["rows_in"] for p in partials)
    rejected = sum(p["rejected"] for p in partials)
    reasons: Counter[str] = Counter()
    for p in partials:
        reasons.update(p["reasons"])
    splits: dict[str, Any] = {}
    for p in partials:
        for split, part in p["splits"].items():
            into = splits.setdefault(split, _empty())
            _accumulate(into, part)
    all_rows = _empty()
    for part in splits.values():
        _accumulate(all_rows, part)
    return {
        "rows_in": rows_in,
        "rows_out": all_rows["rows"],
        "rows_rejected": rejected,
        "rejected_by_reason": dict(reasons.most_common()),
        "splits": {s: _finish(v) for s, v in splits.items()},
        "all": _finish(all_rows),
    }


def _empty() -> dict[str, Any]:
    return {
        "rows": 0,
        "missing": dict.fromkeys(NAMES, 0),
        "numeric": {
            n: {"n": 0, "sum": 0.0, "sumsq": 0.0, "min": None, "max": None} for n in NUMERIC
        },
        "categories": {n: {} for n in CATEGORICAL_NAMES},
    }


def _accumulate(into: dict[str, Any], part: dict[str, Any]) -> None:
    into["rows"] += part["rows"]
    for name, count in part["missing"].items():
        into["missing"][name] += count
    for name, values in part["numeric"].items():
        target = into["numeric"][name]
        for key in ("n", "sum", "sumsq"):
            target[key] += values[key]
        target["min"] = _pick(min, target["min"], values["min"])
        target["max"] = _pick(max, target["max"], values["max"])
    for name, counts in part["categories"].items():
        bucket = into["categories"][name]
        for value, count in counts.items():
            bucket[value] = bucket.get(value, 0) + count


def _finish(acc: dict[str, Any]) -> dict[str, Any]:
    numeric = {}
    for name, v in acc["numeric"].items():
        n = v["n"]
        mean = v["sum"] / n if n else None
        var = (v["sumsq"] - n * mean * mean) / (n - 1) if n > 1 and mean is not None else None
        numeric[name] = {
            "count": n,
            "mean": mean,
            "std": math.sqrt(max(var, 0.0)) if var is not None else None,
            "min": v["min"],
            "max": v["max"],
        }
    return {
        "rows": acc["rows"],
        "missing": acc["missing"],
        "numeric": numeric,
        "categories": acc["categories"],
    }


def _pick(fn: Any, a: float | None, b: float | None) -> float | None:
    values = [x for x in (a, b) if x is not None]
    return fn(values) if values else None


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
