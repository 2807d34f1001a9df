"""One line instead of Ray's traceback for Tune's experiment-state upload racing its next save.

Tune saves the experiment state into the driver's staging folder while the previous upload of
that folder to S3 may still run: the save writes `.<uuid>-tmp-<name>` and renames it, and the
upload, which listed the folder before the rename, fails opening the vanished temp file. Tune
logs that with a full traceback (Ray 2.60, `experiment_state.py` and `syncer.py`) and goes on;
the next upload, at the latest the forced one when the Tuner ends, carries the renamed file. So
the race costs one period's freshness of the state a resumed job would read, and nothing else:
a warning line says so. Any other upload failure keeps Ray's record untouched.
"""

from __future__ import annotations

import logging
import re

# The loggers that report a failed upload: the experiment state's wait, and the syncer when it
# launches the next upload after a failed one.
TUNE_SYNC_LOGGERS = ("ray.tune.execution.experiment_state", "ray.train._internal.syncer")

# pyarrow: "Failed to open local file '<dir>/.<uuid>-tmp-<name>'"; the name is Tune's temp prefix.
_VANISHED_TEMP = re.compile(r"FileNotFoundError.*local file '[^']*/\.[0-9a-f-]{36}-tmp-[^']*'")


class VanishedTempFile(logging.Filter):
    """Rewrites the record of an upload that failed only on a Tune temp file renamed meanwhile."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            text += f"\n{type(error).__name__}: {error}"
        if not _VANISHED_TEMP.search(text):
            return True
        record.msg = (
            "Tune's experiment-state upload overlapped its next save (a temp file was renamed "
            "while it was copied); the next upload carries the state"
        )
        record.args = None
        record.exc_info = None
        record.exc_text = None
        record.levelno = logging.WARNING
        record.levelname = logging.getLevelName(logging.WARNING)
        return True


def install() -> None:
    """Adds the filter to Tune's upload loggers once per process."""
    for name in TUNE_SYNC_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, VanishedTempFile) for f in logger.filters):
            logger.addFilter(VanishedTempFile())
