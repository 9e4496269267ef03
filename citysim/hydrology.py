"""Rivers, lakes, pumps, sluice gates and the Min River tide.

Each river gauge stands for one reach: a linear reservoir whose storage above its sill drains
downstream at rate ``k * excess``. Outlet reaches drain through a sluice gate into the Min River,
which only works while the river is above the tide, and through pumps, which work at any tide.
Before a forecast storm the water authority lowers the target level (pre-emptive drawdown), so
gates and pumps run early. Every volume that moves is booked, so the budget closes exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from citysim.geography import Layout

STEP_S = 600.0
TIDE_PERIOD_H = 12.4206
SPRING_NEAP_D = 14.765
EPOCH = np.datetime64("2000-01-06T00:00", "us")
DRAWDOWN_M = 0.6  # how far below normal the authority lowers rivers before a storm


def astronomical_tide(ts: np.ndarray) -> np.ndarray:
    """Predicted Min River level (m): semi-diurnal M2 tide, spring/neap beat, diurnal inequality.

    Phases are tied to a fixed epoch, so the tide is the same function of time in every run:
    that is what makes tide tables known days ahead.
    """
    h = (ts - EPOCH).astype(np.int64) / 3.6e9
    amp = 1.5 + 0.45 * np.cos(2 * np.pi * h / (24 * SPRING_NEAP_D))
    return (
        3.0
        + amp * np.cos(2 * np.pi * h / TIDE_PERIOD_H)
        + 0.15 * np.cos(2 * np.pi * h / 24.84 + 1.0)
    )


def simulate_tide(ts: np.ndarray, typhoon: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Observed tide: astronomical plus storm surge during typhoons and slow weather noise."""
    slow = lfilter([1.0], [1.0, -0.995], rng.normal(0, 0.01, len(ts)))  # AR(1), sd ~0.1 m
    return astronomical_tide(ts) + 0.9 * typhoon + slow + rng.normal(0, 0.02, len(ts))


@dataclass
class Rivers:
    """Per-step results of the river model (arrays shaped steps x reaches unless noted)."""

    level: np.ndarray
    storage: np.ndarray  # m3 at the end of each step
    inflow: np.ndarray  # m3/s: runoff + upstream, over each step
    outflow: np.ndarray  # m3/s: downstream/gate + pumps, over each step
    pump: np.ndarray  # (steps, pumps) m3/s
    gate: np.ndarray  # (steps, gates) opening 0..1


@dataclass(frozen=True)
class ReachParams:
    surface_m2: np.ndarray
    catchment_m2: np.ndarray
    k_per_s: np.ndarray
    runoff: float = 0.6
    base_m3s: float = 0.3


def reach_params(layout: Layout) -> ReachParams:
    """Outlet reaches are wider (lakes and the widened mouths) and drain faster through gates."""
    outlet = layout.downstream < 0
    n = len(outlet)
    surface = np.where(outlet, 4e5, 2e5)
    catchment = np.full(n, 7e6)
    k = np.where(outlet, 1 / (2.0 * 3600), 1 / (3.0 * 3600))
    return ReachParams(surface, catchment, k)


def simulate_rivers(
    layout: Layout, reach_rain: np.ndarray, tide: np.ndarray, drawdown: np.ndarray
) -> Rivers:
    """Route rain through the reaches step by step.

    Args:
        reach_rain: rain (mm per 10 min) over each reach's catchment, steps x reaches.
        tide: Min River level (m) at each step.
        drawdown: True where the authority is lowering that reach ahead of a storm.
    """
    p = reach_params(layout)
    steps, n = reach_rain.shape
    sill = p.surface_m2 * 1.0  # storage at the normal level: 1 m above the dead level
    dead = layout.normal_m - 1.0
    outlet = layout.downstream < 0
    route = np.zeros((n, n))  # route[i, j] = 1 if reach j drains into reach i
    for j, d in enumerate(layout.downstream):
        if d >= 0:
            route[d, j] = 1.0
    decay = 1 - np.exp(-p.k_per_s * STEP_S)
    pump_of = layout.pump_level
    assert len(set(pump_of.tolist())) == len(pump_of), "one pumping station per reach"
    pumping = np.zeros(len(pump_of), bool)
    gate_of = layout.gate_level
    runoff = reach_rain / 1000 / STEP_S * p.catchment_m2 * p.runoff + p.base_m3s
    s = sill.copy()
    q_prev = np.zeros(n)
    out = Rivers(
        np.zeros((steps, n)),
        np.zeros((steps, n)),
        np.zeros((steps, n)),
        np.zeros((steps, n)),
        np.zeros((steps, len(pump_of))),
        np.zeros((steps, len(gate_of))),
    )
    for t in range(steps):
        level = dead + s / p.surface_m2
        target = np.where(drawdown[t], sill - DRAWDOWN_M * p.surface_m2, sill)
        head = level - tide[t]
        opening = np.where(outlet, np.clip((head - 0.05) / 0.4, 0, 1), 1.0)
        opening = np.where(outlet & (s <= target), 0.0, opening)
        inflow = runoff[t] + route @ q_prev
        q_nat = np.maximum(s - target, 0) * decay * opening / STEP_S
        lvl_p = level[pump_of]
        start = lvl_p > layout.normal_m[pump_of] + 0.4
        start |= drawdown[t, pump_of] & (
            s[pump_of] > target[pump_of] + 0.05 * p.surface_m2[pump_of]
        )
        stop = s[pump_of] <= target[pump_of]
        pumping = (pumping | start) & ~stop
        want = np.where(pumping, layout.pump_capacity, 0.0)
        avail = s[pump_of] / STEP_S + inflow[pump_of] - q_nat[pump_of]
        out.pump[t] = np.minimum(want, np.maximum(avail, 0))  # never more than the reach holds
        q_pump = np.zeros(n)
        q_pump[pump_of] = out.pump[t]
        outflow = q_nat + q_pump
        s = s + (inflow - outflow) * STEP_S
        q_prev = q_nat
        out.inflow[t], out.outflow[t], out.storage[t] = inflow, outflow, s
        out.gate[t] = opening[gate_of] * (q_nat[gate_of] > 0)
    out.level = dead + out.storage / p.surface_m2
    return out


@dataclass(frozen=True)
class Budget:
    """Volumes of one reach over a run: storage change must equal inflow minus outflow."""

    storage_change_m3: float
    inflow_m3: float
    outflow_m3: float

    @property
    def residual_m3(self) -> float:
        return self.storage_change_m3 - (self.inflow_m3 - self.outflow_m3)


def reservoir_budget(rivers: Rivers, layout: Layout, reach: int) -> Budget:
    """The water budget of one reach, from the recorded flows (for mass-balance checks)."""
    start = reach_params(layout).surface_m2[reach] * 1.0
    return Budget(
        storage_change_m3=float(rivers.storage[-1, reach] - start),
        inflow_m3=float(rivers.inflow[:, reach].sum() * STEP_S),
        outflow_m3=float(rivers.outflow[:, reach].sum() * STEP_S),
    )
