"""The training config (`configs/train.yaml`) as a typed model, checked before any compute.

A missing, misspelt or mistyped key fails at start-up with one line naming it (for example
`families.svm.space.C.high: Field required`) instead of a KeyError inside a tuning thread.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from features.models import FAMILIES
from ray_jobs.core.errors import ConfigError

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "train.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Dimension(_Strict):
    """One hyperparameter: a numeric range (optionally log-scaled) or a list of choices."""

    type: Literal["int", "float", "categorical"]
    low: int | float | None = None
    high: int | float | None = None
    log: bool | None = None
    choices: list[str | int | float | bool] | None = None

    @model_validator(mode="after")
    def _complete(self) -> Dimension:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical dimension needs a non-empty 'choices' list")
        elif self.low is None or self.high is None or not self.low < self.high:
            raise ValueError(f"an {self.type} dimension needs 'low' < 'high'")
        return self


class FamilyConfig(_Strict):
    num_samples: int = Field(ge=1)
    max_train_rows: int | None = Field(None, ge=10)
    space: dict[str, Dimension] = Field(min_length=1)


class TrainConfig(_Strict):
    version: int
    seed: int
    metric: Literal["val_rmse"]
    cpus_per_trial: float = Field(gt=0)
    families: dict[str, FamilyConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _known_families(self) -> TrainConfig:
        unknown = set(self.families) - set(FAMILIES)
        if unknown:
            raise ValueError(f"unknown families {sorted(unknown)}; known: {', '.join(FAMILIES)}")
        return self


def _describe(path: Path, error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    more = f" (+{error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"training config {path}: {where}: {first['msg']}{more}"


def load_config(path: Path, trials: int | None, families: list[str] | None) -> dict[str, Any]:
    """The validated config as plain data, with optional overrides for quick runs."""
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"cannot read training config {path}: {error}") from None
    try:
        config = TrainConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_describe(path, error)) from None
    unknown = set(families or []) - set(FAMILIES)
    if unknown:
        raise ConfigError(f"unknown families {sorted(unknown)}; choose from {', '.join(FAMILIES)}")
    missing = set(families or []) - set(config.families)
    if missing:
        raise ConfigError(f"training config {path} has no section for {sorted(missing)}")
    data = config.model_dump(exclude_none=True)
    data["families"] = {f: data["families"][f] for f in families or list(config.families)}
    for family in data["families"].values():
        family.setdefault("max_train_rows", None)
        if trials is not None:
            family["num_samples"] = trials
    return data
