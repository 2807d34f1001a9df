"""Model families and their search spaces: the estimator behind each family, built from params.

Every model is a whole Pipeline (the shared preprocessing + the estimator), so it takes raw
canonical records. Pure scikit-learn / LightGBM: no Ray, no MLflow.
"""

from __future__ import annotations

from typing import Any

from lightgbm import LGBMRegressor
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import Pipeline
from sklearn.svm import SVR

from features.preprocessing import build_preprocessor

FAMILIES: tuple[str, ...] = ("lightgbm", "knn", "svm")


def build_estimator(family: str, params: dict[str, Any], seed: int) -> Any:
    """The estimator of a family with the given hyperparameters."""
    if family == "lightgbm":
        return LGBMRegressor(
            **params, random_state=seed, n_jobs=1, verbose=-1, subsample_freq=1, deterministic=True
        )
    if family == "knn":
        return KNeighborsRegressor(**params, n_jobs=1)
    if family == "svm":
        return SVR(**params, kernel="rbf", cache_size=500)
    raise ValueError(f"unknown model family {family!r}; choose from {', '.join(FAMILIES)}")


def build_model(family: str, params: dict[str, Any], seed: int) -> Pipeline:
    """Preprocessing + estimator: what gets trained, logged and served."""
    return Pipeline(
        [
            ("preprocess", build_preprocessor(random_state=seed)),
            ("model", build_estimator(family, params, seed)),
        ]
    )


def suggest(trial: Any, space: dict[str, dict[str, Any]]) -> None:
    """Optuna define-by-run: declare every parameter of a space on the trial."""
    for name, spec in space.items():
        kind = spec["type"]
        if kind == "int":
            trial.suggest_int(name, spec["low"], spec["high"], log=spec.get("log", False))
        elif kind == "float":
            trial.suggest_float(name, spec["low"], spec["high"], log=spec.get("log", False))
        elif kind == "categorical":
            trial.suggest_categorical(name, list(spec["choices"]))
        else:
            raise ValueError(f"unknown parameter type {kind!r} for {name}")
