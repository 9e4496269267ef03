"""The FastAPI app: health, models, risk, live data and warnings. Built by ``create_app``.

The components (store, ledger, champions, ingest) are built and the models loaded in the
lifespan, never at import or when the app is created. Every ``CitybrainError`` maps to its HTTP
status with one handler and a body ``{"error": kind, "detail": message}`` (``ErrorOut``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from features import CitybrainError
from serving.deps import provide
from serving.routes import data, health, models, risk, silences, warnings
from serving.runtime import Runtime
from serving.schemas.errors import ErrorOut
from serving.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API over ``settings`` (read from ``CITYBRAIN_*`` when not given)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime(settings)
        try:
            runtime.start()
            provide(app.state, runtime)
            yield
        finally:
            runtime.stop()

    app = FastAPI(
        title="citybrain",
        version="0.1.0",
        lifespan=lifespan,
        description="Forecasts and graded warnings for waterlogging, hotline surges "
        "and traffic congestion.",
    )

    @app.exception_handler(CitybrainError)
    async def citybrain_error(request: Request, err: CitybrainError) -> JSONResponse:
        body = ErrorOut(error=type(err).__name__, detail=err.message)
        return JSONResponse(status_code=err.http_status, content=body.model_dump())

    for router in (
        health.router,
        models.router,
        risk.router,
        data.router,
        warnings.router,
        silences.router,
    ):
        app.include_router(router)
    return app
