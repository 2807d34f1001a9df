"""Waiting for a condition that another process makes true."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from ray_jobs.core.settings import Settings


def wait_until(check: Callable[[], object], timeout: float, interval: float = 0.3) -> bool:
    """Poll a zero-argument callable until it returns truthy or the timeout passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return bool(check())


def http_ok(url: str, headers: dict[str, str] | None = None) -> bool:
    """Whether GET url answers 200 within 2 s."""
    try:
        return httpx.get(url, headers=headers or {}, timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def ray_dashboard_up(settings: Settings) -> bool:
    """Whether the Ray head's dashboard (and so its Jobs and Serve APIs) answers, token sent."""
    return http_ok(f"{settings.ray_address.rstrip('/')}/api/version", settings.ray_auth_headers())
