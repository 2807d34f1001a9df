"""The Serve application over real sockets: REST, GraphQL and gRPC against a trained model."""

from __future__ import annotations

import concurrent.futures
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import mlflow
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from features.risk import risk_level
from ray_jobs.core.settings import Settings
from serve_app.client import camel
from serve_app.protos import burnout_pb2 as pb
from serve_app.server_timing import parse as parse_timing
from tests.conftest import run_module
from tests.integration.conftest import GQL_PREDICT, RECORDS, graphql, metadata, to_proto

pytestmark = pytest.mark.integration

# -- REST ---------------------------------------------------------------------------------------


def test_health_names_the_loaded_champion(rest: httpx.Client, settings: Settings) -> None:
    body = rest.get("/health").json()
    assert body["ready"] is True and body["status"] == "ok"
    client = mlflow.MlflowClient(settings.mlflow_tracking_uri)
    champion = client.get_model_version_by_alias(settings.model_name, settings.champion_alias)
    assert body["model"]["version"] == str(champion.version)


def test_models_come_from_the_registry(rest: httpx.Client, served: dict[str, Any]) -> None:
    models = rest.get("/models").json()["models"]
    by_version = {m["version"]: m for m in models}
    for family, info in served["families"].items():
        entry = by_version[info["version"]]
        assert family in entry["aliases"]
        assert entry["metrics"]["test_rmse"] == pytest.approx(info["test"]["rmse"], abs=1e-5)
    detail = rest.get("/models/lightgbm").json()
    assert detail["version"] == served["families"]["lightgbm"]["version"]
    assert detail["dataset_version"] == served["dataset_version"]
    assert "num_leaves" in detail["params"] and "test_r2" in detail["metrics"]
    assert rest.get("/models/nope").status_code == 404


def test_predict_raw_records_with_missing_values(rest: httpx.Client) -> None:
    response = rest.post("/predict", json={"records": RECORDS})
    assert response.status_code == 200, response.text
    body = response.json()
    rates = [p["burn_rate"] for p in body["predictions"]]
    assert [p["employee_id"] for p in body["predictions"]] == ["e1", "e2"]
    assert all(0 <= r <= 1 for r in rates) and rates[0] > rates[1]
    assert [p["risk_level"] for p in body["predictions"]] == list(risk_level(rates))
    assert body["model"]["alias"] == "champion"
    # Two records go through the micro-batch: its wait, validation and model are one stage.
    timing = parse_timing(response.headers["server-timing"])
    assert {"read", "parse", "batch", "log", "encode", "app"} <= timing.keys(), timing
    assert timing["app"] >= timing["batch"] > 0


def test_predict_accepts_raw_csv_names(rest: httpx.Client) -> None:
    raw = {
        "Employee ID": "x",
        "Gender": "Male",
        "Company Type": "Service",
        "WFH Setup Available": "No",
        "Designation": 2,
        "Resource Allocation": 5,
        "Mental Fatigue Score": 6.0,
    }
    response = rest.post("/predict", json={"records": [raw]})
    assert response.status_code == 200, response.text
    assert response.json()["predictions"][0]["employee_id"] == "x"


def test_other_aliases_are_served(rest: httpx.Client, served: dict[str, Any]) -> None:
    for family in ("lightgbm", "knn", "svm"):
        body = rest.post(f"/predict?model={family}", json={"records": RECORDS}).json()
        assert body["model"] == {
            "name": body["model"]["name"],
            "alias": family,
            "version": served["families"][family]["version"],
        }


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"designation": 9}, "designation"),
        ({"gender": "Other"}, "gender"),
        ({"mental_fatigue_score": -1}, "mental_fatigue_score"),
        ({"date_of_joining": "31/12/2008"}, "date_of_joining"),
        ({"designation": "abc"}, "designation"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
def test_bad_records_get_422_naming_the_field(
    rest: httpx.Client, change: dict[str, Any], field: str
) -> None:
    record = {**RECORDS[0], **change}
    response = rest.post("/predict", json={"records": [RECORDS[1], record]})
    assert response.status_code == 422
    locations = [d["loc"] for d in response.json()["detail"]]
    assert ["body", "records", 1, field] in locations, locations


def test_unknown_alias_is_404_and_limits_are_413(rest: httpx.Client, settings: Settings) -> None:
    assert rest.post("/predict?model=nope", json={"records": RECORDS}).status_code == 404
    many = {"records": [RECORDS[0]] * (settings.serve_max_records + 1)}
    response = rest.post("/predict", json=many)
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]
    assert rest.post("/predict", json={"records": []}).status_code == 422


