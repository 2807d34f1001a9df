"""The compiled pipeline predicts exactly what the fitted Pipeline predicts, or is not used."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyRegressor
from sklearn.pipeline import Pipeline

from features import compiled_pipeline
from features.compiled_pipeline import CompiledPipeline, Unsupported, probe_rows, verified
from features.models import FAMILIES, build_model
from features.schema import FEATURE_NAMES, RAW_TO_NAME, TARGET
from features.synthetic import generate
from features.validation import validate
from serve_app.predictor import LoadedModel

PARAMS = {
    "lightgbm": {"n_estimators": 30, "learning_rate": 0.1, "num_leaves": 15},
    "knn": {"n_neighbors": 5, "weights": "distance", "p": 2},
    "svm": {"C": 2.0, "epsilon": 0.05, "gamma": 0.2},
}


def _rows(count: int, seed: int) -> pd.DataFrame:
    raw = generate(count, seed).rename(columns=RAW_TO_NAME)
    return validate(raw.astype(object), require_target=False).clean.reset_index(drop=True)


@pytest.fixture(scope="module")
def fitted() -> dict[str, Pipeline]:
    train = _rows(600, 11).dropna(subset=[TARGET])
    models = {}
    for family in FAMILIES:
        model = build_model(family, PARAMS[family], 42)
        model.fit(train[list(FEATURE_NAMES)], train[TARGET].to_numpy())
        models[family] = model
    return models


def _scoring_rows() -> pd.DataFrame:
    """Unseen rows with the generator's gaps, and more: whole features missing in places."""
    rows = _rows(700, 99)[list(FEATURE_NAMES)].copy()
    rows.loc[0:40, "date_of_joining"] = None
    rows.loc[30:60, ["resource_allocation", "mental_fatigue_score"]] = np.nan
    rows.loc[50:55, ["designation", "resource_allocation", "mental_fatigue_score"]] = np.nan
    rows.loc[70:75, "gender"] = None
    return rows


@pytest.mark.parametrize("family", FAMILIES)
def test_the_same_numbers_as_the_pipeline_to_the_last_bit(
    family: str, fitted: dict[str, Pipeline]
) -> None:
    pipeline = fitted[family]
    compiled = CompiledPipeline(pipeline)
    rows = _scoring_rows()
    assert rows.isna().any().sum() >= 5  # the imputation really runs
    for size in (1, 7, 16, 64, len(rows)):
        for start in range(0, len(rows) - size + 1, max(size, 97)):
            batch = rows.iloc[start : start + size]
            expected = pipeline.predict(batch)
            assert np.array_equal(compiled.predict(batch), expected), (family, size, start)
    # The preprocessing alone too (explanations and tests read the model's inputs).
    expected_inputs = pipeline[:-1].transform(rows).to_numpy()
    assert np.array_equal(compiled.transform(rows), expected_inputs)


def test_lightgbm_on_one_thread_and_on_several_gives_the_same_bits(
    fitted: dict[str, Pipeline],
) -> None:
    compiled = CompiledPipeline(fitted["lightgbm"])
    assert compiled.booster is not None  # the booster is called directly, not the wrapper
    rows = pd.concat([_scoring_rows()] * 2, ignore_index=True)
    assert len(rows) >= compiled_pipeline.THREADED_ROWS  # the size that predicts threaded
    expected = fitted["lightgbm"].predict(rows)
    for threads in (None, 1, 2, 3):
        assert np.array_equal(compiled.predict(rows, threads=threads), expected), threads
    assert CompiledPipeline(fitted["knn"]).booster is None


def test_a_row_with_every_numeric_missing_and_one_with_nothing_missing(
    fitted: dict[str, Pipeline],
) -> None:
    rows = _scoring_rows().dropna().iloc[:3].copy()
    rows.iloc[1, [list(rows.columns).index(c) for c in ("designation", "resource_allocation")]] = (
        np.nan
    )
    for family in FAMILIES:
        assert np.array_equal(
            CompiledPipeline(fitted[family]).predict(rows), fitted[family].predict(rows)
        )


def test_verified_serves_the_compiled_form_and_loaded_models_use_it(
    fitted: dict[str, Pipeline],
) -> None:
    predict = verified(fitted["lightgbm"])
    assert isinstance(predict.__self__, CompiledPipeline)  # type: ignore[attr-defined]
    loaded = LoadedModel("burnout", "champion", "3", "run", fitted["knn"])
    assert isinstance(loaded.predict.__self__, CompiledPipeline)  # type: ignore[attr-defined]
    probe = probe_rows()
    assert probe.isna().any().sum() >= 6  # each categorical, the date and the numerics


def test_a_pipeline_of_another_shape_keeps_its_own_predict(
    caplog: pytest.LogCaptureFixture,
) -> None:
    other = Pipeline([("model", DummyRegressor())]).fit(
        pd.DataFrame({"x": [1.0, 2.0]}), np.array([1.0, 2.0])
    )
    with pytest.raises(Unsupported):
        CompiledPipeline(other)
    with caplog.at_level(logging.INFO, logger=compiled_pipeline.__name__):
        assert verified(other) == other.predict
    assert "not compiled" in caplog.text


def test_a_compiled_form_that_differs_is_not_used(
    fitted: dict[str, Pipeline], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    exact = CompiledPipeline.predict

    # Fault injection: one ulp off on a single row must be enough to refuse it.
    def off_by_one_ulp(self: CompiledPipeline, frame: pd.DataFrame) -> np.ndarray:
        out = np.array(exact(self, frame), dtype="float64")
        out[-1] = np.nextafter(out[-1], np.inf)
        return out

    monkeypatch.setattr(CompiledPipeline, "predict", off_by_one_ulp)
    with caplog.at_level(logging.WARNING, logger=compiled_pipeline.__name__):
        assert verified(fitted["svm"]) == fitted["svm"].predict
    assert "differs from Pipeline.predict" in caplog.text
