"""Row validation against the raw schema, with a reason per failed rule."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pandas as pd

from features import cleaning
from features.schema import BURN_RATE, EMPLOYEE_ID, FEATURE_COLUMNS, RAW_COLUMNS, Column

MISSING_TARGET = "missing (rows without a target cannot be used for training)"


@dataclass(frozen=True)
class Validated:
    """Typed values for every row plus, per column, why a value was refused (None if fine)."""

    clean: pd.DataFrame
    errors: pd.DataFrame

    @property
    def valid(self) -> pd.Series:
        """True for rows where no rule failed."""
        return self.errors.isna().all(axis=1)

    def reasons(self, label: str = "raw") -> pd.Series:
        """One string per row, 'Column: message; Other: message', empty when the row is valid.

        label='raw' names columns as in the CSV header, 'name' as on the wire (snake_case).
        Built for the failing rows only: a clean batch pays nothing for it.
        """
        out = pd.Series("", index=self.errors.index, dtype=object)
        failing = ~self.valid
        if not failing.any():
            return out
        errors = self.errors[failing]
        joined: pd.Series | None = None
        for name in errors.columns:
            title = _column(name).raw if label == "raw" else name
            part = title + ": " + errors[name].astype(object).where(errors[name].notna(), None)
            if joined is None:
                joined = part
            else:
                both = joined.notna() & part.notna()
                joined = joined.where(~both, joined + "; " + part).fillna(part)
        assert joined is not None  # a failing row has at least one message
        out[failing] = joined.to_numpy(dtype=object)
        return out


def _column(name: str) -> Column:
    return next(c for c in RAW_COLUMNS if c.name == name)


def clean_column(column: Column, raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Apply the cleaning rule that fits the column's kind."""
    if column.kind == "number":
        return cleaning.to_number(raw, column.minimum, column.maximum, column.required)
    if column.kind == "category":
        return cleaning.to_category(raw, column.categories, column.required)
    if column.kind == "date":
        return cleaning.to_iso_date(raw, column.required)
    return cleaning.to_identifier(raw, column.required)


def validate(
    frame: pd.DataFrame, require_target: bool = False, require_id: bool = True
) -> Validated:
    """Validate a frame whose columns carry canonical (snake_case) names.

    Missing feature columns count as missing values; columns outside the schema are ignored.
    With require_target, a missing Burn Rate is a failed rule (training data); otherwise the
    target is optional and absent columns are fine (scoring data). Without require_id the
    Employee ID may be missing (API records, where it is only echoed back).
    """
    columns = (
        RAW_COLUMNS if (require_target or BURN_RATE.name in frame.columns) else FEATURE_COLUMNS
    )
    clean: dict[str, pd.Series] = {}
    errors: dict[str, pd.Series] = {}
    for column in columns:
        if column is EMPLOYEE_ID and not require_id:
            column = replace(column, required=False)  # noqa: PLW2901
        raw = frame[column.name] if column.name in frame.columns else _missing(frame.index)
        values, messages = clean_column(column, raw)
        if column.name == BURN_RATE.name and require_target:
            messages = messages.where(~(values.isna() & messages.isna()), MISSING_TARGET)
        clean[column.name] = values
        errors[column.name] = messages
    return Validated(
        clean=pd.DataFrame(clean, index=frame.index),
        errors=pd.DataFrame(errors, index=frame.index, dtype=object),
    )


def _missing(index: pd.Index) -> pd.Series:
    return pd.Series(None, index=index, dtype=object)
