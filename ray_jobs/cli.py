"""What every CLI entrypoint shares: logging set-up and one clear line for expected failures."""

from __future__ import annotations

import logging
import os
import sys

import click
import typer

from ray_jobs.errors import BurnoutError

log = logging.getLogger("burnout")


def configure_logging() -> None:
    """Plain timestamped lines on stderr; level from BURNOUT_LOG_LEVEL (default INFO)."""
    level = os.environ.get("BURNOUT_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        force=True,
    )
    for noisy in ("botocore", "urllib3", "s3transfer", "alembic", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def run(app: typer.Typer) -> None:
    """Run a Typer app; expected failures print one line and exit non-zero, no traceback."""
    configure_logging()
    try:
        app(standalone_mode=False)
    except BurnoutError as error:
        log.error("%s", error)
        sys.exit(error.exit_code)
    except click.exceptions.Abort:
        log.error("aborted")
        sys.exit(130)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
