"""The load Serve's autoscaler sees: requests in flight in a replica, averaged over time.

Serve's own count samples the replica's ongoing requests at moments when its event loop is free.
Under gRPC load that is just after a batch was answered and before the next requests arrive, so a
saturated replica with ~15-25 requests waiting reported 0-6 and never scaled (measured on the
demo stack, 32 gRPC clients: `ray_serve_autoscaling_total_requests` 0-3.2 while Serve's
`ray_serve_replica_processing_queries` read 18-25). REST was less affected only by chance of
timing. `InFlight` integrates the count over time instead, so any reading is the true mean since
the previous one; `in_flight_policy` scales on it (or on Serve's count, whichever is larger),
with Serve's own delays, factors and bounds applied around it.

The policy is pickled by value into Serve's controller: it must need nothing but this module's
standard-library imports.
"""

from __future__ import annotations

import time
from typing import Any

# The custom autoscaling metric each replica reports (`record_autoscaling_stats`).
IN_FLIGHT = "burnout_in_flight"
POLICY = f"{__name__}:in_flight_policy"


class InFlight:
    """Requests inside the replica, integrated over time (called on the replica's event loop)."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._count = 0
        self._since = self._changed = clock()
        self._area = 0.0

    def _advance(self) -> float:
        now = self._clock()
        self._area += self._count * (now - self._changed)
        self._changed = now
        return now

    def enter(self) -> None:
        self._advance()
        self._count += 1

    def leave(self) -> None:
        self._advance()
        self._count -= 1

    def mean(self) -> float:
        """The time-weighted mean since the previous call (the current count if no time passed)."""
        now = self._advance()
        elapsed = now - self._since
        mean = self._area / elapsed if elapsed > 0 else float(self._count)
        self._since, self._area = now, 0.0
        return mean


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
