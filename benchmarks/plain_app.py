"""The peers Serve is measured against: the same REST routes in one plain uvicorn process.

    python -m benchmarks.plain_app --mode seed|batched --port P

`seed` loads the model in-process and predicts per request, as the seed project did; `batched`
adds an asyncio micro-batcher (the strongest single-process peer). Both use the project's own
FastAPI routes, validation and registry loader, so only the serving architecture differs.
"""

from __future__ import annotations

import logging
from typing import Any

import typer
import uvicorn

from ray_jobs.core import cli, tracking
from ray_jobs.core.errors import InvalidInput, NotFound
from ray_jobs.core.settings import get_settings
from serve_app.auth import TokenCheck
from serve_app.micro_batch import MicroBatcher
from serve_app.predictor import PredictionService, registry_loader
from serve_app.rest import build_app

log = logging.getLogger(__name__)


class PlainBackend:
    """The routes' backend without Ray: predict per request, or through a MicroBatcher."""

    def __init__(self, service: PredictionService, batcher: MicroBatcher | None) -> None:
        self.service = service
        self.batcher = batcher
        self.max_body_bytes = 16 * 1024 * 1024
        self.auth = TokenCheck(None)

    async def predict(
        self,
        records: list[dict[str, Any]],
        alias: str | None,
        explain: bool = False,
        protocol: str = "rest",
    ) -> list[dict[str, Any]]:
        del protocol  # the peer keeps no inference log or metrics
        model = self.service.model(alias)
        if self.batcher is None or explain:
            return self.service.predict_frame(self.service.frame(records), model, explain)
        self.service.check_size(records)
        result = await self.batcher.submit((records, model))
        if isinstance(result, InvalidInput):
            raise result
        return list(result)

    def health(self) -> dict[str, Any]:
        return {"status": "ok", "loaded": {a: m.version for a, m in self.service.loaded().items()}}

    def list_models(self) -> list[dict[str, Any]]:
        return []

    def get_model(self, alias: str) -> dict[str, Any]:
        raise NotFound(f"the benchmark peer does not describe models ('{alias}')")

    def reload(self, aliases: list[str] | None) -> dict[str, str]:
        return self.service.reload(aliases)


app = typer.Typer(add_completion=False)


@app.command()
def main(
    mode: str = typer.Option(..., help="seed | batched"),
    port: int = typer.Option(..., help="port on BURNOUT_HOST"),
) -> None:
    """Serve the registry's default alias on one uvicorn worker until interrupted."""
    if mode not in {"seed", "batched"}:
        raise typer.BadParameter("mode must be 'seed' or 'batched'")
    settings = get_settings()
    tracking.use_tracking_server(settings)
    service = PredictionService(
        registry_loader(settings.mlflow_tracking_uri, settings.model_name),
        settings.champion_alias,
        settings.serve_max_records,
    )
    service.model()
    batcher = (
        MicroBatcher(service.predict_many, settings.serve_batch_size, settings.serve_batch_wait_s)
        if mode == "batched"
        else None
    )
    uvicorn.run(
        build_app(PlainBackend(service, batcher)),
        host=settings.host,
        port=port,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    cli.run(app)
