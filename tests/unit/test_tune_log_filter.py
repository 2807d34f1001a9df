"""Tune's upload racing its own temp-file rename: one warning line, other failures untouched."""

from __future__ import annotations

import logging
import traceback
import uuid
from pathlib import Path

import pyarrow.fs
import pytest

from ray_jobs.train import tune_log_filter


def vanished_copy_error(folder: Path, name: str) -> FileNotFoundError:
    """The error pyarrow raises copying a file listed but gone, as Tune's upload does."""
    missing = folder / name
    try:
        pyarrow.fs.copy_files(str(missing), str(folder / "copy"))
    except FileNotFoundError as error:
        return error
    raise AssertionError("copy of a missing file succeeded")


class Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.text = ""

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.text += logging.Formatter().format(record) + "\n"


def emitted(logger_name: str, **record: object) -> tuple[logging.LogRecord, str]:
    """The one record the logger hands its handlers, and its formatted text."""
    logger = logging.getLogger(logger_name)
    kept = Kept()
    logger.addHandler(kept)
    try:
        logger.log(**record)  # type: ignore[arg-type]
    finally:
        logger.removeHandler(kept)
    (only,) = kept.records
    return only, kept.text


@pytest.fixture(autouse=True)
def installed() -> None:
    tune_log_filter.install()
    tune_log_filter.install()  # twice: still one filter per logger
    for name in tune_log_filter.TUNE_SYNC_LOGGERS:
        filters = logging.getLogger(name).filters
        assert sum(isinstance(f, tune_log_filter.VanishedTempFile) for f in filters) == 1


def test_a_vanished_temp_file_becomes_one_warning_line(
    tmp_path: Path,
) -> None:
    error = vanished_copy_error(tmp_path, f".{uuid.uuid4()}-tmp-search_gen_state-2026.json")
    record, text = emitted(
        "ray.tune.execution.experiment_state",
        level=logging.ERROR,
        msg="Saving experiment state to storage at 'processed/tune/x' failed with exception: ",
        exc_info=(type(error), error, error.__traceback__),
    )
    assert record.levelno == logging.WARNING
    assert record.exc_info is None
    assert "next upload carries the state" in record.getMessage()
    assert "Traceback" not in text


def test_the_syncers_traceback_text_is_recognised_too(
    tmp_path: Path,
) -> None:
    error = vanished_copy_error(tmp_path, f".{uuid.uuid4()}-tmp-experiment_state.json")
    text = "".join(traceback.format_exception(error))
    record, text = emitted(
        "ray.train._internal.syncer",
        level=logging.WARNING,
        msg=f"Last sync command failed with the following error:\n{text}",
    )
    assert "Traceback" not in record.getMessage()
    assert "next upload carries the state" in record.getMessage()


@pytest.mark.parametrize(
    "name", ["results.json", "tmp-search_gen_state.json", "checkpoint_000001/model.pkl"]
)
def test_any_other_missing_file_keeps_rays_record(tmp_path: Path, name: str) -> None:
    error = vanished_copy_error(tmp_path, name)
    record, text = emitted(
        "ray.tune.execution.experiment_state",
        level=logging.ERROR,
        msg="Saving experiment state to storage failed with exception: ",
        exc_info=(type(error), error, error.__traceback__),
    )
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None and record.exc_info[1] is error
    assert "Traceback" in text


def test_other_errors_keep_rays_record() -> None:
    error = PermissionError(f"Failed to open local file '/x/.{uuid.uuid4()}-tmp-a.json'")
    record, _ = emitted(
        "ray.tune.execution.experiment_state",
        level=logging.ERROR,
        msg="Saving experiment state failed",
        exc_info=(type(error), error, None),
    )
    assert record.levelno == logging.ERROR and record.exc_info is not None
