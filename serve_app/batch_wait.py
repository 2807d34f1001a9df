"""How long a micro-batch waits for more requests (the Serve deployment and the benchmark's
plain-app peer use the same policy)."""

from __future__ import annotations

IDLE_BATCH_WAIT_S = 0.0005


class AdaptiveWait:
    """How long a batch waits for more requests: the configured wait while batches fill up,
    almost nothing while requests come one at a time (then waiting would only add latency).

    A wait of 0 does not work instead: on an asyncio loop the batch then never fills, because
    the next requests are still being parsed when the batch is taken.
    """

    def __init__(self, busy_s: float, idle_s: float = IDLE_BATCH_WAIT_S) -> None:
        self.busy_s = busy_s
        self.idle_s = min(idle_s, busy_s)
        self.mean_size = 1.0

    def observe(self, batch_size: int) -> float:
        """Record a batch; the wait for the next one."""
        self.mean_size += 0.3 * (batch_size - self.mean_size)
        return self.busy_s if self.mean_size > 1.5 else self.idle_s
