"""GraphQL (strawberry) over the same backend: health, models, model(alias), predict, reload."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.fastapi import GraphQLRouter
from strawberry.scalars import JSON

from ray_jobs.core.errors import InvalidInput, ModelUnavailable, NotFound, TooLarge
from serve_app.error_codes import codes_for
from serve_app.schemas import MODEL_VERSION_FIELDS
from serve_app.web_ui import OfflineGraphQLRouter


@strawberry.input(description="One employee; nulls are imputed by the model's pipeline.")
class EmployeeInput:
    gender: str
    company_type: str
    wfh_setup_available: str
    designation: float
    employee_id: str | None = None
    date_of_joining: str | None = None
    resource_allocation: float | None = None
    mental_fatigue_score: float | None = None


@strawberry.type
class ModelRef:
    name: str
    alias: str
    version: str


@strawberry.type(description="How much one raw feature moved the prediction.")
class Contribution:
    feature: str
    model_input: str
    value: JSON | None
    contribution: float
    imputed: bool
    imputed_value: float | None


@strawberry.type(description="base_value + sum of contributions = prediction (before clipping).")
class Explanation:
    base_value: float
    prediction: float
    method: str
    contributions: list[Contribution]


@strawberry.type
class Prediction:
    employee_id: str | None
    burn_rate: float
    risk_level: str
    model: ModelRef
    explanation: Explanation | None = strawberry.field(
        default=None, description="Only with predict(explain: true)."
    )


@strawberry.type
class ModelVersion:
    name: str
    version: str
    aliases: list[str]
    family: str
    dataset_version: str
    run_id: str
    metrics: JSON
    params: JSON | None = None

    @strawberry.field(description="The version's model card (Markdown).")
    def card(self, info: strawberry.Info) -> str:
        try:
            return str(_backend(info).card_of_version(self.version)["markdown"])
        except NotFound as error:
            raise _graphql_error(error) from None


@strawberry.type
class Health:
    status: str
    ready: bool
    loaded: JSON


def _version(data: dict[str, Any]) -> ModelVersion:
    return ModelVersion(
        **{name: data[name] for name in MODEL_VERSION_FIELDS}, params=data.get("params")
    )


def _explanation(data: dict[str, Any] | None) -> Explanation | None:
    if data is None:
        return None
    return Explanation(
        base_value=data["base_value"],
        prediction=data["prediction"],
        method=data["method"],
        contributions=[Contribution(**c) for c in data["contributions"]],
    )


def _graphql_error(error: Exception) -> GraphQLError:
    """Map our errors to GraphQL errors with a machine-readable code (and the fields)."""
    if isinstance(error, InvalidInput):
        fields = [e["field"] for e in error.errors]
        return GraphQLError(
            str(error),
            extensions={"code": "BAD_USER_INPUT", "fields": fields, "errors": error.errors},
        )
    return GraphQLError(str(error), extensions={"code": codes_for(error).graphql})


def _backend(info: strawberry.Info) -> Any:
    return info.context["backend"]


@strawberry.type
class Query:
    @strawberry.field(description="Liveness and the loaded model versions.")
    def health(self, info: strawberry.Info) -> Health:
        data = _backend(info).health()
        return Health(status=data["status"], ready=data["ready"], loaded=data["loaded"])

    @strawberry.field(description="Registered versions with aliases and test metrics.")
    def models(self, info: strawberry.Info) -> list[ModelVersion]:
        return [_version(m) for m in _backend(info).list_models()]

    @strawberry.field(description="One alias: version, run, params and metrics.")
    def model(self, info: strawberry.Info, alias: str) -> ModelVersion:
        try:
            return _version(_backend(info).get_model(alias))
        except (NotFound, ModelUnavailable) as error:
            raise _graphql_error(error) from None

    @strawberry.field(description="Burn rate and risk level per record (and why, if asked).")
    async def predict(
        self,
        info: strawberry.Info,
        records: list[EmployeeInput],
        model: str | None = None,
        explain: bool = False,
    ) -> list[Prediction]:
        payload = [strawberry.asdict(r) for r in records]
        try:
            predictions = await _backend(info).predict(payload, model, explain, "graphql")
        except (InvalidInput, NotFound, ModelUnavailable, TooLarge) as error:
            raise _graphql_error(error) from None
        return [
            Prediction(
                employee_id=p["employee_id"],
                burn_rate=p["burn_rate"],
                risk_level=p["risk_level"],
                model=ModelRef(**p["model"]),
                explanation=_explanation(p.get("explanation")),
            )
            for p in predictions
        ]


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Pick up moved aliases; returns alias -> version.")
    def reload(self, info: strawberry.Info, aliases: list[str] | None = None) -> JSON:
        try:
            return _backend(info).reload(aliases)
        except (NotFound, ModelUnavailable) as error:
            raise _graphql_error(error) from None


SCHEMA = strawberry.Schema(query=Query, mutation=Mutation)


def build_router(backend: Any) -> GraphQLRouter:
    """The /graphql router (GraphiQL in the browser) bound to one backend."""

    async def context() -> dict[str, Any]:
        return {"backend": backend}

    return OfflineGraphQLRouter(SCHEMA, context_getter=context, graphql_ide="graphiql")
