"""The Ray Serve application: one ingress deployment serving REST, GraphQL and gRPC.

Batching happens inside this deployment (no second DeploymentHandle hop) and every alias is
cached here, so `?model=knn` costs no extra hop either.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

from ray import serve

from ray_jobs.core.errors import (
    BurnoutError,
    InvalidInput,
    ModelUnavailable,
    NotFound,
    TooLarge,
    Unauthenticated,
)
from serve_app.auth import TokenCheck, digest
from serve_app.predictor import (
    AdaptiveWait,
    LoadedModel,
    Loader,
    PredictionService,
    registry_loader,
)

log = logging.getLogger(__name__)

BULK_ROWS = 64  # requests with more rows are a batch already: predict them directly
BOARD_POLL_S = 0.5  # how soon every replica follows a reload made on another one


class AliasBoard:
    """Which version each alias was last reloaded to, shared by the replicas of one model.

    A reload reaches one replica (the one that answers the request); it publishes here and the
    other replicas, checking every BOARD_POLL_S, reload too. A Ray actor named after the model.
    """

    def __init__(self) -> None:
        self.generation = 0
        self.versions: dict[str, str] = {}

    def publish(self, versions: dict[str, str]) -> int:
        self.versions.update(versions)
        self.generation += 1
        return self.generation

    def read(self) -> tuple[int, dict[str, str]]:
        return self.generation, dict(self.versions)


BOARD_NAMESPACE = "burnout"


def board_name(model_name: str) -> str:
    return f"burnout-alias-board:{model_name}"


def alias_board(model_name: str) -> Any:
    """The board of a model (created by the first replica that asks; it outlives replicas)."""
    import ray

    return (
        ray.remote(AliasBoard)
        .options(
            name=board_name(model_name),
            namespace=BOARD_NAMESPACE,
            get_if_exists=True,
            lifetime="detached",
            num_cpus=0,
        )
        .remote()
    )


@serve.deployment(name="BurnoutService")
@serve.ingress()
class BurnoutService:
    """Ingress + model in one replica. `loader` is injectable (tests hand in a real small model)."""

    def __init__(self, options: dict[str, Any], loader: Loader | None = None) -> None:
        import mlflow

        self.options = options
        self.model_name = options["model_name"]
        self.tracking_uri = options["tracking_uri"]
        # One registry client per replica (requests and the follow thread share it).
        self._registry = mlflow.MlflowClient(self.tracking_uri)
        self.max_body_bytes = int(options["max_body_mb"] * 1024 * 1024)
        self.auth = TokenCheck(options.get("api_token_sha256"))
        self.service = PredictionService(
            loader or registry_loader(self.tracking_uri, self.model_name),
            options["default_alias"],
            int(options["max_records"]),
        )
        self._batched.set_max_batch_size(int(options["batch_size"]))
        self._wait = AdaptiveWait(float(options["batch_wait_s"]))
        self._batched.set_batch_wait_timeout_s(self._wait.idle_s)
        self.service.try_load_default()
        self._board = alias_board(self.model_name)
        self._generation = 0
        threading.Thread(target=self._follow, daemon=True).start()

    def __serve_build_asgi_app__(self) -> Any:
        # Built inside the replica: strawberry's router must not be pickled (ray issue 50677).
        from serve_app.graphql_api import build_router
        from serve_app.rest import build_app

        return build_app(self, build_router(self))

    # -- the shared calls -------------------------------------------------------------------------

    @serve.batch(max_batch_size=64, batch_wait_timeout_s=0.005)
    async def _batched(
        self, items: list[tuple[list[dict[str, Any]], LoadedModel]]
    ) -> list[list[dict[str, Any]] | InvalidInput]:
        self._batched.set_batch_wait_timeout_s(self._wait.observe(len(items)))
        return self.service.predict_many(items)

    async def predict(
        self, records: list[dict[str, Any]], alias: str | None
    ) -> list[dict[str, Any]]:
        self.service.check_size(records)
        model = self.service.model(alias)
        if len(records) > BULK_ROWS:
            return self.service.predict_frame(self.service.frame(records), model)
        result = await self._batched((records, model))
        if isinstance(result, InvalidInput):
            raise result
        return result

    def health(self) -> dict[str, Any]:
        loaded = {alias: m.version for alias, m in self.service.loaded().items()}
        default = self.service.loaded().get(self.service.default_alias)
        return {
            "status": "ok" if default else "no_model",
            "ready": default is not None,
            "model": default.ref() if default else None,
            "loaded": loaded,
            "replica": serve.get_replica_context().replica_id.unique_id,
        }

    def list_models(self) -> list[dict[str, Any]]:
        from ray_jobs.core.registry import describe_versions

        return describe_versions(self._registry, self.model_name)

    def get_model(self, alias: str) -> dict[str, Any]:
        from ray_jobs.core.registry import describe_alias

        described = describe_alias(self._registry, self.model_name, alias)
        if described is None:
            raise NotFound(f"model alias '{alias}' does not exist for '{self.model_name}'")
        return described

    def reload(self, aliases: list[str] | None) -> dict[str, str]:
        versions = self.service.reload(aliases)
        # Not awaited (this runs on the replica's event loop): the other replicas follow within
        # BOARD_POLL_S; this one finds nothing stale when it reads its own publication.
        self._board.publish.remote(versions)
        return versions

    def _follow(self) -> None:
        """Keep the loaded aliases current: the board every BOARD_POLL_S (a reload made on
        another replica), the registry every BURNOUT_SERVE_POLL_INTERVAL_S when it is > 0 (an
        alias moved without a reload call)."""
        import ray

        from ray_jobs.core.registry import alias_version

        interval = float(self.options.get("poll_interval_s") or 0)
        next_registry_check = time.monotonic() + interval
        while True:
            time.sleep(BOARD_POLL_S)
            try:
                generation, versions = ray.get(self._board.read.remote(), timeout=10)
                if generation != self._generation:
                    self._generation = generation
                    self._reload_stale(versions)
                if interval and time.monotonic() >= next_registry_check:
                    next_registry_check = time.monotonic() + interval
                    current = {
                        alias: alias_version(self._registry, self.model_name, alias)
                        for alias in self.service.loaded()
                    }
                    self._reload_stale({a: str(v.version) for a, v in current.items() if v})
            except Exception as error:  # noqa: BLE001  (keep following through hiccups)
                log.warning("alias check failed: %s", error)

    def _reload_stale(self, versions: dict[str, str]) -> None:
        """Reload each loaded alias whose version differs from `versions`."""
        loaded = self.service.loaded()
        stale = [a for a, v in versions.items() if a in loaded and loaded[a].version != v]
        if stale:
            self.service.reload(stale)

    # -- gRPC (method names = RPC names) ----------------------------------------------------------

    def _authorize(self, grpc_context: Any) -> None:
        if not self.auth.allows_metadata(grpc_context.invocation_metadata()):
            raise Unauthenticated("missing or invalid API token (metadata authorization: Bearer)")

    async def Predict(self, request: Any, grpc_context: Any) -> Any:
        from serve_app.protos import burnout_pb2 as pb

        try:
            self._authorize(grpc_context)
            predictions = await self.predict(_records(request), request.model or None)
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
                    predictions = await self.predict(chunk, request.model or None)
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
        return pb.GetModelResponse(model=_version(described), params=params)

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

    return pb.Prediction(
        employee_id=data["employee_id"] or "",
        burn_rate=data["burn_rate"],
        risk_level=data["risk_level"],
        model=pb.ModelRef(**data["model"]),
    )


def _version(data: dict[str, Any]) -> Any:
    from serve_app.protos import burnout_pb2 as pb

    return pb.ModelVersion(
        name=data["name"],
        version=data["version"],
        aliases=data["aliases"],
        family=data["family"],
        dataset_version=data["dataset_version"],
        run_id=data["run_id"],
        metrics=data["metrics"],
    )


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

    codes = {
        InvalidInput: grpc.StatusCode.INVALID_ARGUMENT,
        TooLarge: grpc.StatusCode.INVALID_ARGUMENT,
        NotFound: grpc.StatusCode.NOT_FOUND,
        ModelUnavailable: grpc.StatusCode.UNAVAILABLE,
        Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    }
    code = next((c for t, c in codes.items() if isinstance(error, t)), grpc.StatusCode.INTERNAL)
    context.set_code(code)
    context.set_details(str(error))


def options_from_settings(settings: Any) -> dict[str, Any]:
    """The deployment's options, taken from settings on the deploying side."""
    return {
        "model_name": settings.model_name,
        "tracking_uri": settings.mlflow_tracking_uri,
        "default_alias": settings.champion_alias,
        "max_records": settings.serve_max_records,
        "max_body_mb": settings.serve_max_body_mb,
        "batch_size": settings.serve_batch_size,
        "batch_wait_s": settings.serve_batch_wait_s,
        "poll_interval_s": settings.serve_poll_interval_s,
        "api_token_sha256": digest(token) if (token := settings.api_token()) else None,
    }


