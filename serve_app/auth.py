"""Optional API token for REST, GraphQL and gRPC (on when BURNOUT_SERVE_API_TOKEN is set).

The replicas receive only the token's SHA-256, so the secret is in no deployment config; callers
send `Authorization: Bearer <token>` (HTTP header or gRPC metadata).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

# Liveness and the API description stay open: load balancers and clients read them unauthenticated.
OPEN_PATHS = frozenset({"/health", "/docs", "/openapi.json", "/docs/oauth2-redirect"})
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="burnout-ray"'}


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenCheck:
    """Compares a presented bearer token with the configured one; no digest = auth off."""

    def __init__(self, token_sha256: str | None) -> None:
        self.token_sha256 = token_sha256

    def allows(self, authorization: str | None) -> bool:
        if self.token_sha256 is None:
            return True
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return False
        return hmac.compare_digest(digest(token.strip()), self.token_sha256)

    def allows_metadata(self, metadata: Iterable[tuple[str, str | bytes]]) -> bool:
        """gRPC invocation metadata (keys arrive lower-cased)."""
        for key, value in metadata:
            if key == "authorization":
                return self.allows(value.decode() if isinstance(value, bytes) else value)
        return self.allows(None)
