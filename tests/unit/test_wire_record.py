"""One employee record on the wire: REST's pydantic model, GraphQL's input and the proto agree."""

from __future__ import annotations

from graphql import build_schema

from serve_app.client import camel
from serve_app.graphql_api import SCHEMA
from serve_app.protos import burnout_pb2 as pb
from serve_app.schemas import EmployeeRecord


def test_the_three_wire_records_have_the_same_fields() -> None:
    rest = set(EmployeeRecord.model_fields)
    proto = {f.name for f in pb.Employee.DESCRIPTOR.fields}
    graphql = set(build_schema(SCHEMA.as_str()).type_map["EmployeeInput"].fields)  # type: ignore[attr-defined]
    assert rest == proto, rest ^ proto
    assert set(camel(dict.fromkeys(rest))) == graphql, set(camel(dict.fromkeys(rest))) ^ graphql


def test_optional_numbers_are_optional_everywhere() -> None:
    """resource_allocation and mental_fatigue_score may be null (imputed): proto3 `optional`."""
    graphql = build_schema(SCHEMA.as_str()).type_map["EmployeeInput"].fields  # type: ignore[attr-defined]
    for name in ("resource_allocation", "mental_fatigue_score"):
        assert pb.Employee.DESCRIPTOR.fields_by_name[name].has_presence
        assert not EmployeeRecord.model_fields[name].is_required()
        assert not str(graphql[next(iter(camel({name: None})))].type).endswith("!")
