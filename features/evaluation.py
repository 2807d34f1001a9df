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

REGRESSION_METRICS = ("rmse", "mae", "r2")  # what regression_metrics returns


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


SLICE_COLUMNS: tuple[str, ...] = ("gender", "company_type", "wfh_setup_available")
MIN_SLICE_ROWS = 30  # smaller groups are reported but not compared: their RMSE is mostly noise


def slice_metrics(frame: pd.DataFrame, y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    """RMSE, MAE, R² and rows per group of each slice column (gender, company type, WFH)."""
    slices: dict[str, Any] = {}
    for column in SLICE_COLUMNS:
        groups: dict[str, Any] = {}
        values = frame[column].astype(object).where(frame[column].notna(), "missing").to_numpy()
        for value in sorted(set(values), key=str):
            rows = values == value
            groups[str(value)] = {
                "rows": int(rows.sum()),
                **regression_metrics(y_true[rows], y_pred[rows]),
            }
        slices[column] = groups
    return slices


def largest_gap(slices: dict[str, Any]) -> dict[str, Any] | None:
    """The slice whose groups differ most in RMSE (groups of MIN_SLICE_ROWS rows or more)."""
    best: dict[str, Any] | None = None
    for column, groups in slices.items():
        sized = {g: m for g, m in groups.items() if m["rows"] >= MIN_SLICE_ROWS}
        if len(sized) < 2:
            continue
        worst_group = max(sized, key=lambda g: sized[g]["rmse"])
        best_group = min(sized, key=lambda g: sized[g]["rmse"])
        gap = sized[worst_group]["rmse"] - sized[best_group]["rmse"]
        if best is None or gap > best["rmse_gap"]:
            best = {
                "slice": column,
                "worst_group": worst_group,
                "best_group": best_group,
                "rmse_gap": float(gap),
                "worst_rmse": sized[worst_group]["rmse"],
                "best_rmse": sized[best_group]["rmse"],
            }
    return best


def per_risk_level(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    """Regression metrics within each actual risk level."""
    levels = risk_level(y_true)
    return {
        level: {
            "rows": int((levels == level).sum()),
            **regression_metrics(y_true[levels == level], y_pred[levels == level]),
        }
        for level in LEVELS
        if (levels == level).sum() > 1
    }


def calibration(y_true: np.ndarray, y_pred: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Mean predicted vs mean actual burn rate per bin of predictions (equal-width over 0..1)."""
    pred = clip_burn_rate(y_pred)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(pred, edges[1:-1]), 0, bins - 1)
    table = []
    for b in range(bins):
        inside = index == b
        if inside.any():
            table.append(
                {
                    "from": float(edges[b]),
                    "to": float(edges[b + 1]),
                    "rows": int(inside.sum()),
                    "mean_predicted": float(pred[inside].mean()),
                    "mean_actual": float(y_true[inside].mean()),
                }
            )
    return table


def card_metrics(frame: pd.DataFrame, y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    """What a model card reports beyond the test metrics: slices and their largest gap, per
    actual risk level, calibration."""
    slices = slice_metrics(frame, y_true, y_pred)
    return {
        "slices": slices,
        "largest_gap": largest_gap(slices),
        "per_risk_level": per_risk_level(y_true, y_pred),
        "calibration": calibration(y_true, y_pred),
    }
