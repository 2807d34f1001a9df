"""The FastAPI app of the ingress: REST routes, error mapping, GraphQL mounted at /graphql."""

from __future__ import annotations

import html
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from ray_jobs.core.errors import InvalidInput, ModelUnavailable, NotFound
from serve_app import columnar, predict_bodies, web_ui
from serve_app.auth import CHALLENGE, OPEN_PATHS, TokenCheck
from serve_app.error_codes import TABLE
from serve_app.http_answers import error, error_response, predictions_json
from serve_app.schemas import EmployeeRecord, PredictRequest, PredictResponse

STREAM_CHUNK = 256
CARD_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2rem .5rem}"
    "code{background:#f4f4f4}pre{overflow-x:auto;background:#f4f4f4;padding:.5rem}"
)
EXPLAIN_HELP = (
    "also return each raw feature's contribution (base_value + contributions = the model's "
    "output before clipping); costs more per record, see docs/benchmarks.md"
)


class Backend(Protocol):
    """What the routes need from the deployment (the same calls GraphQL and gRPC make)."""

    max_body_bytes: int
    auth: TokenCheck

    async def predict(
        self,
        records: list[dict[str, Any]],
        alias: str | None,
        explain: bool = False,
        protocol: str = "rest",
    ) -> list[dict[str, Any]]: ...
    def health(self) -> dict[str, Any]: ...
    def list_models(self) -> list[dict[str, Any]]: ...
    def get_model(self, alias: str) -> dict[str, Any]: ...
    def get_card(self, alias: str) -> dict[str, str]: ...
    def reload(self, aliases: list[str] | None) -> dict[str, str]: ...


def _install_error_handlers(app: FastAPI) -> None:
    async def handle(_: Request, failure: Exception) -> JSONResponse:
        return error_response(failure)

    for kind in TABLE:
        app.add_exception_handler(kind, handle)


class Guard:
    """The API token (when configured), then the body size, before anything is parsed. Plain
    ASGI, as `predict_bodies.PredictBodies` (and for the same reason)."""

    def __init__(self, app: ASGIApp, backend: Backend) -> None:
        self.app = app
        self.backend = backend

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = self._refusal(Request(scope))
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _refusal(self, request: Request) -> Response | None:
        path = request.url.path
        if (
            path not in OPEN_PATHS
            and not path.startswith(web_ui.ASSET_PREFIXES)
            and not self.backend.auth.allows(request.headers.get("authorization"))
        ):
            response = error(401, "missing or invalid API token (Authorization: Bearer)")
            response.headers.update(CHALLENGE)
            return response
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > self.backend.max_body_bytes:
            return error(413, f"request body over {self.backend.max_body_bytes} bytes")
        return None


