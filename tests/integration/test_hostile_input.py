"""Hostile input against the running Serve app: generated requests never get a 5xx, gRPC answers
only OK or INVALID_ARGUMENT, whatever the fields hold."""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Any

import grpc
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as fuzz_settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from ray_jobs.core.settings import Settings

pytestmark = pytest.mark.integration

FUZZ = fuzz_settings(
    deadline=None,
    database=None,
    derandomize=True,  # the same cases on every run: a failure here reproduces
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],
)
# Cases per operation and mode; /predict gets most (it parses the most).
EXAMPLES = {"/predict": 450, "/predict/stream": 150, "/models/reload": 25}


def _fuzz_one(
    operation: Any,
    label: str,
    mode: GenerationMode,
    examples: int,
    base_url: str,
    seen: collections.Counter,
) -> None:
    @fuzz_settings(FUZZ, max_examples=examples)
    @given(case=operation.as_strategy(generation_mode=mode))
    def call(case: Any) -> None:
        response = case.call(base_url=base_url, timeout=60)
        seen[(label, response.status_code)] += 1
        assert response.status_code < 500, (label, case.body, response.text[:500])

    try:
        call()
    except Unsatisfiable:
        # An operation with no parameters or body has no negative cases to generate.
        assert mode == GenerationMode.NEGATIVE, label


def _fuzz(
    load: Callable[[str], Any],
    schema_path: str,
    settings: Settings,
    examples: Callable[[str], int],
) -> collections.Counter:
    """Load the app's schema with schemathesis, run each operation's positive and negative
    cases; count (operation, status)."""
    base_url = f"http://127.0.0.1:{settings.serve_http_port}"
    schema = load(f"{base_url}{schema_path}")
    seen: collections.Counter = collections.Counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        label = getattr(operation, "path", None) or operation.label
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz_one(operation, label, mode, examples(label), base_url, seen)
    return seen


def test_openapi_generated_requests_never_get_a_server_error(
    settings: Settings, served: dict[str, Any]
) -> None:
    seen = _fuzz(
        schemathesis.openapi.from_url, "/openapi.json", settings,
        lambda path: EXAMPLES.get(path, 50),
    )  # fmt: skip
    assert sum(seen.values()) >= 1000, seen
    statuses = {status for _, status in seen}
    # Both valid and refused requests were generated (the cases were not all one kind).
    assert 200 in statuses and 422 in statuses, seen


def test_graphql_generated_queries_never_get_a_server_error(
    settings: Settings, served: dict[str, Any]
) -> None:
    seen = _fuzz(schemathesis.graphql.from_url, "/graphql", settings, lambda label: 60)
    assert sum(seen.values()) >= 200, seen
    assert {status for _, status in seen} <= {200, 400}, seen


TEXT = st.one_of(
    st.sampled_from(["Male", "Female", "Service", "Product", "Yes", "No", "", "2008-09-30"]),
    st.text(max_size=40),
    st.text(min_size=2000, max_size=5000),  # over the per-field text limit
)
NUMBER = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e6, max_value=1e6),
    st.integers(min_value=-10, max_value=20).map(float),
)


@st.composite
def hostile_employees(draw: st.DrawFn) -> dict[str, Any]:
    record: dict[str, Any] = {
        name: draw(TEXT)
        for name in (
            "employee_id",
            "date_of_joining",
            "gender",
            "company_type",
            "wfh_setup_available",
        )
    }
    record["designation"] = draw(NUMBER)
    for name in ("resource_allocation", "mental_fatigue_score"):
        value = draw(st.one_of(st.none(), NUMBER))
        if value is not None:
            record[name] = value
    return record


VALID = st.fixed_dictionaries(
    {
        "gender": st.sampled_from(["Male", "Female"]),
        "company_type": st.sampled_from(["Service", "Product"]),
        "wfh_setup_available": st.sampled_from(["Yes", "No"]),
        "designation": st.integers(0, 5).map(float),
    },
    optional={
        "employee_id": st.text(max_size=40),
        "resource_allocation": st.floats(1, 10),
        "mental_fatigue_score": st.floats(0, 10),
    },
)
# Half the requests hold only valid records, so both answers are exercised.
REQUESTS = st.one_of(
    st.lists(VALID, min_size=1, max_size=5),
    st.lists(st.one_of(VALID, hostile_employees()), min_size=1, max_size=5),
)


def test_grpc_predict_answers_ok_or_invalid_argument_for_any_fields(
    settings: Settings, served: dict[str, Any]
) -> None:
    from serve_app.protos import burnout_pb2 as pb
    from serve_app.protos import burnout_pb2_grpc

    codes: collections.Counter = collections.Counter()
    metadata = (("application", settings.serve_app_name),)
    with grpc.insecure_channel(f"127.0.0.1:{settings.serve_grpc_port}") as channel:
        stub = burnout_pb2_grpc.BurnoutServiceStub(channel)

        @fuzz_settings(FUZZ, max_examples=300)
        @given(records=REQUESTS)
        def call(records: list[dict[str, Any]]) -> None:
            request = pb.PredictRequest(records=[pb.Employee(**r) for r in records])
            try:
                reply = stub.Predict(request, metadata=metadata, timeout=60)
            except grpc.RpcError as error:
                codes[error.code()] += 1
                assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
                assert error.details(), "a refusal names the offending field"
                return
            codes[grpc.StatusCode.OK] += 1
            assert len(reply.predictions) == len(records)
            assert all(0 <= p.burn_rate <= 1 for p in reply.predictions)

        call()
    assert codes[grpc.StatusCode.OK] and codes[grpc.StatusCode.INVALID_ARGUMENT], codes
