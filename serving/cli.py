"""The ``citybrain`` command line: every package's commands under one entry point."""

from __future__ import annotations

import logging

import click

from citysim.cli import simulate
from features.cli import features, ingest
from serving.demo import demo
from serving.serve import serve
from training.cli import backtest, train
from training.registry_cli import models, promote, rollback


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="log at INFO level")
def main(verbose: bool) -> None:
    """citybrain: forecasts and early warnings for a city operations centre."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


for command in (simulate, ingest, features, backtest, train, serve, demo):
    main.add_command(command)
for command in (promote, rollback, models):  # registry overrides by a person
    main.add_command(command)
