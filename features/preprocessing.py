"""The sklearn preprocessing shared by every model family: derive, encode, MICE-impute, scale."""

from __future__ import annotations

from sklearn.compose import ColumnTransformer
from sklearn.experimental import enable_iterative_imputer  # noqa: F401  (unlocks IterativeImputer)
from sklearn.impute import IterativeImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from features.derived import DERIVED_NUMERIC, derive_features
from features.schema import CATEGORICAL_NAMES


def build_preprocessor(random_state: int = 0, max_iter: int = 10) -> Pipeline:
    """Raw canonical records in, a dense scaled numeric frame out.

    The three categoricals are binary, so one-hot with drop='if_binary' yields one 0/1 column
    each; IterativeImputer (MICE) fills Resource Allocation, Mental Fatigue Score and tenure from
    the other columns, as in training, also at serving time.
    """
    encode = ColumnTransformer(
        [
            (
                "categorical",
                OneHotEncoder(drop="if_binary", handle_unknown="ignore", sparse_output=False),
                list(CATEGORICAL_NAMES),
            ),
            ("numeric", "passthrough", list(DERIVED_NUMERIC)),
        ],
        remainder="drop",
        verbose_feature_names_out=False,
    )
    pipeline = Pipeline(
        [
            ("derive", FunctionTransformer(derive_features, validate=False)),
            ("encode", encode),
            ("impute", IterativeImputer(random_state=random_state, max_iter=max_iter)),
            ("scale", StandardScaler()),
        ]
    )
    return pipeline.set_output(transform="pandas")
