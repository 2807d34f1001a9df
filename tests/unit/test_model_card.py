"""Model cards and the fairness gate's arithmetic, without services."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from features.evaluation import (
    MIN_SLICE_ROWS,
    calibration,
    card_metrics,
    evaluate,
    largest_gap,
    slice_metrics,
)
from features.schema import FEATURE_COLUMNS
from features.synthetic import generate
from ray_jobs.core.registry import Promotion
from ray_jobs.train.config import DEFAULT_CONFIG, load_config
from ray_jobs.train.model_card import RENAMING, CardContext, description, render


def _scored(rows: int = 600) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "gender": rng.choice(["Male", "Female"], rows),
            "company_type": rng.choice(["Service", "Product"], rows),
            "wfh_setup_available": rng.choice(["Yes", "No"], rows),
        }
    )
    truth = rng.random(rows)
    noise = np.where(frame["gender"] == "Male", 0.02, 0.08)  # worse for one group, on purpose
    return frame, truth, truth + rng.normal(0, noise)


def test_the_largest_gap_names_the_slice_that_differs() -> None:
    frame, truth, predicted = _scored()
    gap = largest_gap(slice_metrics(frame, truth, predicted))
    assert gap is not None and gap["slice"] == "gender"
    assert gap["worst_group"] == "Female" and gap["rmse_gap"] > 0.03


def test_small_groups_are_not_compared() -> None:
    frame, truth, predicted = _scored(MIN_SLICE_ROWS + 5)
    frame.loc[1:, "gender"] = "Male"  # one Female row: too few to compare
    slices = slice_metrics(frame, truth, predicted)
    assert slices["gender"]["Female"]["rows"] == 1
    gap = largest_gap(slices)
    assert gap is None or gap["slice"] != "gender"


def test_calibration_bins_cover_every_row() -> None:
    _, truth, predicted = _scored()
    table = calibration(truth, predicted)
    assert sum(b["rows"] for b in table) == len(truth)
    assert all(0 <= b["mean_predicted"] <= 1 for b in table)


def test_the_card_has_every_section_and_a_description_within_mlflow_limits() -> None:
    frame, truth, predicted = _scored()
    metrics = card_metrics(frame, truth, predicted)
    result = SimpleNamespace(
        family="svm", card_metrics=metrics, train_rows=6000, best_params={"C": 2.0}
    )
    context = CardContext(
        "burnout-rate",
        "ds-abc",
        {"rows": {"in": 10, "out": 9, "rejected": 1}, "splits": {"test": {"rows": 600}}},
        load_config(DEFAULT_CONFIG, 4, None),
        "Synthetic data (features.synthetic seed 42): not real employees.",
    )
    card = render(context, "7", "run-1", result, evaluate(truth, predicted, np.ones(600, bool)))
    for section in ("# Model card: burnout-rate v7 (svm)", "## Data", "## Features",
                    "## Training", "## Test metrics", "## By slice", "## Calibration",
                    "## Use it outside this service", "## Intended use and limits",
                    "Largest gap between slices: gender", "not real employees",
                    "without a human"):  # fmt: skip
        assert section in card, section
    assert "(a seeded sample of at most 6000)" in card  # the SVR's row cap
    head = description(card * 3)
    assert len(head) <= 5_000 and head.startswith("# Model card") and "model_card.md" in head


def test_the_cards_renaming_turns_csv_headers_into_the_signatures_names() -> None:
    raw = generate(5, 1)
    renamed = raw.rename(columns=RENAMING)
    assert {c.name for c in FEATURE_COLUMNS} <= set(renamed.columns)


def test_the_fairness_gate_keeps_a_better_but_less_even_model() -> None:
    blocked = Promotion(False, "5", 0.050, "4", 0.055, 0.020, 0.010, 0.005)
    assert blocked.blocked_by_gap and "gap between slices" in blocked.reason
    within = Promotion(True, "5", 0.050, "4", 0.055, 0.014, 0.010, 0.005)
    assert not within.blocked_by_gap
    off = Promotion(True, "5", 0.050, "4", 0.055, 0.5, 0.010, None)
    assert not off.blocked_by_gap and "slice gap" not in off.reason
