"""Plots logged with each family's best model (PNG files in a folder)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from features.risk import LEVELS


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def confusion_matrix_png(matrix: list[list[int]], title: str, path: Path) -> Path:
    """Risk-level confusion matrix with counts in the cells."""
    plt = _pyplot()
    values = np.asarray(matrix)
    fig, ax = plt.subplots(figsize=(4.5, 4))
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
    plt.close(fig)
    return path


def prediction_png(y_true: np.ndarray, y_pred: np.ndarray, title: str, path: Path) -> Path:
    """Predicted vs actual, and residuals vs predicted."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 4))
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
    plt.close(fig)
    return path


def importance_png(importance: dict[str, float], title: str, path: Path) -> Path:
    """Horizontal bars, largest on top."""
    plt = _pyplot()
    items = sorted(importance.items(), key=lambda kv: kv[1])
    fig, ax = plt.subplots(figsize=(6, 0.45 * len(items) + 1.2))
    ax.barh([k for k, _ in items], [v for _, v in items])
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
