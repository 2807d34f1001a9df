"""Risk bins, splitting, derived features and the sklearn preprocessing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.derived import TENURE_YEARS, derive_features
from features.preprocessing import build_preprocessor
from features.risk import clip_burn_rate, risk_level
from features.schema import FEATURE_NAMES, RAW_TO_NAME
from features.splitting import SPLITS, split_of
from features.synthetic import generate
from features.validation import validate


def test_risk_bins_follow_the_seed_thresholds() -> None:
    levels = risk_level(np.array([0.0, 0.3299, 0.33, 0.6599, 0.66, 1.0, np.nan]))
    assert levels.tolist() == ["Low", "Low", "Medium", "Medium", "High", "High", None]


def test_clip_burn_rate() -> None:
    assert clip_burn_rate([-0.2, 0.5, 1.3]).tolist() == [0.0, 0.5, 1.0]


def test_split_is_deterministic_proportional_and_independent_of_other_rows() -> None:
    ids = pd.Series([f"emp-{i}" for i in range(20_000)])
    first = split_of(ids)
    assert first.equals(split_of(ids))
    shares = first.value_counts(normalize=True)
    assert shares["train"] == pytest.approx(0.70, abs=0.015)
    assert shares["validation"] == pytest.approx(0.15, abs=0.015)
    assert shares["test"] == pytest.approx(0.15, abs=0.015)
    # Appending rows (and reordering) never moves an existing row to another split.
    grown = pd.concat([ids.iloc[::-1], pd.Series(["new-1", "new-2"])], ignore_index=True)
    regrown = split_of(grown)
    mapping = dict(zip(grown, regrown, strict=True))
    assert all(mapping[i] == s for i, s in zip(ids, first, strict=True))
    assert set(first) == set(SPLITS)


def test_split_rejects_bad_fractions() -> None:
    with pytest.raises(ValueError, match="sum"):
        split_of(pd.Series(["a"]), (0.5, 0.5, 0.5))


def test_tenure_is_relative_to_the_fixed_reference_date() -> None:
    frame = pd.DataFrame(
        {"date_of_joining": ["2008-01-01", None], "gender": ["Male", "Female"]}, dtype=object
    )
    derived = derive_features(frame)
    assert derived.loc[0, TENURE_YEARS] == pytest.approx(366 / 365.25)
    assert np.isnan(derived.loc[1, TENURE_YEARS])


def canonical(rows: int, seed: int = 1) -> pd.DataFrame:
    raw = generate(rows, seed).rename(columns=RAW_TO_NAME)
    return validate(raw.astype(object), require_target=False).clean


def test_preprocessor_imputes_encodes_and_scales() -> None:
    data = canonical(2_000)
    features = data[list(FEATURE_NAMES)]
    preprocessor = build_preprocessor()
    out = preprocessor.fit_transform(features)
    assert list(out.columns) == [
        "gender_Male",
        "company_type_Service",
        "wfh_setup_available_Yes",
        "designation",
        "resource_allocation",
        "mental_fatigue_score",
        TENURE_YEARS,
    ]
    assert not out.isna().any().any()
    assert out.mean().abs().max() < 1e-6
    assert (out.std(ddof=0) - 1).abs().max() < 1e-6


def test_mice_uses_the_other_columns() -> None:
    data = canonical(3_000)
    preprocessor = build_preprocessor().fit(data[list(FEATURE_NAMES)])
    base = data[list(FEATURE_NAMES)].iloc[:2].copy()
    base["resource_allocation"] = np.nan
    base["designation"] = [0.0, 5.0]
    imputer = preprocessor.named_steps["impute"]
    encoded = preprocessor.named_steps["encode"].transform(
        preprocessor.named_steps["derive"].transform(base)
    )
    filled = imputer.transform(encoded)
    column = list(encoded.columns).index("resource_allocation")
    low, high = filled.iloc[0, column], filled.iloc[1, column]
    assert high - low > 3  # allocation tracks designation (about +1.5 per level)


def test_preprocessor_handles_rows_with_missing_values_only_at_transform() -> None:
    data = canonical(1_000)
    preprocessor = build_preprocessor().fit(data[list(FEATURE_NAMES)])
    row = pd.DataFrame(
        [
            {
                "employee_id": None,
                "date_of_joining": None,
                "gender": "Male",
                "company_type": "Product",
                "wfh_setup_available": "Yes",
                "designation": 3.0,
                "resource_allocation": None,
                "mental_fatigue_score": None,
            }
        ]
    )
    out = preprocessor.transform(row)
    assert out.shape == (1, 7)
    assert np.isfinite(out.to_numpy()).all()


def test_the_split_of_an_id_never_changes() -> None:
    """Golden assignments of split rule v2 (features.splitting.HASH_KEY): a change to the hash,
    its key or pandas' SipHash moves rows between splits and must come with a new ETL_VERSION."""
    golden = {
        "emp-0": "train",
        "emp-1": "validation",
        "emp-7": "validation",
        "emp-18": "test",
        "emp-28": "test",
        "fffe32003000360033003200": "train",
    }
    ids = pd.Series(list(golden))
    assert split_of(ids).tolist() == list(golden.values())
    assert split_of(ids.astype(object)).tolist() == list(golden.values())  # any string dtype


def test_column_wise_and_per_cell_rules_agree() -> None:
    """All-string columns take the column-wise path, a column with one non-string cell the
    per-cell one: every other cell must come out the same either way."""
    import random

    from features.schema import NAMES

    rng = random.Random(5)
    cells = [
        "", " ", "  Male ", "male", "FEMALE", "Other", "Service", "product", "Yes", "no ", "1",
        "2.5", " 3 ", "abc", "1e3", "-1", "11", "0.5", "1.5", "inf", "nan", "True", ".5", "5.",
        "2008-01-02", "2008-1-2", "01/01/2008", "2008-02-30", "1900-01-01", "2008-01-02T10:00",
        "2200-01-01", "x" * 70, "emp-1", None,
    ]  # fmt: skip
    text = pd.DataFrame({c: [rng.choice(cells) for _ in range(3_000)] for c in NAMES}, dtype=object)
    mixed = pd.concat([text, pd.DataFrame([{c: True for c in NAMES}])], ignore_index=True)
    for options in ({"require_target": True}, {"require_target": False, "require_id": False}):
        column_wise = validate(text, **options)
        per_cell = validate(mixed, **options)
        rows = slice(0, len(text))
        pd.testing.assert_frame_equal(column_wise.clean, per_cell.clean.iloc[rows])
        pd.testing.assert_frame_equal(column_wise.errors, per_cell.errors.iloc[rows])
        assert column_wise.reasons().tolist() == per_cell.reasons().iloc[rows].tolist()
        assert (column_wise.reasons() != "").sum() == (~column_wise.valid).sum() > 0
    assert per_cell.errors.iloc[-1].notna().sum() >= 5  # the booleans themselves are refused
