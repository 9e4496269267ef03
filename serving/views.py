"""The dashboard's poll, serialised once: ``/v1/risk`` documents as bytes with their ETag.

A dashboard polls every few seconds and the answer changes only when a task is rescored or a
duty officer closes a warning. :class:`RiskViews` builds each domain's document (validated
against :class:`RiskOut`) once per such change and keeps its JSON bytes and a strong ETag; a
filtered view (an area, a level) is cut from the built items and cached the same way. A poll
then costs a dictionary lookup, and a client holding the ETag gets 304 without a body.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
import polars as pl

from alerts import Level
from serving.schemas.risk import ForecastStep, RiskItem, RiskOut
from serving.scorers import Scorers
from serving.scoring import TaskScorer

_MAX_CUTS = 512
_Generation = tuple[int, int, int]  # the scorers' and the domain's generations, officers' changes


@dataclass(frozen=True)
class View:
    body: bytes
    etag: str


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``etag`` (or ``*``); weak tags compare
    by their value."""
    if not if_none_match:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def risk_item(
    scorer: TaskScorer, row: dict[str, Any], level: Level, path: list[dict[str, Any]]
) -> RiskItem:
    """One target's line of the risk document: its forecast path (its forecast rows in horizon
    order), probabilities and level."""
    probs = {k[2:]: round(float(v), 4) for k, v in row.items() if k.startswith("p_")}
    return RiskItem(
        series_id=row["series_id"],
        area_id=row["area_id"],
        label=scorer.label(row["series_id"]),
        label_en=scorer.label_en(row["series_id"]),
        observed=row["observed"],
        observed_ts=_iso(row["observed_ts"]),
        level=level.colour,
        level_zh=level.name_zh if level else None,
        probabilities=probs,
        peak_value=row["peak_value"],
        peak_ts=_iso(row["peak_ts"]),
        forecast=[
            ForecastStep(
                ts=_iso(r["ts"]),
                horizon_min=int(r["horizon"] / timedelta(minutes=1)),
                **{
                    k: round(float(v), 3)
                    for k, v in r.items()
                    if k == "yhat" or (k.startswith("q") and k[1:2].isdigit())
                },
            )
            for r in path
        ],
    )


def forecast_paths(forecasts: pl.DataFrame) -> dict[str, list[dict[str, Any]]]:
    """Each target's forecast rows in horizon order, read out of the frame in one pass (a
    sort and a row walk per target cost more than the document itself)."""
    paths: dict[str, list[dict[str, Any]]] = {}
    for r in forecasts.sort("series_id", "horizon").iter_rows(named=True):
        paths.setdefault(r["series_id"], []).append(r)
    return paths


class RiskViews:
    """Per domain, the built document and its filtered cuts, for the current generation."""

    def __init__(self, scorers: Scorers, levels: Callable[[str], Mapping[str, Level]]) -> None:
        self._scorers, self._levels = scorers, levels
        self._lock = threading.Lock()
        self._officer_changes = 0
        self._built: dict[str, tuple[_Generation, dict[str, Any]]] = {}
        self._views: dict[tuple[str, str | None, str | None], tuple[_Generation, View]] = {}

    def touch(self) -> None:
        """A person changed targets' levels (resolved a warning): rebuild on the next poll."""
        with self._lock:
            self._officer_changes += 1

    def get(self, domain: str, area_id: str | None = None, level: str | None = None) -> View:
        """The document of ``domain`` (404 via ``Scorers.get`` when not served), cut to an
        area and/or a level when asked."""
        scorer = self._scorers.get(domain)
        generation = (*self._scorers.generation_of(domain), self._officer_changes)
        key = (domain, area_id, level)
        cached = self._views.get(key)
        if cached is not None and cached[0] == generation:
            return cached[1]
        with self._lock:
            built = self._built.get(domain)
            if built is None or built[0] != generation:
                built = (generation, self._build(domain, scorer))
                self._built[domain] = built
            doc = built[1]
            if area_id is not None or level is not None:
                items = [
                    it
                    for it in doc["items"]
                    if (area_id is None or it["area_id"] == area_id)
                    and (level is None or it["level"] == level)
                ]
                doc = {**doc, "items": items}
            body = orjson.dumps(doc)
            view = View(body, '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"')
            stale = [k for k, (g, _) in self._views.items() if k[0] == domain and g != generation]
            for k in stale:
                del self._views[k]
            if len(self._views) < _MAX_CUTS:  # any area text can be asked for: bounded
                self._views[key] = (generation, view)
            return view

    def rebuild(self) -> None:
        """Build every served domain's document now (after a scoring, off the event loop),
        so that no poll waits for a build."""
        for domain in list(self._scorers.by_domain):
            self.get(domain)

    def _build(self, domain: str, scorer: TaskScorer) -> dict[str, Any]:
        snap = scorer.snapshot
        if snap is None:
            empty = RiskOut(domain=domain, origin=None, model_version=scorer.version, items=[])
            return empty.model_dump(mode="json", exclude_unset=True)
        levels = self._levels(domain)
        paths = forecast_paths(snap.forecasts)
        items = [
            risk_item(scorer, r, levels.get(r["series_id"], Level.NONE), paths[r["series_id"]])
            for r in snap.summary.sort("series_id").iter_rows(named=True)
        ]
        items.sort(
            key=lambda it: (-Level.parse(it.level), -max(it.probabilities.values(), default=0.0))
        )
        out = RiskOut(
            domain=domain,
            task=scorer.task.name,
            origin=_iso(snap.origin),
            scored_at=_iso(snap.scored_at),
            model_version=scorer.version,
            unit=scorer.unit or None,
            items=items,
        )
        return out.model_dump(mode="json", exclude_unset=True)
