"""Per-prediction explanations (features.explain): they add up, in the raw record's terms."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.explain import EXPLAINED, RAW_SOURCE, attach_background, explain
from features.models import FAMILIES, build_model
from features.schema import FEATURE_NAMES, RAW_TO_NAME
from features.synthetic import generate
from features.validation import validate

PARAMS = {"lightgbm": {"n_estimators": 40}, "knn": {"n_neighbors": 7}, "svm": {"C": 1.0}}
# LightGBM's attributions are exact tree SHAP; the Shapley values of KNN and SVR are exact over
# the background too, so both add up to float precision.
TOLERANCE = {"lightgbm": 1e-6, "knn": 1e-6, "svm": 1e-6}
RAW_FEATURES = {RAW_SOURCE.get(n, n) for n in EXPLAINED}


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    raw = generate(1_500, 11).rename(columns=RAW_TO_NAME)
    clean = validate(raw.astype(object), require_target=False).clean
    return clean.dropna(subset=["burn_rate"]).reset_index(drop=True)


@pytest.fixture(scope="module", params=FAMILIES)
def fitted(request: pytest.FixtureRequest, data: pd.DataFrame) -> tuple[str, object]:
    family = request.param
    model = build_model(family, PARAMS[family], seed=0)
    features = data[list(FEATURE_NAMES)]
    model.fit(features, data["burn_rate"])
    attach_background(model, features, seed=0)
    return family, model


def test_contributions_add_up_to_the_unclipped_prediction(
    fitted: tuple[str, object], data: pd.DataFrame
) -> None:
    family, model = fitted
    rows = data[list(FEATURE_NAMES)].head(10)
    explained = explain(model, rows)
    predicted = model.predict(rows)  # type: ignore[attr-defined]
    for why, expected in zip(explained, predicted, strict=True):
        total = why.base_value + sum(c["contribution"] for c in why.contributions)
        assert abs(total - expected) < TOLERANCE[family], (family, total, expected)
        assert abs(why.prediction - expected) < TOLERANCE[family]


def test_contributions_are_named_after_raw_features_only(
    fitted: tuple[str, object], data: pd.DataFrame
) -> None:
    _, model = fitted
    (why,) = explain(model, data[list(FEATURE_NAMES)].head(1))
    names = [c["feature"] for c in why.contributions]
    assert set(names) == RAW_FEATURES and len(names) == len(RAW_FEATURES)
    assert "employee_id" not in names
    assert not any(n.endswith(("_Male", "_Yes", "_Service")) for n in names)  # no one-hot columns


def test_a_missing_value_says_it_was_imputed(fitted: tuple[str, object]) -> None:
    _, model = fitted
    record = pd.DataFrame(
        [
            {
                "employee_id": "e1",
                "date_of_joining": None,
                "gender": "Female",
                "company_type": "Service",
                "wfh_setup_available": "No",
                "designation": 3.0,
                "resource_allocation": None,
                "mental_fatigue_score": 6.5,
            }
        ]
    )[list(FEATURE_NAMES)]
    (why,) = explain(model, record)
    by_name = {c["feature"]: c for c in why.contributions}
    assert by_name["resource_allocation"]["imputed"] is True
    assert by_name["resource_allocation"]["value"] is None
    assert 1.0 <= by_name["resource_allocation"]["imputed_value"] <= 10.0
    assert by_name["date_of_joining"]["imputed"] is True
    assert by_name["mental_fatigue_score"] == {
        **by_name["mental_fatigue_score"],
        "imputed": False,
        "imputed_value": None,
        "value": 6.5,
    }
    assert np.isfinite(why.prediction)


def test_fatigue_pushes_the_burn_rate_up(fitted: tuple[str, object], data: pd.DataFrame) -> None:
    """A sanity check on direction: in this data burn rate rises with mental fatigue."""
    _, model = fitted
    rows = data[list(FEATURE_NAMES)].dropna(subset=["mental_fatigue_score"]).head(60)
    explained = explain(model, rows)
    fatigue = rows["mental_fatigue_score"].to_numpy()
    contribution = np.array(
        [next(c["contribution"] for c in e.contributions if c["feature"] == "mental_fatigue_score")
         for e in explained]
    )  # fmt: skip
    assert np.corrcoef(fatigue, contribution)[0, 1] > 0.8
