"""The FastAPI app: health, risk, live data, warnings and models. Built by ``create_app``.

Models load in the lifespan, never at import. Every ``CitybrainError`` maps to its HTTP status
with one handler and a body ``{"error": kind, "detail": message}``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from features import CitybrainError
from serving import data_routes, risk_routes, warning_routes
from serving.deps import RuntimeDep
from serving.runtime import Runtime
from serving.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime(settings)
        runtime.load_models()
        runtime.rescore()
        runtime.start()
        app.state.runtime = runtime
        try:
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
    async def _citybrain_error(request: Request, err: CitybrainError) -> JSONResponse:
        return JSONResponse(
            status_code=err.http_status,
            content={"error": type(err).__name__, "detail": err.message},
        )

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz(runtime: RuntimeDep) -> JSONResponse:
        ready = bool(runtime.scorers) and runtime.store.exists("observations")
        body = {
            "ready": ready,
            "models": {d: s.version for d, s in runtime.scorers.items()},
            "problems": runtime.problems,
        }
        return JSONResponse(status_code=200 if ready else 503, content=body)

    @app.get("/v1/models", tags=["models"])
    def models(runtime: RuntimeDep) -> dict[str, Any]:
        return {
            "models": [
                {
                    "domain": d,
                    "task": s.task.name,
                    "family": s.task.model.family,
                    "version": s.version,
                    "features": len(s.spec.columns),
                }
                for d, s in runtime.scorers.items()
            ],
            "problems": runtime.problems,
        }

    @app.post("/v1/models/reload", tags=["models"])
    def reload(runtime: RuntimeDep) -> dict[str, Any]:
        runtime.load_models()
        runtime.rescore()
        return models(runtime)

    app.include_router(risk_routes.router)
    app.include_router(data_routes.router)
    app.include_router(warning_routes.router)
    return app
