"""gRPC: the RPCs of `burnout.v1.BurnoutService` (and Health/Check) on the ingress deployment.

Serve's gRPC proxy forwards each RPC to the deployment method of the same name, so these are
methods of a mixin the deployment class inherits; they call the same `predict`, `list_models`
and `get_model` as REST and GraphQL. The proto messages are mapped here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from ray_jobs.core.errors import BurnoutError, InvalidInput, NotFound, Unauthenticated
from serve_app.error_codes import codes_for
from serve_app.predictor import BULK_ROWS
from serve_app.schemas import MODEL_VERSION_FIELDS


class GrpcMethods:
    """The RPCs, mixed into the deployment class, which provides `predict`, `list_models`,
    `get_model`, `card_of_version`, `service` and `auth` (the same calls REST and GraphQL
    make)."""

    service: Any
    auth: Any

    def _authorize(self, grpc_context: Any) -> None:
        if not self.auth.allows_metadata(grpc_context.invocation_metadata()):
            raise Unauthenticated("missing or invalid API token (metadata authorization: Bearer)")

    async def Predict(self, request: Any, grpc_context: Any) -> Any:
        from serve_app.protos import burnout_pb2 as pb

        try:
            self._authorize(grpc_context)
            predictions = await self.predict(
                _records(request), request.model or None, request.explain, "grpc"
            )
        except BurnoutError as error:
            _set_status(grpc_context, error)
            return pb.PredictResponse()
        return pb.PredictResponse(
            predictions=[_prediction(p) for p in predictions],
            model=pb.ModelRef(**predictions[0]["model"]),
        )

    async def PredictStream(self, request: Any, grpc_context: Any) -> AsyncIterator[Any]:
        records = _records(request)
        try:
            self._authorize(grpc_context)
            for start in range(0, len(records), BULK_ROWS):
                chunk = records[start : start + BULK_ROWS]
                try:
                    predictions = await self.predict(
                        chunk, request.model or None, request.explain, "grpc"
                    )
                except InvalidInput as error:
                    raise InvalidInput(_shift(error.errors, start)) from None
                for prediction in predictions:
                    yield _prediction(prediction)
        except BurnoutError as error:
            _set_status(grpc_context, error)

    def ListModels(self, request: Any, grpc_context: Any) -> Any:
        from serve_app.protos import burnout_pb2 as pb

        try:
            self._authorize(grpc_context)
        except BurnoutError as error:
            _set_status(grpc_context, error)
            return pb.ListModelsResponse()
        return pb.ListModelsResponse(models=[_version(m) for m in self.list_models()])

    def GetModel(self, request: Any, grpc_context: Any) -> Any:
        from serve_app.protos import burnout_pb2 as pb

        try:
            self._authorize(grpc_context)
            described = self.get_model(request.alias or self.service.default_alias)
        except BurnoutError as error:
            _set_status(grpc_context, error)
            return pb.GetModelResponse()
        params = {k: str(v) for k, v in described.get("params", {}).items()}
        try:
            card = self.card_of_version(described["version"])["markdown"]
        except NotFound:  # registered before model cards: the rest of the answer still holds
            card = ""
        return pb.GetModelResponse(model=_version(described), params=params, card=card)

    def Check(self, request: Any, grpc_context: Any) -> Any:
        """grpc.health.v1.Health/Check: SERVING only once the default model is loaded."""
        from grpc_health.v1 import health_pb2

        ready = self.service.loaded().get(self.service.default_alias) is not None
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if ready
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        return health_pb2.HealthCheckResponse(status=status)


def _records(request: Any) -> list[dict[str, Any]]:
    records = []
    for employee in request.records:
        records.append(
            {
                "employee_id": employee.employee_id or None,
                "date_of_joining": employee.date_of_joining or None,
                "gender": employee.gender or None,
                "company_type": employee.company_type or None,
                "wfh_setup_available": employee.wfh_setup_available or None,
                "designation": employee.designation,
                "resource_allocation": employee.resource_allocation
                if employee.HasField("resource_allocation")
                else None,
                "mental_fatigue_score": employee.mental_fatigue_score
                if employee.HasField("mental_fatigue_score")
                else None,
            }
        )
    return records


def _prediction(data: dict[str, Any]) -> Any:
    from serve_app.protos import burnout_pb2 as pb

    explanation = data.get("explanation")
    return pb.Prediction(
        employee_id=data["employee_id"] or "",
        burn_rate=data["burn_rate"],
        risk_level=data["risk_level"],
        model=pb.ModelRef(**data["model"]),
        explanation=_explanation(explanation) if explanation else None,
    )


def _explanation(data: dict[str, Any]) -> Any:
    from serve_app.protos import burnout_pb2 as pb

    return pb.Explanation(
        base_value=data["base_value"],
        prediction=data["prediction"],
        method=data["method"],
        contributions=[
            pb.Contribution(
                feature=c["feature"],
                model_input=c["model_input"],
                value="" if c["value"] is None else str(c["value"]),
                contribution=c["contribution"],
                imputed=c["imputed"],
                imputed_value=c["imputed_value"],
            )
            for c in data["contributions"]
        ],
    )


def _version(data: dict[str, Any]) -> Any:
    from serve_app.protos import burnout_pb2 as pb

    return pb.ModelVersion(**{name: data[name] for name in MODEL_VERSION_FIELDS})


def _shift(errors: list[dict[str, Any]], offset: int) -> list[dict[str, Any]]:
    shifted = []
    for error in errors:
        _, row, name = error["loc"]
        shifted.append(
            {
                **error,
                "loc": ["records", row + offset, name],
                "field": f"records[{row + offset}].{name}",
            }
        )
    return shifted


def _set_status(context: Any, error: BurnoutError) -> None:
    import grpc

    context.set_code(getattr(grpc.StatusCode, codes_for(error).grpc))
    context.set_details(str(error))