def test_stream_ndjson(rest: httpx.Client) -> None:
    lines = [json.dumps(RECORDS[i % 2]) for i in range(300)]
    lines[10] = json.dumps({**RECORDS[0], "designation": 42})
    lines[20] = "{not json"
    response = rest.post(
        "/predict/stream", content="\n".join(lines).encode(),
        headers={"content-type": "application/x-ndjson"},
    )  # fmt: skip
    assert response.status_code == 200
    out = [json.loads(x) for x in response.text.splitlines()]
    assert len(out) == 300
    by_line = {o["line"]: o for o in out}
    assert "designation" in by_line[11]["error"]
    assert "error" in by_line[21]
    assert sum("burn_rate" in o for o in out) == 298


@pytest.mark.parametrize("kind", ["text/csv", "application/vnd.apache.arrow.stream",
                                  "application/vnd.apache.parquet"])  # fmt: skip
def test_columnar_bodies_score_like_json_and_answer_in_their_format(
    rest: httpx.Client, kind: str
) -> None:
    """A file's rows as CSV / Arrow / Parquet (raw header names, numbers as numbers or as text):
    the same predictions as the same records in JSON, in the same format back."""
    import pandas as pd
    import pyarrow as pa

    from features.schema import BY_NAME
    from serve_app.columnar import decode

    records = [RECORDS[i % 2] | {"employee_id": f"c{i}"} for i in range(500)]
    frame = pd.DataFrame(records).rename(columns={n: BY_NAME[n].raw for n in RECORDS[0]})
    frame["Designation"] = frame["Designation"].astype(str)  # a number as text: parsed by the rules
    table = pa.Table.from_pandas(frame, preserve_index=False)
    body = encode_table(table, kind)
    response = rest.post("/predict", content=body, headers={"content-type": kind})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(kind)
    answer = read_table(response.content, kind).to_pylist()
    expected = rest.post("/predict", json={"records": records}).json()["predictions"]
    assert [a["employee_id"] for a in answer] == [e["employee_id"] for e in expected]
    assert [a["burn_rate"] for a in answer] == pytest.approx([e["burn_rate"] for e in expected])
    assert [a["risk_level"] for a in answer] == [e["risk_level"] for e in expected]
    assert {a["model_alias"] for a in answer} == {"champion"}
    timing = parse_timing(response.headers["server-timing"])  # a file's rows: no micro-batch
    assert {"read", "parse", "validate", "model", "log", "encode", "app"} <= timing.keys()
    assert timing["app"] >= timing["validate"] + timing["model"] > 0, timing
    if kind != "text/csv":  # a CSV cell has no type: Arrow reads "3" as a number
        assert decode(body, kind)["designation"][0] == str(records[0]["designation"])


def encode_table(table: Any, kind: str) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyarrow import csv

    sink = pa.BufferOutputStream()
    if kind == "text/csv":
        csv.write_csv(table, sink)
    elif kind.endswith("arrow.stream"):
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
    else:
        pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def read_table(data: bytes, kind: str) -> Any:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyarrow import csv

    if kind == "text/csv":
        return csv.read_csv(io.BytesIO(data))
    if kind.endswith("arrow.stream"):
        return pa.ipc.open_stream(data).read_all()
    return pq.read_table(io.BytesIO(data))


def test_bad_columnar_bodies_get_422_naming_the_row_or_column(rest: httpx.Client) -> None:
    good = "Gender,Company Type,WFH Setup Available,Designation\nMale,Service,No,2\n"
    bad_row = good + "Male,Service,No,9\n"
    cases = {
        bad_row: ["body", "records", 1, "designation"],
        good.replace("Gender", "Team"): ["body", "Team"],
        "Gender\n": ["body", "body"],
    }
    for body, location in cases.items():
        response = rest.post("/predict", content=body, headers={"content-type": "text/csv"})
        assert response.status_code == 422, (body, response.text)
        assert location in [d["loc"] for d in response.json()["detail"]], response.json()
    response = rest.post(
        "/predict?explain=true", content=good, headers={"content-type": "text/csv"}
    )
    assert response.status_code == 422 and "JSON" in response.text
    response = rest.post(
        "/predict", content=b"garbage", headers={"content-type": "application/vnd.apache.parquet"}
    )
    assert response.status_code == 422, response.text


def test_openapi_docs(rest: httpx.Client) -> None:
    assert rest.get("/docs").status_code == 200
    paths = rest.get("/openapi.json").json()["paths"]
    assert {"/predict", "/predict/stream", "/models", "/models/{alias}", "/health"} <= set(paths)


