"""The raw HackerEarth schema and the snake_case names used everywhere after ingestion."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

SCHEMA_VERSION = "1"


@dataclass(frozen=True)
class Column:
    """One raw column: its CSV header, its canonical name and the rule its values follow."""

    raw: str
    name: str
    kind: str  # "id" | "date" | "category" | "number"
    required: bool
    categories: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None


EMPLOYEE_ID = Column("Employee ID", "employee_id", "id", required=True)
DATE_OF_JOINING = Column("Date of Joining", "date_of_joining", "date", required=False)
GENDER = Column("Gender", "gender", "category", required=True, categories=("Male", "Female"))
COMPANY_TYPE = Column(
    "Company Type", "company_type", "category", required=True, categories=("Service", "Product")
)
WFH_SETUP_AVAILABLE = Column(
    "WFH Setup Available",
    "wfh_setup_available",
    "category",
    required=True,
    categories=("Yes", "No"),
)
DESIGNATION = Column("Designation", "designation", "number", required=True, minimum=0, maximum=5)
RESOURCE_ALLOCATION = Column(
    "Resource Allocation", "resource_allocation", "number", required=False, minimum=1, maximum=10
)
MENTAL_FATIGUE_SCORE = Column(
    "Mental Fatigue Score", "mental_fatigue_score", "number", required=False, minimum=0, maximum=10
)
BURN_RATE = Column("Burn Rate", "burn_rate", "number", required=False, minimum=0, maximum=1)

FEATURE_COLUMNS: tuple[Column, ...] = (
    EMPLOYEE_ID,
    DATE_OF_JOINING,
    GENDER,
    COMPANY_TYPE,
    WFH_SETUP_AVAILABLE,
    DESIGNATION,
    RESOURCE_ALLOCATION,
    MENTAL_FATIGUE_SCORE,
)
RAW_COLUMNS: tuple[Column, ...] = (*FEATURE_COLUMNS, BURN_RATE)

TARGET = BURN_RATE.name
RAW_HEADER: tuple[str, ...] = tuple(c.raw for c in RAW_COLUMNS)
NAMES: tuple[str, ...] = tuple(c.name for c in RAW_COLUMNS)
FEATURE_NAMES: tuple[str, ...] = tuple(c.name for c in FEATURE_COLUMNS)
CATEGORICAL_NAMES: tuple[str, ...] = tuple(c.name for c in RAW_COLUMNS if c.kind == "category")
NUMERIC_FEATURE_NAMES: tuple[str, ...] = tuple(
    c.name for c in FEATURE_COLUMNS if c.kind == "number"
)
RAW_TO_NAME: dict[str, str] = {c.raw: c.name for c in RAW_COLUMNS}
BY_NAME: dict[str, Column] = {c.name: c for c in RAW_COLUMNS}

# Tenure is measured against a fixed date, not "today": a feature that drifts with the wall clock
# would make the same record score differently at training and at serving time. The challenge data
# covers joiners of 2008, so the snapshot is the first day after it.
REFERENCE_DATE = dt.date(2009, 1, 1)
EARLIEST_JOINING_DATE = dt.date(1950, 1, 1)
LATEST_JOINING_YEAR = 2100
MAX_ID_LENGTH = 64  # characters of an Employee ID


@dataclass(frozen=True)
class HeaderCheck:
    """How a file's header lines up with the raw schema."""

    positions: dict[str, int]  # canonical name -> column index in the file
    missing: tuple[str, ...]
    extra: tuple[str, ...]


def check_header(header: list[str], require_target: bool = True) -> HeaderCheck:
    """Match a CSV header against the raw schema; accepts raw names or canonical names."""
    cleaned = [h.strip().lstrip("\ufeff") for h in header]
    positions: dict[str, int] = {}
    extra: list[str] = []
    for index, title in enumerate(cleaned):
        name = RAW_TO_NAME.get(title, title if title in BY_NAME else None)
        if name is None or name in positions:
            extra.append(title)
        else:
            positions[name] = index
    wanted = RAW_COLUMNS if require_target else FEATURE_COLUMNS
    missing = tuple(c.raw for c in wanted if c.name not in positions)
    return HeaderCheck(positions=positions, missing=missing, extra=tuple(extra))
