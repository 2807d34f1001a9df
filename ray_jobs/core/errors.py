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


class TrainingFailed(BurnoutError):
    """Every trial of a model family failed: nothing to register."""

    exit_code = 5


class InvalidInput(BurnoutError):
    """A request's records break the schema; `errors` names each offending field."""

    def __init__(self, errors: list[dict[str, object]]) -> None:
        self.errors = errors
        first = errors[0] if errors else {"field": "request", "message": "invalid"}
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"{first['field']}: {first['message']}{more}")


class TooLarge(BurnoutError):
    """A request is over a configured size limit."""


class ModelUnavailable(BurnoutError):
    """No model is registered (or loadable) for the requested alias yet."""

    exit_code = 3


class Unauthenticated(BurnoutError):
    """An API call without the configured token (HTTP 401, gRPC UNAUTHENTICATED)."""
