"""Watching the served model: the inference log on S3 and the replica's own metrics (issue 18).
Real sockets, a real S3 (stopped on purpose in one test), Ray's real metrics export."""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from local_stack.stack import Stack
from ray_jobs.core import s3
from ray_jobs.core.settings import Settings
from serve_app.client import camel
from serve_app.protos import burnout_pb2 as pb
from tests.integration.conftest import (
    GQL_PREDICT,
    RECORDS,
    graphql,
    log_under,
    metadata,
    read_parquet,
    served_batch,
    to_proto,
)

pytestmark = pytest.mark.integration

LOG_WAIT_S = 60  # the log flushes every BURNOUT_SERVE_INFERENCE_LOG_FLUSH_S (5 s)
PROM_SD_FILE = "prom_metrics_service_discovery.json"  # written by the Ray head in its temp dir


def records(tag: str, count: int) -> list[dict[str, Any]]:
    return [{**RECORDS[i % 2], "employee_id": f"{tag}-{i}"} for i in range(count)]


def logged_rows(settings: Settings, tag: str) -> list[dict[str, Any]]:
    """Rows of the inference log on S3 whose employee id carries `tag`, read directly."""
    client = s3.client(settings)
    root = s3.S3Uri(settings.bucket_data, f"{s3.INFERENCE_PREFIX}/")
    if not any(True for _ in s3.iter_objects(client, root)):
        return []
    frame = read_parquet(settings, str(root))
    return frame[frame["employee_id"].fillna("").str.startswith(tag)].to_dict("records")


def wait_for_rows(settings: Settings, tag: str, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + LOG_WAIT_S
    while len(rows := logged_rows(settings, tag)) < count:
        assert time.monotonic() < deadline, (len(rows), count)
        time.sleep(1)
    return rows


def metric(settings: Settings, name: str, pattern: str = "") -> float:
    """The summed value of a metric's samples (matching `pattern` in the labels) in Ray's
    Prometheus export."""
    text = httpx.get(f"http://127.0.0.1:{settings.ray_internal_base_port + 5}/metrics").text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and pattern in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def wait_for_metric(settings: Settings, name: str, pattern: str, at_least: float) -> float:
    deadline = time.monotonic() + 90
    while (value := metric(settings, name, pattern)) < at_least:
        assert time.monotonic() < deadline, (name, pattern, value, at_least)
        time.sleep(2)
    return value


def test_every_protocol_logs_exactly_the_predictions_it_served(
    rest: httpx.Client, stub: Any, settings: Settings
) -> None:
    tag = f"log-{uuid.uuid4().hex[:8]}"
    assert rest.post("/predict", json={"records": records(f"{tag}-rest", 3)}).status_code == 200
    body = "\n".join(json.dumps(r) for r in records(f"{tag}-stream", 2)).encode()
    assert rest.post("/predict/stream", content=body).status_code == 200
    answer = graphql(rest, GQL_PREDICT, {"records": [camel(r) for r in records(f"{tag}-gql", 2)]})
    assert "errors" not in answer
    stub.Predict(
        pb.PredictRequest(records=[to_proto(r) for r in records(f"{tag}-grpc", 4)]),
        metadata=metadata(settings),
    )
    bad = rest.post("/predict", json={"records": [{**RECORDS[0], "designation": 9}]})
    assert bad.status_code == 422  # refused: not a prediction, not logged

    rows = wait_for_rows(settings, tag, 11)
    time.sleep(6)  # one more flush: nothing beyond the 11 predictions may show up
    rows = logged_rows(settings, tag)
    by_protocol: dict[str, int] = {}
    for row in rows:
        by_protocol[row["protocol"]] = by_protocol.get(row["protocol"], 0) + 1
    assert by_protocol == {"rest": 3, "stream": 2, "graphql": 2, "grpc": 4}, by_protocol
    assert len({r["employee_id"] for r in rows}) == 11  # each once
    sample = next(r for r in rows if r["employee_id"] == f"{tag}-rest-0")
    assert sample["gender"] == RECORDS[0]["gender"] and 0 <= sample["burn_rate"] <= 1
    assert sample["model_version"] and sample["risk_level"] in {"Low", "Medium", "High"}


def test_the_replicas_export_their_own_metrics(rest: httpx.Client, settings: Settings) -> None:
    from serve_app.replica_metrics import METRIC_NAMES

    before = metric(settings, "ray_burnout_predictions_total", 'protocol="rest"')
    assert rest.post("/predict", json={"records": records("metrics", 5)}).status_code == 200
    rest.post("/predict?explain=true", json={"records": records("metrics-x", 1)})
    rest.post("/predict", json={"records": [{**RECORDS[0], "gender": "Robot"}]})
    wait_for_metric(settings, "ray_burnout_predictions_total", 'protocol="rest"', before + 5)
    wait_for_metric(settings, "ray_burnout_validation_failures_total", 'field="gender"', 1)
    wait_for_metric(settings, "ray_burnout_explanations_total", "", 1)
    wait_for_metric(settings, "ray_burnout_inference_log_rows_written_total", "", 1)
    text = httpx.get(f"http://127.0.0.1:{settings.ray_internal_base_port + 5}/metrics").text
    missing = [n for n in METRIC_NAMES if not re.search(rf"^{n}\{{", text, re.M)]
    # The dropped-rows counter appears once something was dropped (next test).
    assert missing in ([], ["ray_burnout_inference_log_rows_dropped_total"]), missing


def test_serving_keeps_answering_with_s3_down_and_counts_what_it_dropped(
    rest: httpx.Client, settings: Settings, stack: Stack
) -> None:
    dropped = metric(settings, "ray_burnout_inference_log_rows_dropped_total")
    stack.down(("s3",))
    try:
        for i in range(20):
            answer = rest.post("/predict", json={"records": records(f"s3-down-{i}", 2)})
            assert answer.status_code == 200, answer.text
        wait_for_metric(settings, "ray_burnout_inference_log_rows_dropped_total", "", dropped + 40)
        assert rest.post("/predict", json={"records": RECORDS}).status_code == 200
    finally:
        stack.up(("s3",))
    tag = f"after-{uuid.uuid4().hex[:6]}"
    assert rest.post("/predict", json={"records": records(tag, 2)}).status_code == 200
    assert len(wait_for_rows(settings, tag, 2)) == 2  # the log resumes with S3


def test_the_drift_job_flags_a_shifted_batch_and_not_a_clean_one(
    rest: httpx.Client, settings: Settings, served: dict[str, Any]
) -> None:
    import mlflow

    from features.schema import RAW_TO_NAME
    from features.synthetic import generate, shifted
    from ray_jobs.core.jobs_client import JobsClient
    from ray_jobs.submit import run_job, summary_line

    base = generate(1_500, 99).rename(columns=RAW_TO_NAME)
    summaries = {}
    for name, frame in (("clean", base), ("shifted", shifted(base))):
        prefix = f"drift-test-{uuid.uuid4().hex[:6]}-{name}"
        log_under(settings, prefix, served_batch(rest, frame))
        info = run_job(
            settings, f"python -m ray_jobs.monitor --log-prefix {prefix}", echo=False,
            timeout_s=600,
        )  # fmt: skip
        logs = JobsClient.from_settings(settings).logs(info["submission_id"])
        assert info["status"] == "SUCCEEDED", logs[-3000:]
        summaries[name] = summary_line(logs)

    clean, moved = summaries["clean"], summaries["shifted"]
    assert not clean["dataset_drift"], clean["drifted_features"]
    assert moved["dataset_drift"] and moved["share_drifted"] > clean["share_drifted"]
    assert {"mental_fatigue_score", "resource_allocation"} <= set(moved["drifted_features"])
    assert moved["prediction"]["drifted"]  # more tired and loaded: higher predicted burn rates
    assert moved["prediction"]["mean_current"] > clean["prediction"]["mean_current"]
    assert moved["model"]["alias"] == "champion" and moved["model"]["version"]

    client = mlflow.MlflowClient(settings.mlflow_tracking_uri)
    run = client.get_run(moved["mlflow_run_id"])
    assert run.data.tags["model_version"] == moved["model"]["version"]
    assert run.data.tags["dataset_drift"] == "true" and run.data.tags["window_to"]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"drift_report.html", "drift_summary.json"} <= artifacts
    published = s3.read_json(s3.client(settings), s3.S3Uri.parse(moved["summary_uri"]))
    assert published is not None and published["share_drifted"] == moved["share_drifted"]


