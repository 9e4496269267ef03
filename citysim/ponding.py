"""Standing water at low points and underpasses.

Water collects where rain falls faster than the local drains can take it; the drains' capacity
shrinks when the receiving river is high (backwater: the outfalls are submerged), and once rain
eases the water drains at a finite rate. Depth follows ``d[t] = clip(d[t-1] + delta[t], 0, rim)``:
never negative, and water beyond the rim of a full underpass or dip spills away instead of
piling up unseen (so a flooded underpass drains within hours once the rain stops).
"""

from __future__ import annotations

import numpy as np

from citysim.geography import Layout


def ponding_depth(
    layout: Layout, rain: np.ndarray, river_level: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Depth (cm) at each ponding sensor every 10 minutes.

    Args:
        rain: mm per 10 min at the rain gauges (steps x gauges).
        river_level: level (m) at the river gauges (steps x reaches).
    """
    n = len(layout.ponding_ids)
    local = rng.uniform(0.85, 1.25, n)  # the street is not exactly at the gauge
    intensity = rain[:, layout.ponding_rain] * 6.0 * local  # mm/h
    warn = layout.warning_m[layout.ponding_river]
    backwater = np.clip((river_level[:, layout.ponding_river] - (warn - 0.6)) / 0.8, 0, 1)
    capacity = layout.capacity_mm_h * (1 - 0.65 * backwater)
    gain = np.where(layout.underpass, 2.2, 1.1) * rng.uniform(0.8, 1.2, n)  # cm per mm excess
    drain = np.where(layout.underpass, 0.25, 0.5)  # cm/h per mm/h of spare capacity
    excess = intensity - capacity
    delta = np.where(excess > 0, gain * excess, drain * excess - 0.5) / 6.0
    rim = np.where(layout.underpass, 150.0, 70.0)
    depth = np.empty_like(delta)
    level = np.zeros(n)
    for t in range(delta.shape[0]):  # a loop in time, vectorised over sensors
        level = np.minimum(np.maximum(level + delta[t], 0.0), rim)
        depth[t] = level
    return np.round(depth, 1)
