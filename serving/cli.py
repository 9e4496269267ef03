"""The ``citybrain`` command line: every package's commands under one entry point."""

from __future__ import annotations

import logging

import click

from citysim import simulate_command
from features import features_command, ingest_command
from serving.deliveries_command import deliveries_command
from serving.demo import demo
from serving.keys_command import keys_command
from serving.serve import serve
from training import (
    backtest_command,
    models_command,
    promote_command,
    rollback_command,
    train_command,
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="log at INFO level")
def main(verbose: bool) -> None:
    """citybrain: forecasts and early warnings for a city operations centre."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


for command in (
    simulate_command,
    ingest_command,
    features_command,
    backtest_command,
    train_command,
    serve,
    keys_command,
    deliveries_command,
    demo,
):
    main.add_command(command)
for command in (promote_command, rollback_command, models_command):  # overrides by a person
    main.add_command(command)
