"""Why a prediction: per-record feature contributions in the raw record's terms.

Every model is preprocessing (derive, encode, MICE-impute, scale) + an estimator, and the
preprocessing turns each raw feature into exactly one model column (the categoricals are binary,
date_of_joining becomes tenure_years). So contributions are computed on the model's columns and
reported under the raw feature each one comes from:

- LightGBM: exact tree attributions (TreeSHAP, LightGBM's own `pred_contrib`): base value +
  contributions = the unclipped prediction, to float precision.
- KNN and SVR: exact Shapley values of the estimator over the seven model columns (SHAP's
  `Exact` explainer, 2^7 coalitions), with the features left out of a coalition filled from a
  background sample of training rows stored with the model (`BACKGROUND_ATTRIBUTE`). They add
  up to the prediction minus the background's mean prediction exactly as well; the only
  approximation is the background itself (BACKGROUND_ROWS rows, not the whole training set).

A feature that was missing in the record and imputed says so (`imputed`), with the value MICE
put in its place (`imputed_value`, before scaling; tenure in years).

Pure scikit-learn / LightGBM / SHAP: no Ray, no MLflow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features.derived import TENURE_YEARS
from features.schema import CATEGORICAL_NAMES, NUMERIC_FEATURE_NAMES

# Raw features in the order contributions are reported (tenure_years stands for date_of_joining).
EXPLAINED: tuple[str, ...] = (*CATEGORICAL_NAMES, *NUMERIC_FEATURE_NAMES, TENURE_YEARS)
RAW_SOURCE = {TENURE_YEARS: "date_of_joining"}
BACKGROUND_ATTRIBUTE = "explain_background_"  # on the Pipeline: raw rows for the explainer
# Each explained record costs 2^7 x BACKGROUND_ROWS model calls (KNN, SVR): 25 rows keep an SVR
# explanation near a quarter second on one core (docs/benchmarks.md).
BACKGROUND_ROWS = 25
METHODS = {"lightgbm": "tree_shap_exact"}
MODEL_AGNOSTIC = "shapley_exact_interventional"


@dataclass(frozen=True)
class Explanation:
    """One record's contributions: `base_value + sum(contributions) == prediction` (unclipped)."""

    base_value: float
    prediction: float
    method: str
    contributions: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "base_value": self.base_value,
            "prediction": self.prediction,
            "method": self.method,
            "contributions": self.contributions,
        }


def attach_background(model: Any, frame: pd.DataFrame, seed: int) -> None:
    """Store a sample of raw training rows on the model for the model-agnostic explainer."""
    sample = frame.sample(n=min(BACKGROUND_ROWS, len(frame)), random_state=seed)
    setattr(model, BACKGROUND_ATTRIBUTE, sample.reset_index(drop=True))


def explain(model: Any, frame: pd.DataFrame) -> list[Explanation]:
    """Contributions for every row of `frame` (validated raw records) under `model`."""
    preprocess, estimator = model[0], model[-1]
    unscaled = preprocess[:-1].transform(frame)  # derived, encoded and imputed
    columns = preprocess[-1].transform(unscaled)
    order = [_model_column(columns.columns, name) for name in EXPLAINED]
    if hasattr(estimator, "booster_"):
        raw = np.asarray(estimator.predict(columns, pred_contrib=True), dtype="float64")
        values, base, method = raw[:, :-1], raw[:, -1], METHODS["lightgbm"]
    else:
        values, base = _shapley(model, estimator, columns)
        method = MODEL_AGNOSTIC
    positions = [list(columns.columns).index(c) for c in order]
    missing = _missing(frame)
    explanations = []
    for row in range(len(frame)):
        contributions = [
            {
                "feature": RAW_SOURCE.get(name, name),
                "model_input": name,
                "value": _raw_value(frame, row, name),
                "contribution": float(values[row, position]),
                "imputed": bool(missing[name][row]),
                "imputed_value": (
                    float(unscaled.iat[row, position]) if missing[name][row] else None
                ),
            }
            for name, position in zip(EXPLAINED, positions, strict=True)
        ]
        total = float(base[row]) + float(values[row].sum())
        explanations.append(Explanation(float(base[row]), total, method, contributions))
    return explanations


def _shapley(model: Any, estimator: Any, columns: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    import shap

    background = getattr(model, BACKGROUND_ATTRIBUTE, None)
    if background is None:
        raise ValueError("this model has no explanation background (trained before explanations)")
    reference = model[0].transform(background).to_numpy()
    masker = shap.maskers.Independent(reference, max_samples=len(reference))
    names = list(columns.columns)

    def predict(rows: np.ndarray) -> np.ndarray:
        # Under the names the estimator was fitted with (scikit-learn warns on bare arrays).
        return np.asarray(estimator.predict(pd.DataFrame(rows, columns=names)))

    explainer = shap.explainers.Exact(predict, masker)
    result = explainer(columns.to_numpy(), silent=True)
    return np.asarray(result.values, dtype="float64"), np.asarray(result.base_values, "float64")


def _model_column(columns: pd.Index, name: str) -> str:
    """The one model column a raw feature became (a one-hot column keeps the name as prefix)."""
    found = [c for c in columns if c == name or c.startswith(f"{name}_")]
    if len(found) != 1:
        raise ValueError(f"feature {name!r} maps to {found} model columns, not one")
    return str(found[0])


def _missing(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    flags = {}
    for name in EXPLAINED:
        source = RAW_SOURCE.get(name, name)
        column = frame[source] if source in frame.columns else pd.Series(None, index=frame.index)
        flags[name] = column.isna().to_numpy()
    return flags


def _raw_value(frame: pd.DataFrame, row: int, name: str) -> Any:
    """The record's own value (the raw one; for tenure the date it came from)."""
    source = RAW_SOURCE.get(name, name)
    value = frame[source].iat[row] if source in frame.columns else None
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value
