"""Deterministic train / validation / test assignment by a hash of the Employee ID.

A row's split depends on its id alone, so re-runs and appended rows never move existing rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SPLITS: tuple[str, ...] = ("train", "validation", "test")
DEFAULT_FRACTIONS: tuple[float, float, float] = (0.70, 0.15, 0.15)
# Version 2 of the assignment: SipHash-2-4 of the id's UTF-8 bytes under this 16-byte key,
# pandas' vectorised `hash_array` (version 1 called blake2b per row in Python). A change here
# moves rows between splits, so it needs a new ETL_VERSION (and so a new dataset version).
HASH_KEY = "burnout-split-v2"
HASH_RULE = f"siphash-2-4(utf-8 employee_id, key {HASH_KEY!r}) / 2**64"
_SCALE = float(2**64)


def unit_hash(ids: pd.Series) -> np.ndarray:
    """Each id mapped to a stable number in [0, 1)."""
    hashed = pd.util.hash_array(
        np.asarray(ids.astype(str), dtype=object), hash_key=HASH_KEY, categorize=False
    )
    return hashed / _SCALE


def split_of(
    ids: pd.Series, fractions: tuple[float, float, float] = DEFAULT_FRACTIONS
) -> pd.Series:
    """'train' | 'validation' | 'test' per id, in the given proportions."""
    if len(fractions) != 3 or abs(sum(fractions) - 1.0) > 1e-9 or min(fractions) < 0:
        raise ValueError(
            f"split fractions must be three non-negative numbers summing to 1: {fractions}"
        )
    u = unit_hash(ids)
    train, validation = fractions[0], fractions[0] + fractions[1]
    labels = np.select([u < train, u < validation], [SPLITS[0], SPLITS[1]], SPLITS[2])
    return pd.Series(labels, index=ids.index, dtype=object)
