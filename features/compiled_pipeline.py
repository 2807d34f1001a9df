"""A fitted model pipeline's predict in NumPy: the same numbers, without sklearn's per-call cost.

`Pipeline.predict` on a serving batch (1-64 rows) took ~11 ms here whatever the row count, for
0.5 ms of model: pandas output wrapping and input validation at every step, the
ColumnTransformer's dispatch, and up to 49 BayesianRidge calls inside IterativeImputer, each
validating its input again. `CompiledPipeline` reads the fitted parameters of the pipeline
`features.models` builds (derive -> one-hot + passthrough -> MICE -> scale -> estimator) once and
does the same arithmetic, in the same order, on arrays (~1 ms); the estimator's own `predict`
still runs, except for LightGBM, whose booster is called directly: the sklearn wrapper re-reads
its parameters on every call (~0.6 ms of a 1-row prediction's ~1.3) and predicts on the one
thread training asked for (`n_jobs=1`, so that trials do not oversubscribe the cores), while a
10,000-row bulk request is ~95 % tree walking (155 ms on one thread, 94 on two here). Each row's
sum of trees is the same on any thread. Another shape is not compiled (`Unsupported`), and
`verified` keeps `Pipeline.predict` unless the two agree to the last bit on probe rows, on one
thread and on several.
"""

from __future__ import annotations

import functools
import logging
import os
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from features.derived import derive_features
from features.derived_arrays import derived_arrays
from features.schema import CATEGORICAL_NAMES, FEATURE_NAMES, NUMERIC_FEATURE_NAMES, RAW_TO_NAME

log = logging.getLogger(__name__)

Predict = Callable[[pd.DataFrame], np.ndarray]

# From this many rows LightGBM predicts on every core this process may use; below, starting the
# threads costs more than they save (a serving micro-batch is 1-64 rows).
THREADED_ROWS = 512


class Unsupported(ValueError):
    """The pipeline is not the shape this module knows how to compile."""


def _require(condition: bool, what: str) -> None:
    if not condition:
        raise Unsupported(what)


def _one_hot_columns(encoder: Any, names: list[str]) -> list[tuple[str, Any]]:
    """(input column, category) per output column of a fitted OneHotEncoder, in its order."""
    _require(encoder.handle_unknown == "ignore", "one-hot: handle_unknown must be 'ignore'")
    _require(not getattr(encoder, "_infrequent_enabled", False), "one-hot: infrequent categories")
    _require(encoder.sparse_output is False, "one-hot: sparse output")
    _require(np.dtype(encoder.dtype) == np.float64, "one-hot: dtype must be float64")
    dropped = encoder.drop_idx_
    out = []
    for i, (name, categories) in enumerate(zip(names, encoder.categories_, strict=True)):
        for j, category in enumerate(categories):
            if dropped is not None and dropped[i] is not None and j == dropped[i]:
                continue
            out.append((name, category))
    return out


def _encoding(encode: Any) -> list[tuple[str, str, Any]]:
    """The ColumnTransformer's output columns: ("onehot", column, category) or ("pass", ...)."""
    _require(type(encode).__name__ == "ColumnTransformer", "encode: not a ColumnTransformer")
    _require(not encode.sparse_output_, "encode: sparse output")
    plan: list[tuple[str, str, Any]] = []
    for name, transformer, columns in encode.transformers_:
        if transformer == "drop" or len(columns) == 0:
            continue
        _require(all(isinstance(c, str) for c in columns), f"encode: {name} selects by name")
        kind = type(transformer).__name__
        if kind == "OneHotEncoder":
            kept = _one_hot_columns(transformer, columns)
            plan += [("onehot", column, category) for column, category in kept]
        elif transformer == "passthrough" or (
            kind == "FunctionTransformer" and transformer.func is None
        ):
            plan += [("pass", c, None) for c in columns]
        else:
            raise Unsupported(f"encode: {name} is {kind}")
    return plan


