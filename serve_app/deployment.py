"""The Ray Serve application: one ingress deployment serving REST, GraphQL and gRPC.

Batching happens inside this deployment (no second DeploymentHandle hop; `micro_batch`, not
`@serve.batch`) and every alias is cached here, so `?model=knn` costs no extra hop either.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from typing import Any

from ray import serve

from ray_jobs.core.errors import InvalidInput
from serve_app import drift_gauges, predictor
from serve_app.alias_board import BOARD_POLL_S, alias_board
from serve_app.auth import TokenCheck
from serve_app.autoscaling_load import IN_FLIGHT
from serve_app.grpc_api import GrpcMethods
from serve_app.inference_log import from_options as inference_log_from_options
from serve_app.micro_batch import MicroBatcher
from serve_app.model_catalog import ModelCatalog
from serve_app.options import autoscaling, options_from_settings
from serve_app.predictor import Loader, PredictionService, Records, registry_loader
from serve_app.replica_metrics import ReplicaMetrics
from serve_app.server_timing import stage

log = logging.getLogger(__name__)


@serve.deployment(name="BurnoutService")
@serve.ingress()
class BurnoutService(GrpcMethods, ModelCatalog):
    """Ingress + model in one replica. `loader` is injectable (tests hand in a real small model)."""

    def __init__(self, options: dict[str, Any], loader: Loader | None = None) -> None:
        import mlflow

        self.options = options
        self.model_name = options["model_name"]
        self.tracking_uri = options["tracking_uri"]
        # One registry client per replica (requests and the follow thread share it).
        self._registry = mlflow.MlflowClient(self.tracking_uri)
        self._cards: dict[str, str] = {}
        self.max_body_bytes = int(options["max_body_mb"] * 1024 * 1024)
        self.auth = TokenCheck(options.get("api_token_sha256"))
        self.service = PredictionService(
            loader or registry_loader(self.tracking_uri, self.model_name),
            options["default_alias"],
            int(options["max_records"]),
            int(options.get("max_explain_records", 100)),
        )
        self.metrics = ReplicaMetrics()
        self._batcher = MicroBatcher(
            self.service.predict_many,
            int(options["batch_size"]),
            float(options["batch_wait_s"]),
            self.metrics.batched,
        )
        self.inference_log = inference_log_from_options(options, self.metrics.logged)
        self._drift = drift_gauges.start(float(options.get("drift_poll_s", 30)))
        self.service.try_load_default()
        self._reload_generation: int | None = None
        self._board = alias_board(self.model_name)
        self._generation = 0
        threading.Thread(target=self._follow, daemon=True).start()
        # Start-up's objects (Ray, MLflow, the model) live as long as the replica: frozen, a full
        # collection set off by a bulk request no longer walks them (~250 ms instead of ~30).
        gc.freeze()

    def __serve_build_asgi_app__(self) -> Any:
        # Built inside the replica: strawberry's router must not be pickled (ray issue 50677).
        from serve_app.graphql_api import build_router
        from serve_app.rest import build_app

        return build_app(self, build_router(self))

    # -- the shared calls -------------------------------------------------------------------------

    async def predict(
        self,
        records: Records,
        alias: str | None,
        explain: bool = False,
        protocol: str = "rest",
    ) -> list[dict[str, Any]]:
        """The one prediction call of every protocol; answered requests are counted and logged."""
        self.metrics.in_flight.enter()
        try:
            predictions = await self._predict(records, alias, explain)
        except InvalidInput as error:
            self.metrics.invalid(error)
            raise
        finally:
            self.metrics.in_flight.leave()
        with stage("log"):
            self.metrics.served(predictions, protocol, explain)
            if self.inference_log is not None:
                self.inference_log.add(records, predictions, protocol)
        return predictions

    async def _predict(
        self, records: Records, alias: str | None, explain: bool
    ) -> list[dict[str, Any]]:
        self.service.check_size(records)
        model = self.service.model(alias)
        if explain:
            # Explaining costs many model calls per record (KNN, SVR): off the event loop, and
            # never in a batch with plain requests, which would wait for it.
            self.service.check_explain_size(records)
            frame = self.service.frame(records)
            return await asyncio.to_thread(self.service.predict_frame, frame, model, True)
        if len(records) > predictor.BULK_ROWS or not isinstance(records, list):  # bulk, or a frame
            with stage("validate"):
                frame = self.service.frame(records)
            with stage("model"):
                return self.service.predict_frame(frame, model)
        with stage("batch"):  # waiting for the batch, then validating and predicting it
            result = await self._batcher.submit((records, model))
        if isinstance(result, InvalidInput):
            raise result
        return result

    async def record_autoscaling_stats(self) -> dict[str, float]:
        """Serve's hook for custom autoscaling metrics (read by `autoscaling_load`'s policy).
        A coroutine, so that it runs on the event loop that counts the requests."""
        return {IN_FLIGHT: self.metrics.in_flight.mean()}

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

    def reload(self, aliases: list[str] | None) -> dict[str, str]:
        versions = self.service.reload(aliases)
        # Not awaited (this runs on the replica's event loop): the other replicas follow within
        # BOARD_POLL_S; this one finds nothing stale when it reads its own publication.
        self._board.publish.remote(versions)
        return versions

    def reconfigure(self, user_config: dict[str, Any]) -> None:
        """Serve's own way to reach every replica: a redeploy whose `user_config` carries a new
        `reload_generation` reloads every loaded alias (measured against the alias board in
        docs/reliability.md; also how a `serve deploy` config forces a reload)."""
        generation = int(user_config.get("reload_generation", 0))
        if self._reload_generation is not None and generation != self._reload_generation:
            self.service.reload(None)
        self._reload_generation = generation

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
                self.metrics.flush()
                self.metrics.versions({a: m.version for a, m in self.service.loaded().items()})
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


def build(settings: Any, loader: Loader | None = None, reload_generation: int = 0) -> Any:
    """The bound application, with autoscaling and replica options from settings.

    A redeploy with another `reload_generation` only reconfigures the running replicas.
    """
    deployment = BurnoutService.options(
        user_config={"reload_generation": reload_generation},
        autoscaling_config=autoscaling(settings),
        max_ongoing_requests=settings.serve_max_ongoing_requests,
        max_replicas_per_node=settings.serve_max_replicas_per_node,
        health_check_period_s=settings.serve_health_check_period_s,
        ray_actor_options={
            "num_cpus": 0.5,
            # Ray sets OMP_NUM_THREADS from num_cpus unless the actor's environment has it.
            "runtime_env": {"env_vars": {"OMP_NUM_THREADS": str(settings.serve_model_threads)}},
        },
        logging_config={"enable_access_log": False, "log_level": "WARNING"},
    )
    return deployment.bind(options_from_settings(settings), loader)


def app_builder(args: dict[str, str]) -> Any:
    """Entry point for `serve deploy serve_app/config.yaml` (import_path ...:app_builder).

    Settings come from the environment of the Ray cluster (BURNOUT_*), `args` may override the
    registry URI, the model name or the registry poll interval.
    """
    from ray_jobs.core.settings import get_settings

    settings = get_settings()
    allowed = {"mlflow_tracking_uri", "model_name", "serve_poll_interval_s"}
    overrides = {k: v for k, v in (args or {}).items() if k in allowed}
    if overrides:
        settings = type(settings).model_validate({**settings.model_dump(), **overrides})
    return build(settings)
