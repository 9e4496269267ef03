"""``citybrain simulate``: write the simulated city's canonical tables to a data folder."""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path

import click

from citysim.city import simulate as run_simulation
from citysim.city import write_city


def _parse_typhoon(value: str) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError as err:
        raise click.BadParameter(
            f"{value!r} is not an ISO date-time like 2025-08-01T06:00"
        ) from err
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC).replace(tzinfo=None)
    return when


@click.command("simulate")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DATA",
    help="Data folder to write the canonical tables to.",
)
@click.option(
    "--days",
    default=365,
    show_default=True,
    type=int,
    metavar="N",
    help="Number of days to simulate.",
)
@click.option(
    "--seed",
    default=7,
    show_default=True,
    type=int,
    metavar="S",
    help="Random seed; the same seed gives byte-identical files.",
)
@click.option(
    "--start",
    default="2025-01-01",
    show_default=True,
    metavar="YYYY-MM-DD",
    help="First simulated day (00:00 UTC).",
)
@click.option(
    "--typhoon",
    "typhoons",
    multiple=True,
    metavar="ISO-DATETIME",
    help="Force a typhoon landfall at this time (UTC unless an offset is given); repeatable.",
)
def simulate(out: Path, days: int, seed: int, start: str, typhoons: tuple[str, ...]) -> None:
    """Simulate the city (rain, rivers, ponding, traffic, hotline) and write its tables."""
    if days < 1 or days > 3660:
        raise click.BadParameter(f"must be between 1 and 3660, got {days}", param_hint="--days")
    try:
        first = dt.date.fromisoformat(start)
    except ValueError as err:
        raise click.BadParameter(
            f"{start!r} is not a date like 2025-01-01", param_hint="--start"
        ) from err
    landfalls = [_parse_typhoon(t) for t in typhoons]
    began = time.perf_counter()
    tables = run_simulation(days=days, seed=seed, start=first, typhoons=landfalls, progress=True)
    write_city(out, tables)
    elapsed = time.perf_counter() - began
    for name, frame in tables.items():
        click.echo(f"{name}: {frame.height} rows")
    click.echo(f"wrote {out} in {elapsed:.1f} s", err=True)
    sys.stderr.flush()