class CompiledPipeline:
    """`predict(frame)` equal to the fitted pipeline's, for frames `features.validation` cleaned."""

    def __init__(self, pipeline: Any) -> None:
        steps = dict(getattr(pipeline, "steps", []))
        _require(list(steps) == ["preprocess", "model"], "not a preprocess + model pipeline")
        pre = dict(getattr(steps["preprocess"], "steps", []))
        _require(list(pre) == ["derive", "encode", "impute", "scale"], "unknown preprocessing")
        _require(getattr(pre["derive"], "func", None) is derive_features, "derive: other function")
        self.plan = _encoding(pre["encode"])
        self._imputer(pre["impute"], len(self.plan))
        scale = pre["scale"]
        _require(type(scale).__name__ == "StandardScaler", "scale: not a StandardScaler")
        self.mean = scale.mean_ if scale.with_mean else None
        self.scale = scale.scale_ if scale.with_std else None
        self.estimator = steps["model"]
        self.names = getattr(self.estimator, "feature_names_in_", None)
        self.booster = _lightgbm_booster(self.estimator)

    def _imputer(self, imputer: Any, width: int) -> None:
        _require(type(imputer).__name__ == "IterativeImputer", "impute: not an IterativeImputer")
        _require(not imputer.sample_posterior and not imputer.add_indicator, "impute: options")
        _require(not np.any(imputer._is_empty_feature), "impute: an empty feature at fit")
        _require(len(imputer.initial_imputer_.statistics_) == width, "impute: width")
        marker = imputer.missing_values
        _require(isinstance(marker, float) and np.isnan(marker), "impute: missing values not NaN")
        self.fill = imputer.initial_imputer_.statistics_
        self.low, self.high = imputer._min_value, imputer._max_value
        self.rounds = imputer.n_iter_
        self.sequence = []
        for triplet in imputer.imputation_sequence_:
            estimator = triplet.estimator
            # BayesianRidge.predict is `X @ coef_ + intercept_` after validation: done directly.
            linear = type(estimator).__name__ == "BayesianRidge" and estimator.coef_.ndim == 1
            _require(linear, "impute: estimator other than BayesianRidge")
            self.sequence.append(
                (triplet.feat_idx, triplet.neighbor_feat_idx, estimator.coef_, estimator.intercept_)
            )

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """The model's input matrix (what the preprocessing step outputs)."""
        derived = derived_arrays(frame)
        encoded = np.empty((len(frame), len(self.plan)), dtype="float64", order="F")
        for k, (kind, column, category) in enumerate(self.plan):
            values = derived[column]
            if kind == "pass":
                encoded[:, k] = values
            elif category is None or (isinstance(category, float) and np.isnan(category)):
                encoded[:, k] = pd.isna(values)
            else:
                encoded[:, k] = values == category
        filled = self._impute(encoded)
        if self.mean is not None:
            filled -= self.mean
        if self.scale is not None:
            filled /= self.scale
        return filled

    def _impute(self, x: np.ndarray) -> np.ndarray:
        # As IterativeImputer.transform: mean-fill, then each round's per-feature regressions
        # on the rows missing that feature, on a Fortran-ordered matrix (the same BLAS calls).
        missing = np.isnan(x)
        if not missing.any():
            return x
        filled = np.where(missing, self.fill, x)
        filled = np.asfortranarray(filled)
        if self.rounds == 0 or missing.all():
            return filled
        for feature, neighbours, coef, intercept in self.sequence:
            rows = missing[:, feature]
            if not rows.any():
                continue
            predicted = filled[:, neighbours][rows] @ coef + intercept
            filled[rows, feature] = np.clip(predicted, self.low[feature], self.high[feature])
        return filled

    def predict(self, frame: pd.DataFrame, threads: int | None = None) -> np.ndarray:
        """The pipeline's prediction; `threads` (LightGBM only) overrides the choice by size."""
        matrix = self.transform(frame)
        if self.booster is not None:
            if threads is None:
                threads = _cores() if len(matrix) >= THREADED_ROWS else 1
            return np.asarray(self.booster.predict(matrix, num_threads=threads))
        if self.names is not None:  # fitted on named columns: hand them over, as the Pipeline does
            return self.estimator.predict(pd.DataFrame(matrix, columns=self.names, copy=False))
        return self.estimator.predict(matrix)


def _lightgbm_booster(estimator: Any) -> Any:
    """A fitted LGBMRegressor's booster, None for any other estimator."""
    if type(estimator).__name__ != "LGBMRegressor" or not estimator.__sklearn_is_fitted__():
        return None
    return estimator.booster_


def _cores() -> int:
    """OMP_NUM_THREADS when set (Ray sets it to a worker's whole CPUs, so batch scoring's workers
    share the node; a Serve replica gets BURNOUT_SERVE_MODEL_THREADS), else every core this
    process may run on."""
    configured = os.environ.get("OMP_NUM_THREADS", "")
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@functools.cache
def probe_rows(rows: int = 400, seed: int = 2026) -> pd.DataFrame:
    """Validated synthetic rows (with the generator's missing values), plus rows missing each
    categorical, the join date, and every numeric feature at once."""
    from features.synthetic import generate
    from features.validation import validate

    raw = generate(rows, seed=seed).rename(columns=RAW_TO_NAME).astype(object)
    checked = validate(raw, require_target=False, require_id=False)
    clean = checked.clean.loc[checked.valid.to_numpy(), list(FEATURE_NAMES)]
    edges = []
    for k, names in enumerate([*([n] for n in CATEGORICAL_NAMES), ["date_of_joining"],
                               list(NUMERIC_FEATURE_NAMES)]):  # fmt: skip
        row = clean.iloc[[k]].copy()
        for name in names:
            row[name] = None if name not in NUMERIC_FEATURE_NAMES else np.nan
        edges.append(row)
    return pd.concat([clean, *edges], ignore_index=True)


def verified(pipeline: Any, probe: pd.DataFrame | None = None) -> Predict:
    """The compiled predict if it reproduces `pipeline.predict` on the probe rows (default
    `probe_rows()`) to the last bit, else the pipeline's own (the reason logged)."""
    rows = (probe_rows() if probe is None else probe)[list(FEATURE_NAMES)]
    try:
        compiled = CompiledPipeline(pipeline)
        with warnings.catch_warnings():
            # The probe's missing categoricals are unknown to the encoder on purpose.
            warnings.simplefilter("ignore", UserWarning)
            expected = np.asarray(pipeline.predict(rows), dtype="float64")
        got = np.asarray(compiled.predict(rows), dtype="float64")
        if compiled.booster is not None and np.array_equal(expected, got):
            got = np.asarray(compiled.predict(rows, threads=max(_cores(), 2)), dtype="float64")
    # An optimisation only: a pipeline it cannot read keeps its own predict.
    except (Unsupported, AttributeError, KeyError, IndexError, TypeError, ValueError) as why:
        log.info("model pipeline not compiled (%s): Pipeline.predict serves it", why)
        return pipeline.predict
    if not np.array_equal(expected, got):
        worst = float(np.max(np.abs(expected - got)))
        log.warning("compiled pipeline differs from Pipeline.predict (max %.3g): not used", worst)
        return pipeline.predict
    return compiled.predict