def build_app(backend: Backend, graphql_router: Any | None = None) -> FastAPI:
    """Routes over the backend; one prediction path for every endpoint."""
    app = web_ui.create_app(
        title="burnout-ray",
        description="Employee burn-rate predictions: REST here, GraphQL at /graphql, and gRPC",
        version="1",
    )
    _install_error_handlers(app)
    predict_bodies.install(app, backend)
    app.add_middleware(Guard, backend=backend)  # added last: runs first

    @app.get("/health")
    async def health() -> dict[str, Any]:
        """Liveness, and which model versions this replica has loaded."""
        return backend.health()

    @app.get("/models")
    async def models() -> dict[str, Any]:
        """Registered versions, their aliases and test metrics (from the registry)."""
        return {"models": backend.list_models()}

    @app.get("/models/{alias}")
    async def model(alias: str) -> dict[str, Any]:
        """One alias: version, run id, params, metrics and dataset version."""
        return backend.get_model(alias)

    @app.get(
        "/models/{alias}/card",
        response_class=Response,
        responses={200: {"content": {"text/markdown": {}, "text/html": {}}}},
    )
    async def card(alias: str, request: Request) -> Response:
        """The version's model card: Markdown, or HTML when the client accepts text/html."""
        found = backend.get_card(alias)
        if "text/html" in request.headers.get("accept", ""):
            return Response(card_html(found), media_type="text/html")
        return Response(found["markdown"], media_type="text/markdown; charset=utf-8")

    @app.post("/models/reload")
    async def reload(alias: list[str] | None = Query(None)) -> dict[str, Any]:  # noqa: B008
        """Pick up moved aliases (default: every loaded alias and the default one)."""
        return {"reloaded": backend.reload(alias)}

    @app.post("/predict", response_model=PredictResponse, openapi_extra=columnar.OPENAPI)
    async def predict(
        body: PredictRequest,
        model: str | None = Query(None, max_length=64),
        explain: bool = Query(False, description=EXPLAIN_HELP),
    ) -> Response:
        """Score one or many raw employee records."""
        # Plain JSON bodies without explain are answered before this (serve_app.predict_bodies);
        # here: explanations, raw CSV names, and what pydantic has to judge. One dump of the
        # whole body: a third of the cost of dumping record by record.
        records = body.model_dump()["records"]
        return predictions_json(await backend.predict(records, model, explain, "rest"))

    @app.post("/predict/stream")
    async def predict_stream(
        request: Request,
        model: str | None = Query(None, max_length=64),
        explain: bool = Query(False, description=EXPLAIN_HELP),
    ) -> StreamingResponse:
        """NDJSON in (one record per line), NDJSON out: a prediction or an error per line."""
        # Read the body here: once the endpoint returns, the request can no longer be read.
        body = await request.body()
        scoring = Scoring(backend, model, explain)
        return StreamingResponse(_stream(scoring, body), media_type="application/x-ndjson")

    if graphql_router is not None:
        app.include_router(graphql_router, prefix="/graphql")
        web_ui.mount_graphiql_assets(app)
    return app


@dataclass(frozen=True)
class Scoring:
    """How a stream's records are scored: by which backend, alias, and whether explained."""

    backend: Backend
    alias: str | None
    explain: bool

    async def predict(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return await self.backend.predict(records, self.alias, self.explain, "stream")


async def _stream(scoring: Scoring, body: bytes) -> AsyncIterator[bytes]:
    """Predictions as NDJSON, flushed every STREAM_CHUNK valid lines (the input is size-capped)."""
    pending: list[tuple[int, dict[str, Any]]] = []
    for number, line in enumerate(body.split(b"\n"), start=1):
        async for out in _take(scoring, number, line, pending):
            yield out
    async for out in _flush(scoring, pending):
        yield out


async def _take(
    scoring: Scoring, number: int, line: bytes, pending: list[tuple[int, dict[str, Any]]]
) -> AsyncIterator[bytes]:
    if not line.strip():
        return
    try:
        record = EmployeeRecord.model_validate_json(line).model_dump()
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "record"
        yield _line({"line": number, "error": f"{field}: {first['msg']}"})
        return
    pending.append((number, record))
    if len(pending) >= STREAM_CHUNK:
        async for out in _flush(scoring, pending):
            yield out


async def _flush(
    scoring: Scoring, pending: list[tuple[int, dict[str, Any]]]
) -> AsyncIterator[bytes]:
    if not pending:
        return
    batch = list(pending)
    pending.clear()
    try:
        predictions = await scoring.predict([r for _, r in batch])
    except InvalidInput:
        # Score what is valid; name the bad lines one by one.
        for number, record in batch:
            try:
                (prediction,) = await scoring.predict([record])
                yield _line({"line": number, **prediction})
            except InvalidInput as error:
                yield _line({"line": number, "error": str(error).replace("records[0].", "")})
        return
    except (NotFound, ModelUnavailable) as error:
        yield _line({"error": str(error)})
        return
    for (number, _), prediction in zip(batch, predictions, strict=True):
        yield _line({"line": number, **prediction})


def card_html(card: dict[str, str]) -> str:
    """A model card as a small standalone HTML page (tables on, raw HTML in the card off)."""
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(card["markdown"])
    title = html.escape(f"{card['name']} v{card['version']}: model card")
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
        f"<style>{CARD_CSS}</style></head><body>{body}</body></html>"
    )


def _line(payload: dict[str, Any]) -> bytes:
    return (json.dumps(payload) + "\n").encode()
