"""Reading the operators' YAML files (rosters, channels): validated on load, and the first
error reported with its file and key path, so a typo stops the service at start, never at three
in the morning when the storm comes."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from features import ConfigError

M = TypeVar("M", bound=BaseModel)


def validate_file_model(
    model: type[M], raw: Any, *, source: str, tags: frozenset[str] = frozenset()
) -> M:
    """``raw`` validated as ``model``; the first error names its key path and ``source``
    (``tags``: a tagged union's tag values, which pydantic puts in the path after a list
    index and the file does not have)."""
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        key = ""
        previous: Any = None
        for part in first["loc"]:
            skip = (
                part == "[key]"  # pydantic's marker for a mapping's key (an unknown level)
                or (isinstance(part, str) and part.startswith("function-"))  # a validator
                or (isinstance(previous, int) and part in tags)
            )
            previous = part
            if skip:
                continue
            key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
        msg = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
        raise ConfigError(f"{msg} in {source}", key=key) from None


def read_yaml(path: str | Path, *, what: str, key: str) -> Any:
    """The parsed YAML of an operator's file, or a ConfigError that says which and why."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{what} file {path} does not exist", key=key)
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}", key=key) from None
