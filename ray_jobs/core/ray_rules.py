"""What this project needs Ray Data to do differently, in one place (written for ray 2.60).

- Datasource V2 for Parquet starts many footer-reader actors per read on a small machine (6-14 s
  a read instead of 0.3 s): off. Its environment variable only counts if it is set before
  `ray.data` is first imported (and `ray.tune` imports it), so the driver also sets the flag on
  the DataContext, and the local stack's head exports the variable to every job.
- LightGBM and pandas 3 reject Arrow-backed pandas dtypes: Ray Data hands out numpy-backed ones.
- An unreachable S3 endpoint fails a job within seconds. Ray Data retries reads on "AWS Error
  NETWORK_CONNECTION" up to 10 times with backoff to 32 s, in nested layers (file system, stream,
  context manager): an ETL whose S3 went down mid-read hung over 7 minutes in CI before it
  failed. Throttling and 5xx answers are still retried; a job that fails because S3 is gone is
  retried whole by its orchestrator (Airflow's task retries), which publishes nothing half-done.

A Ray upgrade that renames these knobs makes `apply_data_context` raise (setting an unknown
attribute on the DataContext would otherwise be silently ignored); tests/unit/test_ray_rules.py
checks them against the installed Ray.
"""

from __future__ import annotations

from typing import Any

WRITTEN_FOR = "2.60"
DATA_ENV = {"RAY_DATA_USE_DATASOURCE_V2": "0"}
RETRIED_IO_ERRORS = [
    "AWS Error INTERNAL_FAILURE",
    "AWS Error SLOW_DOWN",
    "AWS Error UNKNOWN (HTTP status 503)",
    "AWS Error SERVICE_UNAVAILABLE",
]
DATA_CONTEXT = {
    "use_datasource_v2": False,
    "enable_arrow_backed_pandas_conversion": False,
    "retried_io_errors": RETRIED_IO_ERRORS,
}


def apply_data_context(context: Any) -> None:
    """Set the DataContext knobs above; fail loudly if this Ray no longer has one of them."""
    for name, value in DATA_CONTEXT.items():
        if not hasattr(context, name):
            import ray

            raise RuntimeError(
                f"ray {ray.__version__} has no DataContext.{name} (written for {WRITTEN_FOR}): "
                "re-check ray_jobs/core/ray_rules.py"
            )
        setattr(context, name, value)
