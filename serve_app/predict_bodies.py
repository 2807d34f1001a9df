"""POST /predict bodies read before the route: columnar files, and plain JSON column by column.

A middleware, not the route: FastAPI parses the route's JSON body into pydantic objects before
any route code runs, and one path has one body model. Installed before the guard, so the guard
(token, body size) still runs first. Whatever is not taken here (explanations, raw CSV names,
anything pydantic must judge) goes on to the route unchanged.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.responses import Response

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
    @app.middleware("http")
    async def predict_bodies(request: Request, call_next: Any) -> Any:
        if request.method != "POST" or request.url.path != "/predict":
            return await call_next(request)
        started = time.perf_counter()
        with server_timing.collecting() as spans:
            response = await _answer(request, call_next, backend)
        app_ms = (time.perf_counter() - started) * 1000
        response.headers[server_timing.HEADER] = server_timing.header(spans, app_ms)
        return response


async def _answer(request: Request, call_next: Any, backend: Predictor) -> Any:
    content_type = request.headers.get("content-type")
    kind = columnar.format_of(content_type)
    if kind is not None:
        return await _columnar(request, backend, kind)
    alias = request.query_params.get("model")
    if (
        _base(content_type) != "application/json"
        or "explain" in request.query_params
        or (alias is not None and len(alias) > MAX_ALIAS)
    ):
        return await call_next(request)
    with stage("read"):
        body = await request.body()
    with stage("parse"):
        plain = plain_body(body)
        if plain is not None:
            # A bulk body goes on as columns: no dict per record to complete or to read back.
            records = plain.frame() if len(plain) > BULK_ROWS else plain.records()
    if plain is None:
        return await call_next(request)  # Starlette hands the read body on to the route
    try:
        predictions = await backend.predict(records, alias, False, "rest")
    except tuple(TABLE) as failure:
        return error_response(failure)
    with stage("encode"):
        return predictions_json(predictions)


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
