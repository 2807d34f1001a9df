"""The asyncio micro-batcher of the Serve replica and of the benchmark's single-process peer.

Not `@serve.batch`: Ray's decorator inspects the method's signature, copies the request and
trace context and records three histograms for every request (~10 % of a replica's sampled time
at 32 clients, py-spy; the throughput gain was within this machine's run-to-run noise), for the
same policy as this one: collect what arrives within the adaptive wait or until the batch is
full, predict it in one call on the event loop, answer each waiter. One class for the replica
and the peer also keeps the comparison between them about the serving architecture only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from serve_app.batch_wait import AdaptiveWait

# One request's part of a batch, and what the batch call returns for it (a result or an error).
Item = Any
Outcome = Any


class MicroBatcher:
    """Collects concurrent `submit` calls for up to the adaptive wait (or `max_size` items) and
    hands them to `run` at once; `run` returns one outcome per item, in order. `on_batch` sees
    each batch's size and the seconds its first item waited (the replica's metrics)."""

    def __init__(
        self,
        run: Callable[[list[Item]], list[Outcome]],
        max_size: int,
        wait_s: float,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        self._run = run
        self.max_size = max_size
        self._wait = AdaptiveWait(wait_s)  # the same policy in the replica and the peer
        self.wait_s = self._wait.idle_s
        self._on_batch = on_batch
        self._pending: list[tuple[Item, asyncio.Future[Outcome]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._opened = 0.0

    async def submit(self, item: Item) -> Outcome:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()
        self._pending.append((item, future))
        if len(self._pending) == 1:
            self._opened = loop.time()
        if len(self._pending) >= self.max_size:
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(self.wait_s, self._flush)
        return await future

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending = self._pending, []
        # A waiter whose request was cancelled (client gone) is not predicted for.
        batch = [(item, future) for item, future in batch if not future.done()]
        if not batch:
            return
        self.wait_s = self._wait.observe(len(batch))
        if self._on_batch is not None:
            self._on_batch(len(batch), asyncio.get_running_loop().time() - self._opened)
        try:
            outcomes = self._run([item for item, _ in batch])
        except Exception as error:  # noqa: BLE001  (every waiting request gets the error)
            for _, future in batch:
                future.set_exception(error)
            return
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            future.set_result(outcome)
