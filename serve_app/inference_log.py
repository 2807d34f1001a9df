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

from features.schema import FEATURE_NAMES
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
    max_rows: int = 200_000
    on_counts: Counts | None = None
    written: int = 0
    dropped: int = 0
    _rows: list[dict[str, Any]] = field(default_factory=list)
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

    def add(
        self, records: list[dict[str, Any]], predictions: list[dict[str, Any]], protocol: str
    ) -> None:
        """Queue the (sampled) rows of one answered request; never raises, never waits on S3."""
        if self.fraction <= 0:
            return
        now = dt.datetime.now(dt.UTC)
        rows = [
            _row(record, prediction, protocol, now)
            for record, prediction in zip(records, predictions, strict=True)
            if self.fraction >= 1 or random.random() < self.fraction
        ]
        if not rows:
            return
        with self._lock:
            room = self.max_rows - len(self._rows)
            kept = rows[: max(room, 0)]
            self._rows.extend(kept)
            overflow = len(rows) - len(kept)
            full = len(self._rows) >= self.flush_rows
        if overflow:
            self._count(0, overflow)
        if full:
            self._wake.set()

    def flush(self) -> int:
        """Write what is buffered now (the background thread calls this); rows written."""
        with self._lock:
            rows, self._rows = self._rows, []
        if not rows:
            return 0
        self._sequence += 1
        key = inference_key(rows[-1]["served_at"], self.replica, self._sequence)
        try:
            self.writer(key, _parquet(rows))
        except Exception as error:  # noqa: BLE001  (any S3 failure: drop, count, carry on)
            self._count(0, len(rows))
            if time.monotonic() - self._last_warning > WARN_EVERY_S:
                self._last_warning = time.monotonic()
                log.warning("inference log: dropped %d rows, S3 write failed: %s", len(rows), error)
            return 0
        self._count(len(rows), 0)
        return len(rows)

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.flush()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_s)
            self._wake.clear()
            self.flush()

    def _count(self, written: int, dropped: int) -> None:
        self.written += written
        self.dropped += dropped
        if self.on_counts is not None:
            self.on_counts(written, dropped)


def _row(
    record: dict[str, Any], prediction: dict[str, Any], protocol: str, now: dt.datetime
) -> dict[str, Any]:
    model = prediction["model"]
    row = {name: record.get(name) for name in FEATURE_NAMES}
    row.update(
        burn_rate=prediction["burn_rate"],
        risk_level=prediction["risk_level"],
        model_name=model["name"],
        model_alias=model["alias"],
        model_version=model["version"],
        protocol=protocol,
        served_at=now,
    )
    return row


def _parquet(rows: list[dict[str, Any]]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(rows, schema=schema())
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def schema() -> Any:
    """The log's Arrow schema (built on use: pyarrow is imported lazily)."""
    import pyarrow as pa

    text = {"employee_id", "date_of_joining", "gender", "company_type", "wfh_setup_available"}
    fields = [pa.field(n, pa.string() if n in text else pa.float64()) for n in FEATURE_NAMES]
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