# -- GraphQL ------------------------------------------------------------------------------------


def test_graphql_queries(rest: httpx.Client, served: dict[str, Any]) -> None:
    body = graphql(rest, "{ health { status ready } models { version aliases family metrics } }")
    assert body["data"]["health"]["ready"] is True
    assert {m["family"] for m in body["data"]["models"]} >= {"lightgbm", "knn", "svm"}
    one = graphql(rest, '{ model(alias: "knn") { version params datasetVersion } }')
    assert one["data"]["model"]["version"] == served["families"]["knn"]["version"]
    missing = graphql(rest, '{ model(alias: "nope") { version } }')
    assert missing["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert rest.get("/graphql", headers={"accept": "text/html"}).status_code == 200


def test_graphql_predict_and_errors(rest: httpx.Client) -> None:
    body = graphql(rest, GQL_PREDICT, {"records": [camel(r) for r in RECORDS]})
    assert [p["employeeId"] for p in body["data"]["predict"]] == ["e1", "e2"]
    bad = camel({**RECORDS[0], "designation": 7})
    error = graphql(rest, GQL_PREDICT, {"records": [bad]})["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["fields"] == ["records[0].designation"]
    unknown = graphql(rest, GQL_PREDICT, {"records": [camel(RECORDS[0])], "model": "nope"})
    assert unknown["errors"][0]["extensions"]["code"] == "NOT_FOUND"


# -- gRPC ---------------------------------------------------------------------------------------


def test_grpc_predict_list_get(stub: Any, settings: Settings, served: dict[str, Any]) -> None:
    md = metadata(settings)
    reply = stub.Predict(pb.PredictRequest(records=[to_proto(r) for r in RECORDS]), metadata=md)
    assert [p.employee_id for p in reply.predictions] == ["e1", "e2"]
    assert reply.model.alias == "champion"
    listed = stub.ListModels(pb.ListModelsRequest(), metadata=md)
    assert {m.family for m in listed.models} >= {"lightgbm", "knn", "svm"}
    one = stub.GetModel(pb.GetModelRequest(alias="svm"), metadata=md)
    assert one.model.version == served["families"]["svm"]["version"] and "C" in one.params


def test_grpc_stream(stub: Any, settings: Settings) -> None:
    request = pb.PredictRequest(records=[to_proto(RECORDS[i % 2]) for i in range(150)])
    replies = list(stub.PredictStream(request, metadata=metadata(settings)))
    assert len(replies) == 150 and all(0 <= r.burn_rate <= 1 for r in replies)


def test_grpc_errors(stub: Any, settings: Settings) -> None:
    md = metadata(settings)
    bad = to_proto({**RECORDS[0], "gender": "Robot"})
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(pb.PredictRequest(records=[to_proto(RECORDS[0]), bad]), metadata=md)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "records[1].gender" in info.value.details()
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(pb.PredictRequest(records=[to_proto(RECORDS[0])], model="nope"), metadata=md)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as info:
        stub.GetModel(pb.GetModelRequest(alias="nope"), metadata=md)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_grpc_health_and_reflection(channel: grpc.Channel, settings: Settings) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    reply = health.Check(health_pb2.HealthCheckRequest(service=""), metadata=metadata(settings))
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    names = {
        s.name
        for response in reflection.ServerReflectionInfo(iter([request]))
        for s in response.list_services_response.service
    }
    assert "burnout.v1.BurnoutService" in names


def test_three_protocols_agree(rest: httpx.Client, stub: Any, settings: Settings) -> None:
    via_rest = [
        p["burn_rate"]
        for p in rest.post("/predict", json={"records": RECORDS}).json()["predictions"]
    ]
    via_graphql = [
        p["burnRate"]
        for p in graphql(rest, GQL_PREDICT, {"records": [camel(r) for r in RECORDS]})["data"][
            "predict"
        ]
    ]
    reply = stub.Predict(
        pb.PredictRequest(records=[to_proto(r) for r in RECORDS]), metadata=metadata(settings)
    )
    via_grpc = [p.burn_rate for p in reply.predictions]
    assert via_rest == pytest.approx(via_graphql, abs=1e-12)
    assert via_rest == pytest.approx(via_grpc, abs=1e-12)


# -- operations ---------------------------------------------------------------------------------


def test_prometheus_metrics_are_exported(rest: httpx.Client, settings: Settings) -> None:
    for _ in range(10):
        assert rest.post("/predict", json={"records": RECORDS}).status_code == 200
    front = httpx.get(f"http://127.0.0.1:{settings.serve_haproxy_metrics_port}/metrics").text
    count = re.search(r'_http_requests_total\{proxy="http_frontend"\} (\d+)', front)
    assert count and int(count.group(1)) >= 10
    # Serve's own metrics (processing latency, replicas, autoscaling) and the replica's
    # micro-batches through Ray's metrics agent, which exports every few seconds.
    url = f"http://127.0.0.1:{settings.ray_internal_base_port + 5}/metrics"
    wanted = ("ray_serve_deployment_processing_latency_ms_bucket", "ray_burnout_batch_size_bucket")
    deadline = time.monotonic() + 60
    while not all(name in (text := httpx.get(url, timeout=10).text) for name in wanted):
        assert time.monotonic() < deadline, "no Serve metrics in Ray's Prometheus export"
        time.sleep(2)
    assert 'deployment="BurnoutService"' in text


def test_a_replica_runs_with_the_configured_model_threads(
    settings: Settings, served: dict[str, Any]
) -> None:
    from pathlib import Path

    from serve_app.deploy import replicas

    pids = [r["pid"] for r in replicas(settings) if r["state"] == "RUNNING"]
    assert pids
    for pid in pids:
        # Ray would set 1 for a 0.5-CPU actor; a bulk request's trees use this many threads.
        environment = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        assert f"OMP_NUM_THREADS={settings.serve_model_threads}".encode() in environment


def test_autoscaling_config_is_visible_in_serve_status(
    settings: Settings, served: dict[str, Any]
) -> None:
    result = run_module(settings, "serve_app.deploy", "status", timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    status = json.loads(result.stdout[result.stdout.index("{") :])
    deployment = status["deployments"]["BurnoutService"]
    assert deployment["autoscaling_config"]["max_replicas"] == settings.serve_max_replicas
    assert deployment["status"] == "HEALTHY"
    text = json.dumps(status)
    assert '"min_replicas": 1' in text and f'"max_replicas": {settings.serve_max_replicas}' in text
    # The reaction times tuned in docs/reliability.md, not Ray's 30 s / 600 s defaults.
    config = deployment["autoscaling_config"]
    assert config["upscale_delay_s"] == settings.serve_upscale_delay_s
    assert config["downscale_delay_s"] == settings.serve_downscale_delay_s
    assert config["look_back_period_s"] == settings.serve_look_back_period_s
    assert config["metrics_interval_s"] < config["look_back_period_s"]
    # Scaled on the replicas' time-averaged in-flight requests (serve_app.autoscaling_load).
    assert config["policy"]["policy_function"] == "serve_app.autoscaling_load:in_flight_policy"


def test_grpc_load_alone_scales_the_deployment_up(
    settings: Settings, served: dict[str, Any]
) -> None:
    """Serve's own sampled ongoing-request count read 0-6 under 32 gRPC clients and never
    scaled; the replicas' time-averaged in-flight requests (serve_app.autoscaling_load) do.
    Scale-down is left to Serve (later tests redeploy)."""
    from benchmarks.reliability import Load, ReplicaWatch
    from serve_app.deploy import wait_running

    assert settings.serve_max_replicas >= 2
    wait_running(settings, 1, settings.serve_downscale_delay_s + 120)
    with ReplicaWatch(settings) as watch:
        load = Load(settings, clients=32, seconds=45, protocol="grpc")
        result = load.result()
    assert result["requests"] > 1000 and result["errors"] == 0
    during = [n for t, n in watch.running_count() if t <= result["started_at"] + 45]
    assert during[0] == 1, watch.running_count()[:5]
    assert max(during) >= 2, watch.running_count()


def test_hot_swap_under_load_has_no_failures(
    rest: httpx.Client, settings: Settings, served: dict[str, Any]
) -> None:
    client = mlflow.MlflowClient(settings.mlflow_tracking_uri)
    before = client.get_model_version_by_alias(settings.model_name, settings.champion_alias).version
    target = next(
        info["version"] for info in served["families"].values() if info["version"] != str(before)
    )
    stop = time.monotonic() + 8
    url = f"http://127.0.0.1:{settings.serve_http_port}/predict"

    def hammer() -> tuple[int, int, set[str]]:
        ok = failed = 0
        versions: set[str] = set()
        with httpx.Client(timeout=30) as c:
            while time.monotonic() < stop:
                response = c.post(url, json={"records": RECORDS})
                if response.status_code == 200:
                    ok += 1
                    versions.add(response.json()["model"]["version"])
                else:
                    failed += 1
        return ok, failed, versions

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(hammer) for _ in range(8)]
        time.sleep(2)
        client.set_registered_model_alias(settings.model_name, settings.champion_alias, target)
        reloaded = rest.post("/models/reload").json()["reloaded"]
        results = [f.result() for f in futures]
    client.set_registered_model_alias(settings.model_name, settings.champion_alias, before)
    rest.post("/models/reload")
    assert reloaded["champion"] == target
    assert sum(r[1] for r in results) == 0
    assert sum(r[0] for r in results) > 50
    assert {str(before), target} <= set().union(*(r[2] for r in results))


class TestTwoPinnedReplicas:
    """Two replicas with registry polling off (so only an explicit reload can move them), one
    deployment for the class; the session's own deployment comes back after it."""

    @pytest.fixture(scope="class")
    def pinned(self, settings: Settings, served: dict[str, Any]) -> Iterator[Settings]:
        from serve_app.deploy import apply, wait_running

        pinned = settings.model_copy(
            update={"serve_min_replicas": 2, "serve_max_replicas": 2, "serve_poll_interval_s": 0.0}
        )
        try:
            apply(pinned, reload_generation=1)
            wait_running(pinned, 2, 180)
            yield pinned
        finally:
            restored = run_module(settings, "serve_app.deploy", "up", timeout=400)
            assert restored.returncode == 0, restored.stderr[-3000:]

    @pytest.fixture
    def other_version(
        self, rest: httpx.Client, settings: Settings, served: dict[str, Any]
    ) -> Iterator[tuple[mlflow.MlflowClient, str]]:
        """A registered version that is not the champion; the champion alias is put back."""
        client = mlflow.MlflowClient(settings.mlflow_tracking_uri)
        before = str(client.get_model_version_by_alias(settings.model_name, "champion").version)
        target = next(v["version"] for v in served["families"].values() if v["version"] != before)
        try:
            yield client, target
        finally:
            client.set_registered_model_alias(settings.model_name, "champion", before)
            rest.post("/models/reload")

    @staticmethod
    def loaded_by_replica(settings: Settings) -> dict[str, str]:
        health = f"http://127.0.0.1:{settings.serve_http_port}/health"
        seen: dict[str, str] = {}
        for _ in range(40):  # a new connection each time: HAProxy spreads them over replicas
            answer = httpx.get(health, timeout=10).json()
            seen[answer["replica"]] = answer["loaded"]["champion"]
        return seen

    def test_a_reload_reaches_every_replica(
        self, rest: httpx.Client, pinned: Settings, other_version: tuple[Any, str]
    ) -> None:
        """One POST /models/reload, both replicas serve the new version."""
        client, target = other_version
        client.set_registered_model_alias(pinned.model_name, "champion", target)
        assert rest.post("/models/reload").json()["reloaded"]["champion"] == target
        time.sleep(2)  # four board checks
        seen = self.loaded_by_replica(pinned)
        assert len(seen) == 2, seen
        assert set(seen.values()) == {target}, seen

    def test_a_config_update_reloads_every_replica_in_place(
        self, pinned: Settings, other_version: tuple[Any, str]
    ) -> None:
        """Serve's declarative path: only user_config changes, the same two replicas reload."""
        from serve_app.deploy import apply, replicas

        client, target = other_version
        started = {r["replica_id"] for r in replicas(pinned)}
        client.set_registered_model_alias(pinned.model_name, "champion", target)
        apply(pinned, reload_generation=2)
        seen = self.loaded_by_replica(pinned)
        assert set(seen) == started, (seen, started)  # the same replicas: no restart
        assert set(seen.values()) == {target}, seen  # the registry poll is off: reconfigure did it


def test_batch_scoring_on_s3_files(settings: Settings, trained: dict[str, Any]) -> None:
    from ray_jobs.core import s3
    from tests.integration.conftest import score_file

    summary, scored = score_file(settings, "knn", 500, 3, "--model", "knn")
    output = summary["output"]
    knn_version = trained["families"]["knn"]["version"]
    assert summary["rows"] == 500 and summary["rows_with_errors"] == 1
    assert summary["model"]["version"] == knn_version
    assert len(scored) == 500
    assert (scored["model_version"] == knn_version).all() and (scored["model_alias"] == "knn").all()
    bad = scored[scored["error"].notna()]
    assert len(bad) == 1 and "gender" in bad["error"].iloc[0]
    good = scored[scored["error"].isna()]
    assert good["burn_rate"].between(0, 1).all() and good["risk_level"].notna().all()
    done = s3.read_json(s3.client(settings), s3.S3Uri.parse(output).child("_SUCCESS.json"))
    assert done is not None and done["rows"] == 500
