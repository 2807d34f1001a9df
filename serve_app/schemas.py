"""Wire schemas: one employee record in, one prediction out (REST; GraphQL and gRPC mirror them)."""

from __future__ import annotations

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from features.schema import RAW_COLUMNS

_ALIASES = {c.name: AliasChoices(c.name, c.raw) for c in RAW_COLUMNS}
MAX_TEXT = 256


class EmployeeRecord(BaseModel):
    """One employee. Snake_case names, or the raw CSV column names; nulls are imputed."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    employee_id: str | None = Field(
        None, validation_alias=_ALIASES["employee_id"], max_length=MAX_TEXT
    )
    date_of_joining: str | None = Field(
        None, validation_alias=_ALIASES["date_of_joining"], max_length=MAX_TEXT,
        examples=["2008-09-30"],
    )  # fmt: skip
    gender: str = Field(
        validation_alias=_ALIASES["gender"], max_length=MAX_TEXT, examples=["Female"]
    )
    company_type: str = Field(
        validation_alias=_ALIASES["company_type"], max_length=MAX_TEXT, examples=["Service"]
    )
    wfh_setup_available: str = Field(
        validation_alias=_ALIASES["wfh_setup_available"], max_length=MAX_TEXT, examples=["No"]
    )
    designation: float = Field(validation_alias=_ALIASES["designation"], examples=[2])
    resource_allocation: float | None = Field(
        None, validation_alias=_ALIASES["resource_allocation"], examples=[3]
    )
    mental_fatigue_score: float | None = Field(
        None, validation_alias=_ALIASES["mental_fatigue_score"], examples=[3.8]
    )


class PredictRequest(BaseModel):
    """A batch of records to score."""

    model_config = ConfigDict(extra="forbid")

    records: list[EmployeeRecord] = Field(min_length=1)


class ModelRef(BaseModel):
    """Which registered model answered."""

    name: str
    alias: str
    version: str


class Contribution(BaseModel):
    """How much one raw feature moved this prediction away from the base value."""

    feature: str
    model_input: str
    value: str | float | None
    contribution: float
    imputed: bool
    imputed_value: float | None = None


class Explanation(BaseModel):
    """base_value + sum of contributions = prediction (the model's output before clipping)."""

    base_value: float
    prediction: float
    method: str
    contributions: list[Contribution]


class Prediction(BaseModel):
    """One prediction: burn rate in [0, 1] and its risk level (and why, with ?explain=true)."""

    employee_id: str | None = None
    burn_rate: float
    risk_level: str
    model: ModelRef
    explanation: Explanation | None = None


class PredictResponse(BaseModel):
    predictions: list[Prediction]
    model: ModelRef


# One registered model version on the wire (REST returns the dict itself; GraphQL and gRPC map
# these keys onto their own types).
MODEL_VERSION_FIELDS = (
    "name",
    "version",
    "aliases",
    "family",
    "dataset_version",
    "run_id",
    "metrics",
)
