"""Metrics every model is judged by: regression on Burn Rate, classification on risk levels."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    confusion_matrix,
    f1_score,
    mean_absolute_error,
    mean_squared_error,
    precision_score,
    r2_score,
    recall_score,
)

from features.risk import LEVELS, clip_burn_rate, risk_level
from features.schema import NUMERIC_FEATURE_NAMES


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """RMSE, MAE and R² of clipped predictions."""
    pred = clip_burn_rate(y_pred)
    return {
        "rmse": float(np.sqrt(mean_squared_error(y_true, pred))),
        "mae": float(mean_absolute_error(y_true, pred)),
        "r2": float(r2_score(y_true, pred)),
    }


def risk_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    """Macro F1 / precision / recall and the confusion matrix over Low / Medium / High."""
    true_levels = risk_level(y_true)
    pred_levels = risk_level(clip_burn_rate(y_pred))
    labels = list(LEVELS)
    kwargs: dict[str, Any] = {"labels": labels, "average": "macro", "zero_division": 0}
    return {
        "risk_macro_f1": float(f1_score(true_levels, pred_levels, **kwargs)),
        "risk_macro_precision": float(precision_score(true_levels, pred_levels, **kwargs)),
        "risk_macro_recall": float(recall_score(true_levels, pred_levels, **kwargs)),
        "risk_accuracy": float(np.mean(true_levels == pred_levels)),
        "confusion_matrix": confusion_matrix(true_levels, pred_levels, labels=labels).tolist(),
    }


def complete_rows(frame: pd.DataFrame) -> np.ndarray:
    """Rows with every numeric feature present (like the challenge's own test file)."""
    return frame[list(NUMERIC_FEATURE_NAMES)].notna().all(axis=1).to_numpy()


def evaluate(y_true: np.ndarray, y_pred: np.ndarray, complete: np.ndarray) -> dict[str, Any]:
    """All test metrics: over every row, over complete rows, and on risk levels."""
    metrics: dict[str, Any] = regression_metrics(y_true, y_pred)
    if complete.any():
        on_complete = regression_metrics(y_true[complete], y_pred[complete])
        metrics.update({f"{k}_complete": v for k, v in on_complete.items()})
    metrics.update(risk_metrics(y_true, y_pred))
    metrics["rows"] = len(y_true)
    metrics["rows_complete"] = int(complete.sum())
    return metrics
