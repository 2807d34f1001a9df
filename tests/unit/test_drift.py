"""Drift tests (features.drift): a shifted batch is flagged, a clean one is not."""

from __future__ import annotations

import pandas as pd
import pytest

from features.drift import drift_summary
from features.schema import RAW_TO_NAME
from features.synthetic import generate, shifted


def batch(rows: int, seed: int) -> pd.DataFrame:
    return generate(rows, seed).rename(columns=RAW_TO_NAME)


@pytest.mark.parametrize("rows", [400, 3_000])  # the small-sample tests and the distances
def test_a_clean_batch_does_not_drift_and_a_shifted_one_does(rows: int) -> None:
    reference = batch(4_000 if rows > 1_000 else 800, 1)
    clean = drift_summary(reference, batch(rows, 2))
    assert not clean["dataset_drift"], clean["drifted_features"]
    assert clean["share_drifted"] <= 0.25
    moved = drift_summary(reference, shifted(batch(rows, 3)))
    assert moved["dataset_drift"]
    assert {"mental_fatigue_score", "resource_allocation", "wfh_setup_available"} <= set(
        moved["drifted_features"]
    )


def test_prediction_drift_and_missing_rates_are_reported() -> None:
    reference = batch(2_000, 1).assign(prediction=lambda f: f["burn_rate"])
    current = batch(2_000, 2).assign(prediction=lambda f: f["burn_rate"] + 0.3)
    current.loc[:999, "resource_allocation"] = None
    summary = drift_summary(reference, current)
    assert summary["prediction"]["drifted"]
    assert summary["prediction"]["mean_current"] > summary["prediction"]["mean_reference"]
    assert summary["features"]["resource_allocation"]["missing_current"] >= 0.5
