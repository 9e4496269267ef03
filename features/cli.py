"""The ``features`` commands of the ``citybrain`` command line: ``ingest`` and ``features``.

``serving`` mounts these commands into its group. Each command reports a ``CitybrainError`` as a
one-line ``error: ...`` on stderr with exit code 2, through ``reports_errors``, so users see what
and where without a traceback; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from features.errors import CitybrainError
from features.ingest import ingest_files
from features.schemas import TABLES
from features.store import Store

F = TypeVar("F", bound=Callable[..., Any])

USER_ERROR_EXIT = 2


def reports_errors(command: F) -> F:
    """Wrap a command callback so a ``CitybrainError`` prints one line and exits with code 2."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except CitybrainError as err:
            click.echo(f"error: {' '.join(str(err).split())}", err=True)
            raise click.exceptions.Exit(USER_ERROR_EXIT) from None

    return wrapper  # type: ignore[return-value]


@click.command("ingest")
@click.option(
    "--data",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Data folder of the canonical store (created if absent).",
)
@click.option(
    "--table",
    type=click.Choice(TABLES),
    default=None,
    help="Table every FILE holds; inferred from columns or file name when left out.",
)
@click.option("--tz", default=None, help="IANA zone of timestamps written without an offset.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@reports_errors
def ingest(
    data: Path, table: str | None, tz: str | None, as_json: bool, files: tuple[Path, ...]
) -> None:
    """Validate CSV/Parquet FILEs in the canonical schema and merge them into DATA.

    Every file is validated before anything is written: on invalid input the store is left as it
    was and the error names the file, row and column. Prints merge counts and a quality report.
    """
    report = ingest_files(Store(data), files, table=table, tz=tz)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        click.echo(report.to_text())


data_option = click.option(
    "--data",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="data folder of canonical Parquet tables",
)
task_option = click.option(
    "--task", "task_name", required=True, help="shipped task name or path to a task config"
)


def out_option(what: str) -> Callable[[F], F]:
    return click.option(
        "--out", type=click.Path(path_type=Path, dir_okay=False), required=True, help=what
    )


@click.command("features")
@data_option
@task_option
@out_option("feature frame file (.parquet)")
@reports_errors
def features(data: Path, task_name: str, out: Path) -> None:
    """Build the task's feature frame: one row per series, origin and horizon, with ``y``."""
    from features.durations import parse_duration
    from features.pipeline import build_features, data_span, lookback, origin_range
    from features.tables import CityTables
    from features.tasks import load_task

    task = load_task(task_name)
    tables = CityTables.from_store(Store(data))
    first, last = data_span(tables, task)
    origins = origin_range(first + lookback(task), last, parse_duration(task.train.origin_stride))
    frame = build_features(tables, task, origins)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(out)
    click.echo(
        f"{out}: {frame.height} rows x {frame.width} columns "
        f"({frame['series_id'].n_unique()} series, {origins.len()} origins)"
    )
