"""Drift between the data a model was trained on and the records it is asked about.

The statistics are SciPy's; the choice per column follows Evidently's defaults (Evidently 0.7
itself does not import with pandas 3, which the lock holds):

- numeric columns: two-sample Kolmogorov-Smirnov (p < 0.05) when the reference has at most
  1,000 values, else the Wasserstein distance normalised by the reference's standard deviation
  (drift above 0.1), since with many rows KS flags differences too small to matter;
- categorical columns: chi-square on the category counts (p < 0.05) up to 1,000 reference
  values, else the Jensen-Shannon distance of the category shares (drift above 0.1);
- missing values are compared as shares and left out of the tests.

Pure pandas / SciPy: no Ray, no MLflow.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial import distance

from features.derived import TENURE_YEARS, tenure_years
from features.schema import CATEGORICAL_NAMES, NUMERIC_FEATURE_NAMES

NUMERIC = (*NUMERIC_FEATURE_NAMES, TENURE_YEARS)
CATEGORICAL = CATEGORICAL_NAMES
PREDICTION = "prediction"
LARGE_SAMPLE = 1_000
P_VALUE = 0.05
DISTANCE = 0.1
DATASET_DRIFT_SHARE = 0.5  # the dataset drifts when at least this share of features does


def monitored(frame: pd.DataFrame) -> pd.DataFrame:
    """The compared columns of raw-named records (tenure derived from date_of_joining)."""
    out = pd.DataFrame(index=frame.index)
    for name in CATEGORICAL:
        out[name] = frame[name].astype(object)
    for name in NUMERIC_FEATURE_NAMES:
        out[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    out[TENURE_YEARS] = tenure_years(frame["date_of_joining"])
    if PREDICTION in frame.columns:
        out[PREDICTION] = pd.to_numeric(frame[PREDICTION], errors="coerce").astype("float64")
    return out


def column_drift(reference: pd.Series, current: pd.Series, categorical: bool) -> dict[str, Any]:
    """The test, its statistic and whether this column drifted."""
    ref, cur = reference.dropna(), current.dropna()
    if len(ref) == 0 or len(cur) == 0:
        return {"test": "none (no values)", "statistic": None, "drifted": False}
    if categorical:
        categories = sorted(set(ref) | set(cur), key=str)
        ref_counts = ref.value_counts().reindex(categories, fill_value=0).to_numpy()
        cur_counts = cur.value_counts().reindex(categories, fill_value=0).to_numpy()
        if len(ref) <= LARGE_SAMPLE:
            _, p_value, _, _ = stats.chi2_contingency(np.vstack([ref_counts, cur_counts]) + 0.5)
            return {"test": "chi_square", "statistic": float(p_value), "drifted": p_value < P_VALUE}
        value = float(
            distance.jensenshannon(ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum())
        )
        return {"test": "jensen_shannon", "statistic": value, "drifted": value > DISTANCE}
    if len(ref) <= LARGE_SAMPLE:
        p_value = float(stats.ks_2samp(ref, cur).pvalue)
        return {"test": "ks", "statistic": p_value, "drifted": p_value < P_VALUE}
    spread = float(ref.std()) or 1.0
    value = float(stats.wasserstein_distance(ref, cur)) / spread
    return {"test": "wasserstein_normed", "statistic": value, "drifted": value > DISTANCE}


def drift_summary(reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, Any]:
    """Per-feature drift, the drifted share, prediction drift and missing-value rates."""
    ref, cur = monitored(reference), monitored(current)
    features = {
        name: {
            **column_drift(ref[name], cur[name], name in CATEGORICAL),
            "missing_reference": float(ref[name].isna().mean()),
            "missing_current": float(cur[name].isna().mean()),
        }
        for name in (*CATEGORICAL, *NUMERIC)
    }
    drifted = sorted(n for n, f in features.items() if f["drifted"])
    share = len(drifted) / len(features)
    summary: dict[str, Any] = {
        "rows_reference": len(ref),
        "rows_current": len(cur),
        "features": features,
        "drifted_features": drifted,
        "share_drifted": share,
        "dataset_drift": share >= DATASET_DRIFT_SHARE,
    }
    if PREDICTION in ref.columns and PREDICTION in cur.columns:
        summary["prediction"] = {
            **column_drift(ref[PREDICTION], cur[PREDICTION], categorical=False),
            "mean_reference": float(ref[PREDICTION].mean()),
            "mean_current": float(cur[PREDICTION].mean()),
        }
    return summary
