"""``citybrain serve``: the API (and, later, the dashboard) in one uvicorn process."""

from __future__ import annotations

import logging
from pathlib import Path

import click
import uvicorn

from serving.app import create_app
from serving.observability import configure_logging
from serving.settings import Settings


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--data",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="data folder (default: $CITYBRAIN_DATA or <home>/data)",
)
@click.option("--webhook", "webhooks", multiple=True, help="webhook URL for warnings (repeat)")
def serve(host: str, port: int, data: Path | None, webhooks: tuple[str, ...]) -> None:
    """Serve the champions: risk, live observations and warnings over HTTP."""
    overrides: dict = {}
    if data is not None:
        overrides["data"] = data
    if webhooks:
        overrides["webhook_url"] = ",".join(webhooks)
    settings = Settings(**overrides)
    configure_logging(logging.INFO, json_logs=settings.json_logs)
    # uvicorn's own access log would repeat ours without the request id and key: off
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        server_header=False,
    )
