"""The inference log's buffer, sampling and failure handling (the S3 round trip is in
tests/integration/test_monitoring.py)."""

from __future__ import annotations

import io
import time
from typing import Any

import pyarrow.parquet as pq
import pytest

from serve_app.inference_log import InferenceLog
from serve_app.inference_rows import COLUMNS

RECORD = {
    "employee_id": "e1", "date_of_joining": "2008-09-30", "gender": "Female",
    "company_type": "Service", "wfh_setup_available": "No", "designation": 3,
    "resource_allocation": None, "mental_fatigue_score": 8.1,
}  # fmt: skip
PREDICTION = {
    "employee_id": "e1", "burn_rate": 0.7, "risk_level": "High",
    "model": {"name": "burnout-rate", "alias": "champion", "version": "4"},
}  # fmt: skip


class Store:
    """Keeps what the log writes; fails on demand (fault injection: S3 down)."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.down = False

    def __call__(self, key: str, body: bytes) -> None:
        if self.down:
            raise ConnectionError("S3 is down")
        self.objects[key] = body


def test_rows_are_written_as_parquet_under_a_date_partition() -> None:
    store = Store()
    counts: list[tuple[int, int]] = []
    log = InferenceLog(store, "replica-a", on_counts=lambda w, d: counts.append((w, d)))
    log.add([RECORD] * 3, [PREDICTION] * 3, "grpc")
    assert log.flush() == 3
    ((key, body),) = store.objects.items()
    assert key.startswith("inference/date=") and key.endswith(".parquet") and "replica-a" in key
    table = pq.read_table(io.BytesIO(body))
    assert table.column_names == list(COLUMNS)
    row = table.to_pylist()[0]
    assert row["protocol"] == "grpc" and row["model_version"] == "4"
    assert row["resource_allocation"] is None and row["designation"] == 3.0
    assert counts == [(3, 0)]


def test_a_failed_write_drops_and_counts_its_rows_and_the_next_one_works() -> None:
    store = Store()
    log = InferenceLog(store, "r")
    store.down = True
    log.add([RECORD] * 5, [PREDICTION] * 5, "rest")
    assert log.flush() == 0  # no exception reaches the caller
    assert (log.written, log.dropped) == (0, 5)
    store.down = False
    log.add([RECORD] * 2, [PREDICTION] * 2, "rest")
    assert log.flush() == 2 and log.written == 2


def test_a_full_buffer_drops_new_rows_instead_of_growing() -> None:
    log = InferenceLog(Store(), "r", max_rows=4, flush_rows=100)
    log.add([RECORD] * 3, [PREDICTION] * 3, "rest")
    log.add([RECORD] * 3, [PREDICTION] * 3, "rest")
    assert log.dropped == 2 and log.flush() == 4


@pytest.mark.parametrize(
    ("fraction", "low", "high"), [(0.0, 0, 0), (0.25, 150, 350), (1.0, 1000, 1000)]
)
def test_the_sampled_fraction_is_kept(fraction: float, low: int, high: int) -> None:
    store: Any = Store()
    log = InferenceLog(store, "r", fraction=fraction)
    log.add([RECORD] * 1000, [PREDICTION] * 1000, "rest")
    assert low <= log.flush() <= high


def test_the_background_thread_flushes_on_its_own() -> None:
    store = Store()
    log = InferenceLog(store, "r", flush_s=0.05).start()
    log.add([RECORD], [PREDICTION], "stream")
    try:
        deadline = time.monotonic() + 5
        while not store.objects and time.monotonic() < deadline:
            time.sleep(0.02)
        assert store.objects
    finally:
        log.close()


def test_a_full_buffer_is_flushed_soon_but_not_while_its_request_answers() -> None:
    written: list[float] = []

    def store(key: str, body: bytes) -> None:
        written.append(time.monotonic())

    log = InferenceLog(store, "r", flush_s=60, flush_rows=3, settle_s=0.2).start()
    try:
        filled = time.monotonic()
        log.add([RECORD] * 3, [PREDICTION] * 3, "rest")  # fills the buffer: wakes the thread
        deadline = filled + 10
        while not written and time.monotonic() < deadline:
            time.sleep(0.01)
        assert written, "a full buffer was not flushed before the periodic flush"
        assert written[0] - filled >= 0.2  # the request that filled it had time to answer
    finally:
        log.close()
    assert log.written == 3


def test_a_columnar_body_is_logged_like_records_in_the_same_file() -> None:
    import numpy as np
    import pandas as pd

    store = Store()
    log = InferenceLog(store, "r", fraction=1.0, max_rows=6)
    # A CSV body's columns: ids read as numbers, a missing number as NaN, no date column.
    frame = pd.DataFrame(
        {"employee_id": [7, 8, 9], "gender": ["Male", None, "Female"], "designation": [2, 3, 4],
         "mental_fatigue_score": [np.nan, 5.0, 6.5]}
    )  # fmt: skip
    log.add([RECORD], [PREDICTION], "grpc")
    log.add(frame, [PREDICTION] * 3, "rest")
    log.add(frame, [PREDICTION] * 3, "rest")  # over max_rows: its first 2 rows are kept
    assert log.dropped == 1
    assert log.flush() == 6
    (body,) = store.objects.values()
    rows = pq.read_table(io.BytesIO(body)).to_pylist()
    assert rows[0]["employee_id"] == "e1" and rows[0]["protocol"] == "grpc"
    logged = rows[1:4]
    assert [r["employee_id"] for r in logged] == ["7", "8", "9"]
    assert [r["gender"] for r in logged] == ["Male", None, "Female"]
    assert [r["mental_fatigue_score"] for r in logged] == [None, 5.0, 6.5]
    assert [r["date_of_joining"] for r in logged] == [None] * 3
    assert [r["employee_id"] for r in rows[4:]] == ["7", "8"]


def test_a_sampled_columnar_body_keeps_its_rows_whole() -> None:
    import pandas as pd

    store = Store()
    log = InferenceLog(store, "r", fraction=0.5)
    frame = pd.DataFrame({"employee_id": [str(i) for i in range(400)], "designation": range(400)})
    predictions = [{**PREDICTION, "employee_id": str(i)} for i in range(400)]
    log.add(frame, predictions, "rest")
    assert 120 <= log.flush() <= 280
    (body,) = store.objects.values()
    rows = pq.read_table(io.BytesIO(body)).to_pylist()
    assert all(float(r["employee_id"]) == r["designation"] for r in rows)


def test_many_one_record_requests_and_frames_between_them_keep_their_order() -> None:
    import pandas as pd

    store = Store()
    log = InferenceLog(store, "r")
    sent: list[list[dict[str, Any]]] = []
    expected: list[str] = []
    for i in range(30):
        if i % 10 == 5:  # a columnar body between one-record requests
            frame = pd.DataFrame({"employee_id": [f"f{i}a", f"f{i}b"], "designation": [1, 2]})
            log.add(frame, [PREDICTION] * 2, "rest")
            expected += [f"f{i}a", f"f{i}b"]
        else:
            records = [{**RECORD, "employee_id": f"r{i}", "designation": i % 6}]
            sent.append(records)
            log.add(records, [{**PREDICTION, "burn_rate": i / 100}], "grpc" if i % 2 else "rest")
            expected.append(f"r{i}")
    assert log.flush() == len(expected)
    (body,) = store.objects.values()
    rows = pq.read_table(io.BytesIO(body)).to_pylist()
    assert [r["employee_id"] for r in rows] == expected
    by_id = {r["employee_id"]: r for r in rows}
    assert by_id["r7"]["protocol"] == "grpc" and by_id["r7"]["burn_rate"] == 0.07
    assert by_id["r8"]["protocol"] == "rest" and by_id["r8"]["designation"] == 2.0
    assert all(len(records) == 1 for records in sent)  # the callers' lists are left as they were
