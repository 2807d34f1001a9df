"""The inference log: every prediction served (or a sampled fraction), with its input record,
output, model version, protocol and time, appended to S3 as Parquet by a background thread.

    s3://<data bucket>/inference/date=YYYY-MM-DD/<replica>-<unix ms>-<seq>.parquet

The request path only appends rows to an in-memory buffer (a list extend under a lock); a
thread writes the buffer every `flush_s` seconds or `flush_rows` rows. S3 being slow or down
never reaches a request: a failed write drops its rows (counted, with a warning at most every
30 s), and rows beyond `max_rows` waiting in the buffer are dropped as they arrive, so memory
stays bounded during an outage. Monitoring (ray_jobs.monitor) reads these files.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from features.schema import FEATURE_NAMES, NUMERIC_FEATURE_NAMES
from ray_jobs.core.s3 import INFERENCE_PREFIX

log = logging.getLogger(__name__)

COLUMNS = (
    *FEATURE_NAMES, "burn_rate", "risk_level", "model_name", "model_alias", "model_version",
    "protocol", "served_at",
)  # fmt: skip
WARN_EVERY_S = 30.0

# (key, Parquet bytes) -> None; raises on failure
Writer = Callable[[str, bytes], None]
# (rows written, rows dropped) since the last call; for the replica's metrics
Counts = Callable[[int, int], None]
# One answered request: (records or a columnar body's frame, predictions, protocol, served at)
Batch = tuple[Any, list[dict[str, Any]], str, dt.datetime]


def inference_key(served_at: dt.datetime, replica: str, sequence: int) -> str:
    """The object key of one flush (a Hive-style date partition)."""
    stamp = int(served_at.timestamp() * 1000)
    return f"{INFERENCE_PREFIX}/date={served_at:%Y-%m-%d}/{replica}-{stamp}-{sequence:06d}.parquet"


@dataclass
class InferenceLog:
    """Buffered, sampled, never-blocking log of served predictions."""

    writer: Writer
    replica: str
    fraction: float = 1.0
    flush_s: float = 5.0
    flush_rows: int = 5_000
    settle_s: float = 0.05  # after a full buffer wakes the thread, before it flushes
    max_rows: int = 200_000
    on_counts: Counts | None = None
    written: int = 0
    dropped: int = 0
    # Answered requests as they came (records, predictions, protocol, time): the request path
    # only appends; rows are built and sampled by the flushing thread.
    _batches: list[Batch] = field(default_factory=list)
    _pending: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _wake: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _sequence: int = 0
    _last_warning: float = 0.0
    _thread: threading.Thread | None = None

    def start(self) -> InferenceLog:
        self._thread = threading.Thread(target=self._run, name="inference-log", daemon=True)
        self._thread.start()
        return self

    def add(self, records: Any, predictions: list[dict[str, Any]], protocol: str) -> None:
        """Queue one answered request; never raises, never waits on S3, builds no rows."""
        if self.fraction <= 0 or len(records) == 0:
            return
        now = dt.datetime.now(dt.UTC)
        with self._lock:
            room = max(self.max_rows - self._pending, 0)
            kept = min(room, len(records))
            if kept:
                whole = kept == len(records)
                self._batches.append((
                    records if whole else records[:kept],
                    predictions if whole else predictions[:kept],
                    protocol, now,
                ))  # fmt: skip
                self._pending += kept
            full = self._pending >= self.flush_rows
        if kept < len(records):
            self._count(0, len(records) - kept)
        if full:
            self._wake.set()

    def flush(self) -> int:
        """Write what is queued now (the background thread calls this); rows written."""
        with self._lock:
            batches, self._batches, self._pending = self._batches, [], 0
        if self.fraction < 1:
            batches = [_sampled(batch, self.fraction) for batch in batches]
        rows = sum(len(batch[0]) for batch in batches)
        if not rows:
            return 0
        self._sequence += 1
        key = inference_key(batches[-1][3], self.replica, self._sequence)
        try:
            self.writer(key, _parquet(batches))
        except Exception as error:  # noqa: BLE001  (any S3 failure: drop, count, carry on)
            self._count(0, rows)
            if time.monotonic() - self._last_warning > WARN_EVERY_S:
                self._last_warning = time.monotonic()
                log.warning("inference log: dropped %d rows, S3 write failed: %s", rows, error)
            return 0
        self._count(rows, 0)
        return rows

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.flush()

    def _run(self) -> None:
        while not self._stop.is_set():
            woken = self._wake.wait(self.flush_s)
            self._wake.clear()
            if woken and not self._stop.is_set():
                # Woken by the request that filled the buffer, which is still encoding its
                # answer: a flush holds the GIL ~10-20 ms per 10,000 rows and, run at once,
                # doubled that request's encoding (Parquet answer: 7 -> 13-19 ms).
                self._stop.wait(self.settle_s)
            self.flush()

    def _count(self, written: int, dropped: int) -> None:
        self.written += written
        self.dropped += dropped
        if self.on_counts is not None:
            self.on_counts(written, dropped)


def _sampled(batch: Batch, fraction: float) -> Batch:
    records, predictions, protocol, served_at = batch
    keep = [i for i in range(len(records)) if random.random() < fraction]
    kept = [records[i] for i in keep] if isinstance(records, list) else records.iloc[keep]
    return kept, [predictions[i] for i in keep], protocol, served_at


def _cells(records: Any, name: str, kind: Any) -> Any:
    """One field of a batch's rows as an Arrow array of the log's type: records' values as
    sent; a frame's (a columnar body) converted column-wise, an id read as a number as text."""
    import pyarrow as pa

    if isinstance(records, list):
        return pa.array([r.get(name) for r in records], type=kind)
    if name not in records:
        return pa.nulls(len(records), type=kind)
    column = records[name]
    try:
        return pa.array(column.to_numpy(), type=kind, from_pandas=True)  # NaN and None: null
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # numbers in a text field, text in a number's
        import pandas as pd

        if pa.types.is_string(kind):
            column = column.astype(str).where(column.notna(), None)
        else:
            column = pd.to_numeric(column, errors="coerce")
        return pa.array(column.to_numpy(), type=kind, from_pandas=True)