def exported(settings: Settings) -> dict[str, list[float]]:
    """Every sample value by metric name, scraped as Prometheus would: from each target of the
    service-discovery file the Ray head writes (docker-compose's Prometheus reads the same)."""
    from local_stack.run_paths import ray_temp_dir

    (group,) = json.loads((ray_temp_dir(settings) / PROM_SD_FILE).read_text())
    samples: dict[str, list[float]] = {}
    for target in group["targets"]:
        try:
            text = httpx.get(f"http://{target}/metrics", timeout=10).text
        except httpx.HTTPError:
            continue  # an exporter of a process that has just exited
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name = re.split(r"[{ ]", line, maxsplit=1)[0]
                samples.setdefault(name, []).append(float(line.rsplit(" ", 1)[1]))
    return samples


def test_the_replicas_export_the_last_drift_report(settings: Settings) -> None:
    """After the drift job above (a shifted batch last), every replica's drift gauges say what
    the published latest summary says, within a poll."""
    latest = s3.read_json(
        s3.client(settings), s3.S3Uri(settings.bucket_processed, s3.LATEST_DRIFT_SUMMARY)
    )
    assert latest is not None and latest["dataset_drift"], latest
    deadline = time.monotonic() + 90
    while exported(settings).get("ray_burnout_drift_detected") != [1.0]:
        assert time.monotonic() < deadline, exported(settings).get("ray_burnout_drift_detected")
        time.sleep(2)
    samples = exported(settings)
    assert samples["ray_burnout_drift_share"] == [latest["share_drifted"]]
    drifted = sum(info["drifted"] for info in latest["features"].values())
    assert sum(samples["ray_burnout_feature_drift_detected"]) == drifted
    stamp = samples["ray_burnout_drift_report_timestamp_seconds"]
    assert stamp == [pytest.approx(latest["created_at_unix"])]


def test_every_dashboard_and_alert_query_names_a_metric_really_exported(
    settings: Settings,
) -> None:
    """docker-compose's Grafana dashboard and Prometheus rules, against this stack's scrape
    (every protocol, an explanation, a refused record, an S3 outage and a drift report have
    been served above)."""
    from local_stack.run_paths import ray_temp_dir
    from tests.unit.test_dashboards import MONITORING, dashboard_metrics

    names = set(exported(settings))
    missing = sorted(dashboard_metrics() - names)
    assert not missing, missing
    # Ray's own dashboards are where compose's Grafana provisioning looks for them.
    providers = yaml.safe_load(
        (MONITORING / "grafana" / "provisioning" / "dashboards" / "dashboards.yaml").read_text()
    )["providers"]
    (ray,) = [p for p in providers if p["name"] == "ray"]
    folder = ray_temp_dir(settings) / Path(ray["options"]["path"]).relative_to("/tmp/ray")
    generated = {p.name for p in folder.glob("*.json")}
    assert {"default_grafana_dashboard.json", "serve_grafana_dashboard.json"} <= generated
