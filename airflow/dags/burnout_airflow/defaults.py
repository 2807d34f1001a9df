"""What every burnout DAG and task shares: retries, timeouts, tags, the schedule setting."""

from __future__ import annotations

import datetime as dt
import os
import re
from typing import Any

TAGS = ["burnout", "ray"]
DEFAULT_ARGS = {
    "owner": "burnout-ray",
    "retries": 2,
    "retry_delay": dt.timedelta(seconds=15),
    "execution_timeout": dt.timedelta(hours=2),
}
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def dag_args(schedule_variable: str, *tags: str) -> dict[str, Any]:
    """The @dag arguments both DAGs share. The schedule is a cron expression or preset from the
    environment variable; unset or empty means manual only."""
    return {
        "schedule": os.environ.get(schedule_variable) or None,
        "start_date": START,
        "catchup": False,
        "max_active_runs": 1,
        "default_args": DEFAULT_ARGS,
        "tags": [*TAGS, *tags],
    }


def safe_name(text: str) -> str:
    """A run id or key reduced to characters safe in Ray job ids and S3 keys."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text)
