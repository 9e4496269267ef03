"""Error classes that say what went wrong, where, and what to do.

They live in ``features`` because it is the lowest package: every other package may raise them,
and the HTTP app maps each to its status with one handler. The command line prints ``str(err)``
as a one-line reason and exits non-zero.
"""

from __future__ import annotations


class CitybrainError(Exception):
    """Base of every error a user can act on."""

    http_status: int = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class DataError(CitybrainError):
    """Input data is invalid. Names the file (or request field), row and column where known."""

    http_status = 422

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        where = []
        if file is not None:
            where.append(f"file {file}")
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        full = f"{', '.join(where)}: {message}" if where else message
        super().__init__(full)
        self.file, self.row, self.column = file, row, column


class ConfigError(CitybrainError):
    """A configuration value is invalid; names the key path and, where finite, allowed values."""

    http_status = 400

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key


class LeakageError(CitybrainError):
    """A computation would use data not available at its origin."""

    http_status = 500


class NotFittedError(CitybrainError):
    """A model was asked to predict before it was fitted, or no champion is loaded."""

    http_status = 503


class NotFoundError(CitybrainError):
    """A named thing (task, series, warning, model) does not exist."""

    http_status = 404
