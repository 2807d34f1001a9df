"""POST /predict bodies read before the route: columnar files, and plain JSON column by column.

A middleware, not the route: FastAPI parses the route's JSON body into pydantic objects before
any route code runs, and one path has one body model. Added before the guard, so the guard
(token, body size) still runs first. Whatever is not taken here (explanations, raw CSV names,
anything pydantic must judge) goes on to the route unchanged.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serve_app import columnar, server_timing
from serve_app.error_codes import TABLE
from serve_app.http_answers import error_response, predictions_json
from serve_app.plain_json import plain_body
from serve_app.predictor import BULK_ROWS, Records
from serve_app.server_timing import stage

MAX_ALIAS = 64  # as the route's `model` query parameter
_TRUE = {"true", "1", "yes", "on"}


class Predictor(Protocol):
    """What the middleware needs of the backend (serve_app.rest.Backend has it)."""

    async def predict(
        self, records: Records, alias: str | None, explain: bool, protocol: str
    ) -> list[dict[str, Any]]: ...


def install(app: FastAPI, backend: Predictor) -> None:
    app.add_middleware(PredictBodies, backend=backend)


class PredictBodies:
    """Plain ASGI, not `@app.middleware`: Starlette's BaseHTTPMiddleware runs the rest of the app
    in another task with memory streams and a task group. With two of them (this and the guard)
    the one-process app answered 32 clients at ~1,000 req/s, p99 180 ms; plain ASGI: ~2,050 req/s,
    p99 28 ms (benchmarks.serve_bench's `batched` peer, same machine)."""

    def __init__(self, app: ASGIApp, backend: Predictor) -> None:
        self.app = app
        self.backend = backend

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        if request.url.path != "/predict":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        with server_timing.collecting() as spans:

            async def timed(message: Message) -> None:
                if message["type"] == "http.response.start":
                    app_ms = (time.perf_counter() - started) * 1000
                    MutableHeaders(scope=message)[server_timing.HEADER] = server_timing.header(
                        spans, app_ms
                    )
                await send(message)

            response, body = await _answer(request, self.backend)
            if response is not None:
                await response(scope, receive, timed)
            else:  # the route's, with the body already read handed on
                await self.app(scope, receive if body is None else _replay(body, receive), timed)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # then the client's disconnect, as the route would see it

    return replay


async def _answer(request: Request, backend: Predictor) -> tuple[Response | None, bytes | None]:
    """Our answer, or None and the body if read (the route answers: explanations, bodies that
    pydantic must judge, other content types)."""
    content_type = request.headers.get("content-type")
    kind = columnar.format_of(content_type)
    if kind is not None:
        return await _columnar(request, backend, kind), None
    alias = request.query_params.get("model")
    if (
        _base(content_type) != "application/json"
        or "explain" in request.query_params
        or (alias is not None and len(alias) > MAX_ALIAS)
    ):
        return None, None
    with stage("read"):
        body = await request.body()
    with stage("parse"):
        plain = plain_body(body)
        if plain is not None:
            # A bulk body goes on as columns: no dict per record to complete or to read back.
            records = plain.frame() if len(plain) > BULK_ROWS else plain.records()
    if plain is None:
        return None, body
    try:
        predictions = await backend.predict(records, alias, False, "rest")
    except tuple(TABLE) as failure:
        return error_response(failure), None
    with stage("encode"):
        return predictions_json(predictions), None


async def _columnar(request: Request, backend: Predictor, kind: str) -> Response:
    """A CSV, Arrow or Parquet body, answered in the same format."""
    try:
        if request.query_params.get("explain", "").lower() in _TRUE:
            raise columnar.explain_refused()
        with stage("read"):
            body = await request.body()
        with stage("parse"):
            records = columnar.decode(body, kind)
        predictions = await backend.predict(
            records, request.query_params.get("model"), False, "rest"
        )
    except tuple(TABLE) as failure:
        return error_response(failure)
    with stage("encode"):
        return Response(columnar.encode(predictions, kind), media_type=kind)


def _base(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()
