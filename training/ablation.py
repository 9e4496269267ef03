"""Which covariate groups earn their place: refit the model without each group, same folds.

A group is one declared covariate (``rain_area``, ``ponding_area``, ``outages``, ...) with all its
columns. Cross-domain groups are those whose signal belongs to another domain than the task's
(ponding and rain for traffic and the hotline, traffic speeds for the hotline); every group can
be ablated, cross-domain ones are marked. A positive gain means the model is worse without it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import polars as pl
from tqdm.auto import tqdm

from features import TaskConfig, linked_covariates
from training.backtest import BacktestResult, fold_forecasts
from training.metrics import mae

# the domain each signal belongs to; weather inputs count as their own domain
SIGNAL_DOMAINS = {
    "ponding_cm": "waterlogging",
    "water_level_m": "waterlogging",
    "tide_level_m": "waterlogging",
    "pump_rate_m3s": "waterlogging",
    "gate_opening": "waterlogging",
    "rain_mm": "weather",
    "temperature_c": "weather",
    "speed_kmh": "traffic",
    "flow_vph": "traffic",
    "hotline_count": "hotline",
}
OWN_INPUTS = {"waterlogging": {"waterlogging", "weather"}}


@dataclass(frozen=True)
class GroupEffect:
    group: str
    domain: str
    cross_domain: bool
    columns: tuple[str, ...]
    mae_without: float
    gain: float  # mae_without - mae_with: how much worse the model is without the group

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "columns": list(self.columns)}


def covariate_groups(task: TaskConfig, columns: tuple[str, ...]) -> dict[str, tuple[str, str]]:
    """Group name -> (domain, column prefix) for every declared covariate with columns."""
    groups: dict[str, tuple[str, str]] = {}
    for cov in linked_covariates(task):
        domain = SIGNAL_DOMAINS.get(
            cov.signal, "events" if cov.signal.startswith("events_") else cov.signal
        )
        groups[cov.name] = (domain, f"{cov.name}_")
    for fc in task.features.known_ahead:
        groups[fc.name] = ("weather", fc.name)
    if task.features.rainstorm_signal:
        groups["rainstorm_level"] = ("weather", "rainstorm_level")
    return {
        g: v for g, v in groups.items() if any(c == v[1] or c.startswith(v[1]) for c in columns)
    }


def ablate(
    result: BacktestResult, *, only_cross_domain: bool = False, progress: bool = True
) -> list[GroupEffect]:
    """Refit without each group on the backtest's folds and compare MAE to the full model."""
    task, spec = result.task, result.spec
    full = mae(result.predictions.filter(pl.col("model") == result.chosen))
    own = OWN_INPUTS.get(task.domain, {task.domain})
    effects = []
    groups = covariate_groups(task, spec.columns)
    for name, (domain, prefix) in tqdm(
        groups.items(), desc="ablation", unit="group", disable=not progress
    ):
        cross = domain not in own
        if only_cross_domain and not cross:
            continue
        cols = tuple(c for c in spec.columns if c == prefix or c.startswith(prefix))
        reduced = replace(spec, columns=tuple(c for c in spec.columns if c not in cols))
        preds = pl.concat(
            [
                fold_forecasts(
                    result.frame, fold, task, reduced, task.model, None, result.eval_origins
                )
                for fold in result.folds
            ]
        )
        without = mae(preds)
        effects.append(GroupEffect(name, domain, cross, cols, without, without - full))
    return sorted(effects, key=lambda e: -e.gain)
