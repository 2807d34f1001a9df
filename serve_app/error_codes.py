"""The one table from the project's errors to each protocol's status: REST, GraphQL, gRPC."""

from __future__ import annotations

from dataclasses import dataclass

from ray_jobs.core.errors import (
    BurnoutError,
    InvalidInput,
    ModelUnavailable,
    NotFound,
    TooLarge,
    Unauthenticated,
)


@dataclass(frozen=True)
class Codes:
    http: int
    graphql: str  # extensions.code
    grpc: str  # a grpc.StatusCode name


TABLE: dict[type[BurnoutError], Codes] = {
    InvalidInput: Codes(422, "BAD_USER_INPUT", "INVALID_ARGUMENT"),
    TooLarge: Codes(413, "BAD_USER_INPUT", "INVALID_ARGUMENT"),
    NotFound: Codes(404, "NOT_FOUND", "NOT_FOUND"),
    ModelUnavailable: Codes(503, "UNAVAILABLE", "UNAVAILABLE"),
    Unauthenticated: Codes(401, "UNAUTHENTICATED", "UNAUTHENTICATED"),
}
INTERNAL = Codes(500, "INTERNAL", "INTERNAL")


def codes_for(error: BaseException) -> Codes:
    """The codes of the most specific entry that matches, INTERNAL for anything else."""
    return next((c for kind, c in TABLE.items() if isinstance(error, kind)), INTERNAL)
