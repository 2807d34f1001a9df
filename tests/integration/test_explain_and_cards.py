"""Why this prediction, and what this model is: explanations on REST, NDJSON, GraphQL, gRPC and
batch scoring, and the model card of every version training registers (issue 17)."""

from __future__ import annotations

import json
from typing import Any

import grpc
import httpx
import pytest

from features.explain import EXPLAINED, RAW_SOURCE
from ray_jobs.core.settings import Settings
from serve_app.client import camel
from serve_app.protos import burnout_pb2 as pb
from tests.integration.conftest import RECORDS, graphql, metadata, to_proto

pytestmark = pytest.mark.integration

RAW_FEATURES = {RAW_SOURCE.get(n, n) for n in EXPLAINED}
GQL_EXPLAIN = """
query($records: [EmployeeInput!]!, $model: String) {
  predict(records: $records, model: $model, explain: true) {
    burnRate
    explanation { baseValue prediction method
                  contributions { feature contribution imputed imputedValue } }
  }
}"""


def contributions(explanation: dict[str, Any]) -> dict[str, float]:
    return {c["feature"]: c["contribution"] for c in explanation["contributions"]}


@pytest.mark.parametrize("alias", ["lightgbm", "knn", "svm"])
def test_explanations_add_up_and_speak_raw_features(rest: httpx.Client, alias: str) -> None:
    response = rest.post(f"/predict?explain=true&model={alias}", json={"records": RECORDS})
    assert response.status_code == 200, response.text
    for prediction in response.json()["predictions"]:
        why = prediction["explanation"]
        assert set(contributions(why)) == RAW_FEATURES
        total = why["base_value"] + sum(contributions(why).values())
        assert total == pytest.approx(why["prediction"], abs=1e-6)
        assert prediction["burn_rate"] == pytest.approx(min(max(total, 0.0), 1.0), abs=1e-6)
    second = response.json()["predictions"][1]["explanation"]  # e2 leaves two numbers out
    imputed = {c["feature"] for c in second["contributions"] if c["imputed"]}
    assert {"resource_allocation", "mental_fatigue_score", "date_of_joining"} <= imputed


def test_plain_predictions_carry_no_explanation(rest: httpx.Client) -> None:
    response = rest.post("/predict", json={"records": RECORDS}).json()
    assert all(p.get("explanation") is None for p in response["predictions"])


def test_a_bad_explain_flag_is_a_422_naming_it(rest: httpx.Client) -> None:
    response = rest.post("/predict?explain=perhaps", json={"records": RECORDS})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "explain"]
    many = rest.post("/predict?explain=true", json={"records": [RECORDS[0]] * 101})
    assert many.status_code == 413 and "batch scoring" in many.json()["detail"]


def test_every_protocol_explains_a_record_the_same_way(
    rest: httpx.Client, stub: Any, settings: Settings
) -> None:
    record = RECORDS[0]
    via_rest = rest.post("/predict?explain=true", json={"records": [record]}).json()
    rest_why = via_rest["predictions"][0]["explanation"]

    body = "\n".join(json.dumps(r) for r in RECORDS).encode()
    lines = rest.post("/predict/stream?explain=true", content=body).text.splitlines()
    stream_why = json.loads(lines[0])["explanation"]

    via_graphql = graphql(rest, GQL_EXPLAIN, {"records": [camel(record)]})
    assert "errors" not in via_graphql, via_graphql
    gql_why = via_graphql["data"]["predict"][0]["explanation"]

    reply = stub.Predict(
        pb.PredictRequest(records=[to_proto(record)], explain=True), metadata=metadata(settings)
    )
    grpc_why = reply.predictions[0].explanation
    grpc_contributions = {c.feature: c.contribution for c in grpc_why.contributions}

    expected = contributions(rest_why)
    assert contributions(stream_why) == pytest.approx(expected, abs=1e-12)
    assert contributions(gql_why) == pytest.approx(expected, abs=1e-12)
    assert grpc_contributions == pytest.approx(expected, abs=1e-12)
    assert gql_why["baseValue"] == pytest.approx(rest_why["base_value"], abs=1e-12)
    assert grpc_why.base_value == pytest.approx(rest_why["base_value"], abs=1e-12)
    assert grpc_why.method == rest_why["method"] == gql_why["method"]

    plain = stub.Predict(pb.PredictRequest(records=[to_proto(record)]), metadata=metadata(settings))
    assert not plain.predictions[0].HasField("explanation")