def _runs(bodies: list[Any]) -> list[Any]:
    """Consecutive record lists joined into one (columnar frames stay apart), rows in order:
    one Arrow conversion per field for 5 s of one-record requests, not one per request (a
    flush of 4,500 such requests took ~200 ms of the replica's GIL, now ~20)."""
    runs: list[Any] = []
    for body in bodies:
        if isinstance(body, list) and runs and isinstance(runs[-1], list):
            runs[-1].extend(body)
        else:
            runs.append(list(body) if isinstance(body, list) else body)
    return runs


def _parquet(batches: list[Batch]) -> bytes:
    """One Parquet file of the batches, built column by column (no dict per row)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    fields = schema()
    predictions = [p for batch in batches for p in batch[1]]
    models = [p["model"] for p in predictions]
    runs = _runs([batch[0] for batch in batches])
    columns: dict[str, Any] = {
        n: pa.concat_arrays([_cells(run, n, fields.field(n).type) for run in runs])
        for n in FEATURE_NAMES
    }
    columns["burn_rate"] = [p["burn_rate"] for p in predictions]
    columns["risk_level"] = [p["risk_level"] for p in predictions]
    for part in ("name", "alias", "version"):
        columns[f"model_{part}"] = [m[part] for m in models]
    for name, at in (("protocol", 2), ("served_at", 3)):
        columns[name] = [value for b in batches for value in [b[at]] * len(b[0])]
    table = pa.Table.from_pydict(columns, schema=fields)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def schema() -> Any:
    """The log's Arrow schema (built on use: pyarrow is imported lazily)."""
    import pyarrow as pa

    fields = [
        pa.field(n, pa.float64() if n in NUMERIC_FEATURE_NAMES else pa.string())
        for n in FEATURE_NAMES
    ]
    fields += [
        pa.field("burn_rate", pa.float64()),
        pa.field("risk_level", pa.string()),
        pa.field("model_name", pa.string()),
        pa.field("model_alias", pa.string()),
        pa.field("model_version", pa.string()),
        pa.field("protocol", pa.string()),
        pa.field("served_at", pa.timestamp("ms", tz="UTC")),
    ]
    return pa.schema(fields)


def s3_writer(settings: Any) -> Writer:
    """Puts each flush to the data bucket, failing fast (one attempt, short timeouts)."""
    from ray_jobs.core import s3

    client = s3.client(settings, attempts=1, read_timeout=10)

    def write(key: str, body: bytes) -> None:
        client.put_object(Bucket=settings.bucket_data, Key=key, Body=body)

    return write


def from_options(options: dict[str, Any], on_counts: Counts) -> InferenceLog | None:
    """The replica's inference log (None when the fraction is 0). S3 settings come from the
    replica's environment (BURNOUT_*), not from the deployment's options: the options are
    visible in Serve's config, the keys must not be."""
    from ray import serve

    from ray_jobs.core.settings import get_settings

    fraction = float(options.get("inference_fraction", 1.0))
    if fraction <= 0:
        return None
    return InferenceLog(
        s3_writer(get_settings()),
        serve.get_replica_context().replica_id.unique_id,
        fraction=fraction,
        flush_s=float(options.get("inference_flush_s", 5.0)),
        on_counts=on_counts,
    ).start()
