"""Plots logged with each family's best model (PNG files in a folder).

Figures are made with matplotlib's object API, not pyplot: the families log from threads of one
process, and pyplot's figure registry is shared state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from features.risk import LEVELS


def _figure(**options: Any) -> Any:
    from matplotlib.figure import Figure

    return Figure(**options)


def confusion_matrix_png(matrix: list[list[int]], title: str, path: Path) -> Path:
    """Risk-level confusion matrix with counts in the cells."""
    values = np.asarray(matrix)
    fig = _figure(figsize=(4.5, 4))
    ax = fig.subplots()
    ax.imshow(values, cmap="Blues")
    ax.set_xticks(range(len(LEVELS)), LEVELS)
    ax.set_yticks(range(len(LEVELS)), LEVELS)
    ax.set_xlabel("predicted risk")
    ax.set_ylabel("actual risk")
    ax.set_title(title)
    for (i, j), count in np.ndenumerate(values):
        colour = "white" if count > values.max() / 2 else "black"
        ax.text(j, i, str(count), ha="center", va="center", color=colour)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def prediction_png(y_true: np.ndarray, y_pred: np.ndarray, title: str, path: Path) -> Path:
    """Predicted vs actual, and residuals vs predicted."""
    fig = _figure(figsize=(9, 4))
    left, right = fig.subplots(1, 2)
    left.scatter(y_true, y_pred, s=4, alpha=0.4)
    left.plot([0, 1], [0, 1], color="red", linewidth=1)
    left.set_xlabel("actual burn rate")
    left.set_ylabel("predicted burn rate")
    left.set_title(title)
    right.scatter(y_pred, y_true - y_pred, s=4, alpha=0.4)
    right.axhline(0, color="red", linewidth=1)
    right.set_xlabel("predicted burn rate")
    right.set_ylabel("residual (actual - predicted)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def importance_png(importance: dict[str, float], title: str, path: Path) -> Path:
    """Horizontal bars, largest on top."""
    items = sorted(importance.items(), key=lambda kv: kv[1])
    fig = _figure(figsize=(6, 0.45 * len(items) + 1.2))
    ax = fig.subplots()
    ax.barh([k for k, _ in items], [v for _, v in items])
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def calibration_png(table: list[dict[str, float]], title: str, path: Path) -> Path:
    """Reliability diagram: mean actual vs mean predicted burn rate per prediction bin."""
    fig = _figure(figsize=(4.8, 4.4))
    ax = fig.subplots()
    predicted = [row["mean_predicted"] for row in table]
    actual = [row["mean_actual"] for row in table]
    ax.plot([0, 1], [0, 1], color="grey", linewidth=1, linestyle="--", label="perfect")
    ax.plot(predicted, actual, marker="o", label="model")
    for row in table:
        ax.annotate(str(row["rows"]), (row["mean_predicted"], row["mean_actual"]), fontsize=7)
    ax.set_xlabel("mean predicted burn rate (bin)")
    ax.set_ylabel("mean actual burn rate")
    ax.set_title(title)
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path