def test_every_registered_version_has_a_card_on_all_three_protocols(
    rest: httpx.Client, stub: Any, settings: Settings, served: dict[str, Any]
) -> None:
    import mlflow

    client = mlflow.MlflowClient(settings.mlflow_tracking_uri)
    for family, info in served["families"].items():
        version = client.get_model_version(settings.model_name, info["version"])
        assert version.description.startswith(f"# Model card: {settings.model_name} v")
        markdown = rest.get(f"/models/{family}/card")
        assert markdown.status_code == 200, markdown.text
        assert markdown.headers["content-type"].startswith("text/markdown")
        text = markdown.text
        assert f"v{info['version']} ({family})" in text
        for section in ("## Data", "## Test metrics", "## By slice", "## Calibration",
                        "## Intended use and limits", "Largest gap between slices"):  # fmt: skip
            assert section in text, section
        assert "Synthetic data" in text  # the session trains on generated rows, and says so
        artifacts = {a.path for a in client.list_artifacts(info["run_id"])}
        assert {"calibration.png", "model_card.md"} <= artifacts

    page = rest.get("/models/champion/card", headers={"accept": "text/html"})
    assert page.headers["content-type"].startswith("text/html")
    assert "<table>" in page.text and "<h1>" in page.text

    gql = graphql(rest, '{ model(alias: "knn") { version card } }')
    assert gql["data"]["model"]["card"].startswith("# Model card")
    reply = stub.GetModel(pb.GetModelRequest(alias="svm"), metadata=metadata(settings))
    assert reply.card.startswith(f"# Model card: {settings.model_name} v{reply.model.version}")

    assert rest.get("/models/nope/card").status_code == 404
    with pytest.raises(grpc.RpcError) as error:
        stub.GetModel(pb.GetModelRequest(alias="nope"), metadata=metadata(settings))
    assert error.value.code() == grpc.StatusCode.NOT_FOUND


def test_the_stock_pyfunc_scores_a_raw_csv_frame_renamed_as_the_card_says(
    settings: Settings, served: dict[str, Any]
) -> None:
    """A new user's route: the public CSV's columns, renamed with the card's mapping, scored by
    `mlflow.pyfunc.load_model` (no project code); the id column may be left out."""
    import mlflow
    import pandas as pd

    from features.synthetic import generate
    from ray_jobs.train.model_card import RENAMING

    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    version = served["families"]["lightgbm"]["version"]
    model = mlflow.pyfunc.load_model(f"models:/{settings.model_name}/{version}")
    raw = generate(50, 4)  # the public file's own headers, Burn Rate included
    frame = raw.rename(columns=RENAMING)
    predicted = model.predict(frame)
    assert len(predicted) == 50 and pd.Series(predicted).notna().all()
    without_id = model.predict(frame.drop(columns=["employee_id"]))
    assert list(without_id) == pytest.approx(list(predicted), abs=1e-12)


def test_batch_scoring_explains_every_valid_row(settings: Settings, served: dict[str, Any]) -> None:
    from tests.integration.conftest import score_file

    _, scored = score_file(settings, "explain", 200, 5, "--model", "lightgbm", "--explain")
    good = scored[scored["error"].isna()]
    columns = [f"contribution_{f}" for f in RAW_FEATURES]
    total = good["explain_base_value"] + good[columns].sum(axis=1)
    assert (total.clip(0, 1) - good["burn_rate"]).abs().max() < 1e-6
    bad = scored[scored["error"].notna()]
    assert len(bad) == 1 and bad[columns].isna().all(axis=None)
