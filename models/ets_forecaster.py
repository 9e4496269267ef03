"""The ``ets`` family: exponential smoothing per series (statsmodels ``ETSModel``).

Additive error, an optional (damped) additive trend and an additive season of ``season`` (a
duration, converted to steps; skipped when longer than 288 steps, a daily season at 5 minutes
being the longest kept, or shorter than 2). ETS regresses on nothing, so it overrides none of
the base's hooks: fit, predict and the summary are those of
:class:`models.statistical._StatisticalForecaster`, and the model itself is :mod:`models.ets`.

Pickles written before this module existed name ``models.statistical.EtsForecaster``;
:mod:`models.statistical` re-exports the class by that name, so they still load.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from models.series_params import COMMON_PARAMS, check_flag, whole_steps
from models.series_state import _Config
from models.statistical import _StatisticalForecaster

MAX_SEASON_STEPS = 288

_ETS_PARAMS = COMMON_PARAMS | {"season", "select_season", "trend", "damped"}


class EtsForecaster(_StatisticalForecaster):
    """ETS with additive error per series (statsmodels ``ETSModel``); see the module docstring.

    Parameters (``model.params``): ``season`` (duration or null; default 1d, 7d on a daily grid;
    skipped when longer than 288 steps or the data holds fewer than 3 periods),
    ``select_season`` (true: kept per series only where it lowers the AIC), ``trend`` (false),
    ``damped`` (true; with a trend), ``fit_window``, ``filter_window``, ``max_gap``,
    ``intervals``, ``maxiter`` (200), ``n_jobs``.
    """

    family = "ets"
    _allowed = frozenset(_ETS_PARAMS)

    def _defaults(self, step: timedelta) -> dict[str, Any]:
        return {
            "season": "1d" if step < timedelta(days=1) else "7d",
            "select_season": True,
            "trend": False,
            "damped": True,
            "maxiter": 200,
        }

    def _config(self, p: dict[str, Any], **common: Any) -> _Config:
        season = 0
        if p["season"] not in (None, "none"):
            season = whole_steps(p["season"], self.task.step, "model.params.season")
        if season < 2 or season > MAX_SEASON_STEPS:
            season = 0
        return _Config(
            season_steps=season,
            select_season=check_flag(p["select_season"], "model.params.select_season"),
            trend=check_flag(p["trend"], "model.params.trend"),
            damped=check_flag(p["damped"], "model.params.damped"),
            **common,
        )