def build(settings: Any, loader: Loader | None = None) -> Any:
    """The bound application, with autoscaling and replica options from settings."""
    deployment = BurnoutService.options(
        autoscaling_config={
            "min_replicas": settings.serve_min_replicas,
            "max_replicas": settings.serve_max_replicas,
            "target_ongoing_requests": settings.serve_target_ongoing_requests,
            "upscale_delay_s": settings.serve_upscale_delay_s,
            "downscale_delay_s": settings.serve_downscale_delay_s,
            "look_back_period_s": settings.serve_look_back_period_s,
            # Replicas report their load this often (default 10 s, as long as the look-back):
            # five reports per window let a short upscale delay see a real average.
            "metrics_interval_s": settings.serve_look_back_period_s / 5,
        },
        max_ongoing_requests=settings.serve_max_ongoing_requests,
        health_check_period_s=settings.serve_health_check_period_s,
        ray_actor_options={"num_cpus": 0.5},
        logging_config={"enable_access_log": False, "log_level": "WARNING"},
    )
    return deployment.bind(options_from_settings(settings), loader)


def app_builder(args: dict[str, str]) -> Any:
    """Entry point for `serve deploy serve_app/config.yaml` (import_path ...:app_builder).

    Settings come from the environment of the Ray cluster (BURNOUT_*), `args` may override the
    registry URI or model name.
    """
    from ray_jobs.core.settings import get_settings

    settings = get_settings()
    overrides = {
        k: v for k, v in (args or {}).items() if k in {"mlflow_tracking_uri", "model_name"}
    }
    if overrides:
        settings = settings.model_copy(update=overrides)
    return build(settings)
