"""The FastAPI app: health, models, risk, live data, warnings, silences, quarantine, metrics,
the places a map needs, and the dashboard (``/``) that reads them.

The components (store, ledger, keys, champions, ingest) are built and the models loaded in the
lifespan, never at import or when the app is created. Every ``CitybrainError`` maps to its HTTP
status with one handler and a body ``{"error": kind, "detail": message}`` (``ErrorOut``); a
request its schema refuses answers FastAPI's field errors without the input (an error never
echoes what was sent). Bodies past ``max_body_bytes`` are refused with 413 while being read.
``/docs`` and its assets are served from the installed ``fastapi-offline`` package, so the
page works on a city's network without internet.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from features import CitybrainError
from serving.auth import HEADER, Reader
from serving.deps import provide
from serving.edge import PollCache
from serving.observability import AccessLog, BodyLimit, Metrics, Observed
from serving.routes import (
    ack,
    cap,
    dashboard,
    data,
    deliveries,
    health,
    models,
    places,
    quarantine,
    risk,
    scenarios,
    silences,
    stream,
    warnings,
)
from serving.runtime import Runtime
from serving.schemas.errors import ErrorOut, error_responses
from serving.settings import Settings

MAX_FIELD_ERRORS = 20


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API over ``settings`` (read from ``CITYBRAIN_*`` when not given)."""
    settings = settings or Settings()
    metrics = Metrics()
    access = AccessLog(enabled=settings.access_log)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime(settings, metrics)
        try:
            runtime.start()
            provide(app.state, runtime)
            yield
        finally:
            runtime.stop()
            access.close()

    app = FastAPIOffline(
        title="citybrain",
        version="0.1.0",
        lifespan=lifespan,
        description="Forecasts and graded warnings for waterlogging, hotline surges "
        "and traffic congestion. Every route but /healthz and /readyz needs an API key "
        f"in the {HEADER} header (`citybrain keys create`).",
    )

    @app.exception_handler(CitybrainError)
    async def citybrain_error(request: Request, err: CitybrainError) -> JSONResponse:
        body = ErrorOut(error=type(err).__name__, detail=err.message)
        headers = getattr(err, "headers", None)
        return JSONResponse(status_code=err.http_status, content=body.model_dump(), headers=headers)

    @app.exception_handler(RequestValidationError)
    async def request_error(request: Request, err: RequestValidationError) -> JSONResponse:
        found = list(err.errors())
        shown = [
            {
                "loc": [x if isinstance(x, int) else str(x)[:60] for x in e.get("loc", ())],
                "msg": str(e.get("msg", ""))[:300],
                "type": str(e.get("type", "")),
            }
            for e in found[:MAX_FIELD_ERRORS]
        ]
        more = max(0, len(found) - MAX_FIELD_ERRORS)
        return JSONResponse(status_code=422, content={"detail": shown, "more": more})

    @app.get(
        "/metrics",
        tags=["health"],
        response_class=Response,
        responses={
            200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"},
            **error_responses(401, 403, 429),
        },
    )
    async def prometheus_metrics(key: Reader) -> Response:
        """Prometheus metrics (needs a ``read`` key, sent by the scraper as a header)."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    for router in (
        health.router,
        models.router,
        risk.router,
        data.router,
        stream.router,
        ack.router,
        cap.router,
        warnings.router,
        silences.router,
        deliveries.router,
        quarantine.router,
        scenarios.router,
        places.router,
        dashboard.router,
    ):
        app.include_router(router)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(PollCache)
    app.add_middleware(Observed, metrics=metrics, access=access)
    if settings.origins:  # outermost: the edge cache's answers carry the CORS headers too
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.origins,
            allow_methods=["GET", "POST"],
            allow_headers=[HEADER, "Content-Type", "If-None-Match", "X-Request-ID"],
            expose_headers=["ETag", "X-Request-ID", "Retry-After"],
        )
    return app
