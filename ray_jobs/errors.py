"""One base exception for expected failures; entrypoints turn it into one clear line."""

from __future__ import annotations


class BurnoutError(Exception):
    """An expected failure: the message says what is wrong and how to fix it."""

    exit_code = 2


class ConfigError(BurnoutError):
    """Settings are missing or invalid."""


class ServiceUnavailable(BurnoutError):
    """A service the job needs (S3, MLflow, Ray) cannot be reached."""

    exit_code = 3


class DataError(BurnoutError):
    """Input data is missing or does not match the schema."""

    exit_code = 4


class NotFound(BurnoutError):
    """A named thing (object, dataset version, model alias) does not exist."""

    exit_code = 4
