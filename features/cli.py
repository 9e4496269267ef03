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

from features.adapters import ADAPTERS, AdapterOptions, ingest_format
from features.errors import CitybrainError, ConfigError, DataError
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
    "--format",
    "fmt",
    type=click.Choice(["canonical", *ADAPTERS]),
    default="canonical",
    show_default=True,
    help=(
        "Format of the FILES: canonical CSV/Parquet tables, or real public data turned into "
        "them: metr-la (speed matrix + sensor graph folder), usgs (NWIS instantaneous-value "
        "CSVs), camels (CAMELS-US folder), calls311 (LA MyLA311 CSV, NYC Council cases)."
    ),
)
@click.option(
    "--table",
    type=click.Choice(TABLES),
    default=None,
    help="Table every FILE holds; inferred from columns or file name when left out.",
)
@click.option(
    "--tz",
    default=None,
    help=(
        "IANA zone of timestamps written without an offset. Per format when left out: "
        "canonical refuses naive times; metr-la America/Los_Angeles (zone of --start); usgs "
        "UTC (NWIS exports); camels the basin's zone from its longitude; calls311 "
        "America/Los_Angeles (LA) or America/New_York (NYC)."
    ),
)
@click.option(
    "--start",
    default=None,
    help=(
        "metr-la: local time of the speed matrix's first row, which has no time column "
        "(default 2012-03-01T00:00, in --tz); rows follow at 5-minute steps. floodnet: the "
        "first day rebuilt (dry readings before it are not written)."
    ),
)
@click.option(
    "--forcing",
    default=None,
    help="camels only: basin forcing source, daymet (default), maurer or nldas.",
)
@click.option(
    "--absent-days",
    type=click.Choice(["zero", "missing"]),
    default=None,
    help="daily-counts only: a day the table does not list counts zero (default) or is left "
    "missing (a series of open days: business days, a declared open-days calendar).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@reports_errors
def ingest(
    data: Path,
    fmt: str,
    table: str | None,
    tz: str | None,
    start: str | None,
    forcing: str | None,
    absent_days: str | None,
    as_json: bool,
    files: tuple[Path, ...],
) -> None:
    """Validate FILES and merge them into DATA: canonical CSV/Parquet, or real data by --format.

    Every file is validated before anything is written: on invalid input the store is left as it
    was and the error names the file, row and column. Prints merge counts and a quality report;
    with --format (where FILES may be folders), first what the adapter did: missing values
    dropped, units converted, time zones assumed.

    \b
    citybrain ingest --data DATA series.csv observations.csv
    citybrain ingest --data DATA --format metr-la ../shared/data/metr-la-1week
    citybrain ingest --data DATA --format usgs ../shared/data/walnut-creek-usgs
    citybrain ingest --data DATA --format camels --forcing daymet ../shared/data/camels-us-4basins
    citybrain ingest --data DATA --format calls311 ../shared/data/la311-sample
    """
    if fmt == "canonical":
        used = {
            "--start": (start, "metr-la or floodnet"),
            "--forcing": (forcing, "camels"),
            "--absent-days": (absent_days, "daily-counts"),
        }
        for flag, (value, formats) in used.items():
            if value is not None:
                raise ConfigError(f"applies only to --format {formats}", key=flag)
        folders = [str(f) for f in files if f.is_dir()]
        if folders:
            raise DataError(
                "is a folder; canonical ingest takes CSV/Parquet files (or pass --format)",
                file=folders[0],
            )
        report = ingest_files(Store(data), files, table=table, tz=tz)
        notes: list[str] = []
    else:
        if table is not None:
            raise ConfigError("applies only to --format canonical", key="--table")
        if start is not None and fmt not in ("metr-la", "floodnet"):
            raise ConfigError("applies only to --format metr-la or floodnet", key="--start")
        if forcing is not None and fmt != "camels":
            raise ConfigError("applies only to --format camels", key="--forcing")
        if absent_days is not None and fmt != "daily-counts":
            raise ConfigError("applies only to --format daily-counts", key="--absent-days")
        options = AdapterOptions(
            tz=tz,
            start=start,
            forcing=forcing,
            absent_days="missing" if absent_days == "missing" else "zero",
        )
        report = ingest_format(Store(data), fmt, files, options)
        notes = options.notes
    if as_json:
        click.echo(
            json.dumps(
                {**report.to_dict(), "notes": notes} if notes else report.to_dict(), indent=2
            )
        )
    else:
        click.echo("\n".join([*notes, ""] if notes else []) + report.to_text())


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
    from features.coverage import describe_sparse, sparse_features
    from features.pipeline import KEY_COLUMNS, build_features, lookback, origin_range
    from features.tables import CityTables
    from features.task_tables import LATEST, data_span, task_tables
    from features.tasks import load_task

    task = load_task(task_name)
    # the event feeds are live up to the last origin, as they are for serving
    tables = task_tables(CityTables.from_store(Store(data)), task, live_until=LATEST)
    first, last = data_span(tables)
    origins = origin_range(first + lookback(task), last, task.train.origin_stride)
    frame = build_features(tables, origins)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(out)
    click.echo(
        f"{out}: {frame.height} rows x {frame.width} columns "
        f"({frame['series_id'].n_unique()} series, {origins.len()} origins)"
    )
    columns = [c for c in frame.columns if c not in (*KEY_COLUMNS, "y", "area_id")]
    if (said := describe_sparse(sparse_features(frame, columns))) is not None:
        click.secho(f"warning: {said}", fg="yellow")
