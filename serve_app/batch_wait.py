"""How long a micro-batch waits for more requests (the Serve deployment and the benchmark's
plain-app peer use the same policy)."""

from __future__ import annotations

import time
from collections.abc import Callable

IDLE_BATCH_WAIT_S = 0.0005
# No batch for this long: whatever load there was has ended, and what was learned of it is moot.
QUIET_GAP_S = 0.25


class AdaptiveWait:
    """How long a batch waits for more requests: the configured wait while batches fill up,
    almost nothing while requests come one at a time (then waiting would only add latency).

    A wait of 0 does not work instead: on an asyncio loop the batch then never fills, because
    the next requests are still being parsed when the batch is taken. After a quiet gap the mean
    starts again from the batch at hand: a lone request after a burst does not wait as if the
    burst were still on (the mean alone took ~8 more batches to come down).
    """

    def __init__(
        self,
        busy_s: float,
        idle_s: float = IDLE_BATCH_WAIT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.busy_s = busy_s
        self.idle_s = min(idle_s, busy_s)
        self.mean_size = 1.0
        self._clock = clock
        self._last = float("-inf")

    def observe(self, batch_size: int) -> float:
        """Record a batch; the wait for the next one."""
        now = self._clock()
        if now - self._last > QUIET_GAP_S:
            self.mean_size = float(batch_size)
        else:
            self.mean_size += 0.3 * (batch_size - self.mean_size)
        self._last = now
        return self.busy_s if self.mean_size > 1.5 else self.idle_s
