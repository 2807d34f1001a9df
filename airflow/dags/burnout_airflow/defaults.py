"""What every burnout DAG and task shares: retries, timeouts, tags, the schedule setting."""

from __future__ import annotations

import datetime as dt
import os

TAGS = ["burnout", "ray"]
DEFAULT_ARGS = {
    "owner": "burnout-ray",
    "retries": 2,
    "retry_delay": dt.timedelta(seconds=15),
    "execution_timeout": dt.timedelta(hours=2),
}
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def schedule(variable: str) -> str | None:
    """A cron expression or preset from the environment; unset or empty means manual only."""
    return os.environ.get(variable) or None
