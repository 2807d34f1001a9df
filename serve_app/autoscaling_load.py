"""The load Serve's autoscaler sees: requests in flight in a replica, averaged over time.

Serve's own count samples a replica's ongoing requests when the replica's event loop gets to it.
Under gRPC load that read 0-6 for a saturated replica holding 18-25 requests, and gRPC load
alone never added a replica (demo stack, 32 gRPC clients: `ray_serve_autoscaling_total_requests`
0-3.2 while Serve's `ray_serve_replica_processing_queries` read 18-25; 32 REST clients read
17-22; why the protocols differ inside Ray was not established). `InFlight` integrates the count
over time instead, so a reading is the true mean since the previous one; it is exported too
(`rate(ray_burnout_in_flight_seconds_total[1m])`: the mean number of requests in a replica over
the last minute). `in_flight_policy` scales on it, or on Serve's count when that is larger, and
Serve applies its own delays, factors and min/max replicas around the policy.

The policy is pickled by value into Serve's controller: it must need nothing but this module's
standard-library imports.
"""

from __future__ import annotations

import threading
import time
from typing import Any

# The custom autoscaling metric each replica reports (`record_autoscaling_stats`).
IN_FLIGHT = "burnout_in_flight"
POLICY = f"{__name__}:in_flight_policy"


class InFlight:
    """Requests inside the replica, integrated over time. Requests enter and leave on the
    replica's event loop; Serve's stats hook and the metrics thread read it."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._count = 0
        self._changed = clock()
        self._area = 0.0  # request-seconds since the start
        self._read_at, self._read_area = self._changed, 0.0

    def _advance(self) -> float:
        now = self._clock()
        self._area += self._count * (now - self._changed)
        self._changed = now
        return now

    def enter(self) -> None:
        with self._lock:
            self._advance()
            self._count += 1

    def leave(self) -> None:
        with self._lock:
            self._advance()
            self._count -= 1

    def area(self) -> float:
        """Request-seconds spent in the replica so far (the exported counter)."""
        with self._lock:
            self._advance()
            return self._area

    def mean(self) -> float:
        """The time-weighted mean since the previous call (the current count if no time passed)."""
        with self._lock:
            now = self._advance()
            elapsed, area = now - self._read_at, self._area - self._read_area
            self._read_at, self._read_area = now, self._area
            return area / elapsed if elapsed > 0 else float(self._count)


def in_flight_policy(ctx: Any) -> tuple[float, dict[str, Any]]:
    """Replicas for the larger of the replicas' mean in-flight requests and Serve's own count.

    `ctx` is Serve's `AutoscalingContext`; the wrapper Serve puts around a custom policy applies
    the up/downscale delays, the scaling factors and min/max replicas to the number returned.
    """
    replicas = ctx.current_num_replicas
    if replicas == 0:
        return ctx.target_num_replicas, {}
    reported = (ctx.aggregated_metrics or {}).get(IN_FLIGHT, {})
    in_flight = sum(value for replica, value in reported.items() if replica in ctx.running_replicas)
    load = max(in_flight, ctx.total_num_requests)
    return load / ctx.config.get_target_ongoing_requests(), {}
