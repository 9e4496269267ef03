"""The reference for the API benchmark: a bare FastAPI endpoint answering constant bytes.

``BENCH_BODY`` names a file whose bytes ``GET /bare`` returns as JSON; served by the same uvicorn
as ``citybrain serve`` with the same options, so the ratio measures what the product adds
(key check, rate limit, metrics, request id, access log, routing) and nothing else.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI, Response

BODY = Path(os.environ["BENCH_BODY"]).read_bytes()
app = FastAPI()


@app.get("/bare")
async def bare() -> Response:
    return Response(BODY, media_type="application/json")
