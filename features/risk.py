"""Risk levels: the seed's bins over Burn Rate (Low < 0.33 <= Medium < 0.66 <= High)."""

from __future__ import annotations

import numpy as np
import pandas as pd

LOW_UPPER = 0.33
MEDIUM_UPPER = 0.66
LEVELS: tuple[str, ...] = ("Low", "Medium", "High")


def clip_burn_rate(values: np.ndarray | pd.Series) -> np.ndarray:
    """Burn rates are fractions; a regressor may overshoot, so clip to [0, 1]."""
    return np.clip(np.asarray(values, dtype="float64"), 0.0, 1.0)


def risk_level(values: np.ndarray | pd.Series) -> np.ndarray:
    """Map burn rates to 'Low' | 'Medium' | 'High' (NaN maps to None)."""
    rates = np.asarray(values, dtype="float64")
    levels = np.select(
        [rates < LOW_UPPER, rates < MEDIUM_UPPER, rates >= MEDIUM_UPPER],
        list(LEVELS),
        default="",
    ).astype(object)
    levels[np.isnan(rates)] = None
    return levels
