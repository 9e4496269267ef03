"""The feature spec: which columns a model was trained on and how series were encoded.

Saved with every model, so serving rebuilds exactly the features the model was trained on and
refuses a model whose spec no longer matches the task.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

import polars as pl

from features.tasks import TaskConfig

_NOT_FEATURES = {"series_id", "origin", "horizon", "ts", "area_id", "y", "series_code"}


@dataclass(frozen=True)
class FeatureSpec:
    task: str
    columns: tuple[str, ...]
    categorical: tuple[str, ...] = ()
    series_codes: dict[str, int] = field(default_factory=dict)
    task_hash: str = ""

    @classmethod
    def from_frame(
        cls, frame: pl.DataFrame, task: TaskConfig, series_ids: list[str]
    ) -> FeatureSpec:
        cols = [c for c in frame.columns if c not in _NOT_FEATURES]
        categorical: list[str] = []
        if task.features.series_category:
            cols.append("series_code")
            categorical.append("series_code")
        return cls(
            task=task.name,
            columns=tuple(cols),
            categorical=tuple(categorical),
            series_codes={s: i for i, s in enumerate(sorted(series_ids))},
            task_hash=task_hash(task),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> FeatureSpec:
        return cls(
            task=raw["task"],
            columns=tuple(raw["columns"]),
            categorical=tuple(raw.get("categorical", ())),
            series_codes=dict(raw.get("series_codes", {})),
            task_hash=raw.get("task_hash", ""),
        )


def task_hash(task: TaskConfig) -> str:
    """A short hash of the resolved task config, to tell configs apart in runs."""
    text = json.dumps(task.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]
