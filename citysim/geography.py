"""The city's fixed layout: districts, gauges, sensors, rivers, roads, pumps and gates.

The layout does not depend on the run's seed, so series ids and their attributes are the same in
every simulated data set; only the weather and what follows from it change with the seed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from citysim.places import gauge_place, ponding_place, road_place

# District bounding boxes (lon0, lat0, lon1, lat1), roughly where the real districts lie.
DISTRICTS: dict[str, tuple[str, str, tuple[float, float, float, float]]] = {
    "gulou": ("Gulou", "鼓楼区", (119.24, 26.07, 119.32, 26.13)),
    "taijiang": ("Taijiang", "台江区", (119.28, 26.03, 119.34, 26.07)),
    "cangshan": ("Cangshan", "仓山区", (119.22, 25.96, 119.36, 26.03)),
    "jinan": ("Jin'an", "晋安区", (119.32, 26.07, 119.42, 26.15)),
    "mawei": ("Mawei", "马尾区", (119.40, 25.97, 119.50, 26.06)),
    "changle": ("Changle", "长乐区", (119.50, 25.90, 119.60, 25.98)),
}
CITY_BOX = (119.20, 25.90, 119.60, 26.15)
POPULATION_SHARE = {"gulou": 0.2, "taijiang": 0.15, "cangshan": 0.22, "jinan": 0.2}
POPULATION_SHARE |= {"mawei": 0.08, "changle": 0.15}

# Inland rivers: (name, district, gauges from upstream to downstream). Gauges of a river drain
# one into the next; the last one drains through a sluice gate (and pumps) into the Min River.
RIVERS = [
    ("Baima River", "gulou", 4),
    ("Jin'an River", "jinan", 4),
    ("Guangming Port", "taijiang", 3),
    ("Liangcuo River", "cangshan", 3),
    ("Mawei River", "mawei", 3),
    ("Changle Canal", "changle", 3),
]
RAIN_PER_DISTRICT = 5
PONDING_PER_DISTRICT = {"gulou": 8, "taijiang": 8, "cangshan": 7, "jinan": 7, "mawei": 5}
PONDING_PER_DISTRICT |= {"changle": 5}
# Road corridors: (slug, name, [(district, sensors), ...]).
CORRIDORS = [
    ("wusi", "Wusi Road", [("gulou", 4), ("taijiang", 4)]),
    ("bayiqi", "Bayiqi Road", [("gulou", 3), ("taijiang", 3), ("cangshan", 2)]),
    ("ring2", "Second Ring Road", [("gulou", 4), ("jinan", 4), ("taijiang", 2)]),
    ("ring3", "Third Ring Road", [("cangshan", 5), ("jinan", 4)]),
    ("jiangbin", "Jiangbin Avenue", [("taijiang", 3), ("cangshan", 2), ("mawei", 3)]),
    ("fuma", "Fuma Road", [("jinan", 4), ("mawei", 4)]),
    ("airport", "Airport Expressway", [("mawei", 2), ("changle", 7)]),
]
TEMPERATURE_STATIONS = ("gulou", "cangshan", "mawei", "changle")
INNER_PUMPS = ("level-gulou-02", "level-jinan-02")


@dataclass
class Layout:
    """Positions and wiring of every series, as numpy arrays the models index into."""

    series: list[dict] = field(default_factory=list)
    rain_ids: list[str] = field(default_factory=list)
    rain_xy: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    rain_area: list[str] = field(default_factory=list)
    level_ids: list[str] = field(default_factory=list)
    level_area: list[str] = field(default_factory=list)
    level_rain: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    downstream: np.ndarray = field(default_factory=lambda: np.zeros(0, int))  # -1: outlet
    warning_m: np.ndarray = field(default_factory=lambda: np.zeros(0))
    normal_m: np.ndarray = field(default_factory=lambda: np.zeros(0))
    ponding_ids: list[str] = field(default_factory=list)
    ponding_area: list[str] = field(default_factory=list)
    ponding_rain: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    ponding_river: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    underpass: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    capacity_mm_h: np.ndarray = field(default_factory=lambda: np.zeros(0))
    road_ids: list[str] = field(default_factory=list)
    road_xy: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    road_area: list[str] = field(default_factory=list)
    road_rain: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    road_ponding: np.ndarray = field(default_factory=lambda: np.zeros(0, int))  # -1: none
    road_neighbours: list[list[int]] = field(default_factory=list)
    free_flow: np.ndarray = field(default_factory=lambda: np.zeros(0))
    pump_ids: list[str] = field(default_factory=list)
    pump_level: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    pump_capacity: np.ndarray = field(default_factory=lambda: np.zeros(0))
    gate_ids: list[str] = field(default_factory=list)
    gate_level: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    temp_ids: list[str] = field(default_factory=list)
    temp_area: list[str] = field(default_factory=list)


def _point(rng: np.random.Generator, district: str, margin: float = 0.1) -> tuple[float, float]:
    lon0, lat0, lon1, lat1 = DISTRICTS[district][2]
    u = rng.uniform(margin, 1 - margin, 2)
    return round(lon0 + u[0] * (lon1 - lon0), 5), round(lat0 + u[1] * (lat1 - lat0), 5)


def _km(xy: np.ndarray) -> np.ndarray:
    """Lon/lat degrees to local kilometres (good enough over 40 km)."""
    return np.column_stack([xy[:, 0] * 100.0, xy[:, 1] * 111.0])


def nearest(points: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Index of the nearest target for each point (lon/lat arrays)."""
    d = ((_km(points)[:, None, :] - _km(targets)[None, :, :]) ** 2).sum(-1)
    return d.argmin(1)


def _add(lay: Layout, sid: str, signal: str, unit: str, area: str, xy: tuple, attrs: dict) -> None:
    lay.series.append(
        dict(series_id=sid, signal=signal, unit=unit, area_id=area, lon=xy[0], lat=xy[1])
        | {"attrs": json.dumps(attrs, sort_keys=True, ensure_ascii=False)}
    )


def build_layout() -> Layout:
    """Place every sensor (fixed seed) and wire rivers, drains and the road graph."""
    rng = np.random.default_rng(20250101)
    lay = Layout()
    rain_xy = []
    for d in DISTRICTS:
        for i in range(RAIN_PER_DISTRICT):
            sid, xy = f"rain-{d}-{i + 1:02d}", _point(rng, d)
            lay.rain_ids.append(sid)
            lay.rain_area.append(d)
            rain_xy.append(xy)
            _add(lay, sid, "rain_mm", "mm", d, xy, {"interval_min": 10})
    lay.rain_xy = np.array(rain_xy)

    level_xy, down, warn, normal, level_attrs = [], [], [], [], []
    for river, d, n in RIVERS:
        first = len(lay.level_ids)
        for i in range(n):
            sid, xy = f"level-{d}-{i + 1:02d}", _point(rng, d, 0.15)
            upstream = [lay.level_ids[-1]] if i else []
            if river == "Guangming Port" and i == 0:
                upstream.append("level-jinan-04")  # the Jin'an River feeds Guangming Port
            lay.level_ids.append(sid)
            lay.level_area.append(d)
            level_xy.append(xy)
            normal.append(round(4.0 + rng.uniform(-0.2, 0.3), 2))
            warn.append(round(normal[-1] + rng.uniform(0.8, 1.1), 2))
            down.append(first + i + 1 if i < n - 1 else -1)
            # the water authority's levels: warning (警戒) and guarantee (保证, the highest the
            # banks are built to hold), 0.8 m above it
            attrs = {"river": river, "upstream": upstream, "warning_level_m": warn[-1]}
            attrs |= {"guarantee_level_m": round(warn[-1] + 0.8, 2), "normal_level_m": normal[-1]}
            level_attrs.append(attrs | gauge_place(river, i + 1))
    lay.downstream = np.array(down)
    lay.downstream[lay.level_ids.index("level-jinan-04")] = lay.level_ids.index("level-taijiang-01")
    lay.warning_m, lay.normal_m = np.array(warn), np.array(normal)
    level_points = np.array(level_xy)
    lay.level_rain = nearest(level_points, lay.rain_xy)
    for k, attrs in enumerate(level_attrs):
        attrs["rain_gauge"] = lay.rain_ids[lay.level_rain[k]]  # the nearest rain gauge
        xy = (level_xy[k][0], level_xy[k][1])
        _add(lay, lay.level_ids[k], "water_level_m", "m", lay.level_area[k], xy, attrs)
    _add(lay, "tide-minjiang", "tide_level_m", "m", "taijiang", (119.31, 26.04), {"river": "Min"})

    pond_xy = []
    for d, n in PONDING_PER_DISTRICT.items():
        for i in range(n):
            sid, xy = f"ponding-{d}-{i + 1:02d}", _point(rng, d)
            under = bool(i % 3 == 0)
            cap = round(float(rng.uniform(25, 40) if not under else rng.uniform(20, 30)), 1)
            lay.ponding_ids.append(sid)
            lay.ponding_area.append(d)
            lay.underpass = np.append(lay.underpass, under)
            lay.capacity_mm_h = np.append(lay.capacity_mm_h, cap)
            pond_xy.append(xy)
    pond_points = np.array(pond_xy)
    lay.ponding_rain = nearest(pond_points, lay.rain_xy)
    own = np.array([[a == b for b in lay.level_area] for a in lay.ponding_area])
    dist = ((_km(pond_points)[:, None] - _km(level_points)[None]) ** 2).sum(-1) + 1e6 * ~own
    lay.ponding_river = dist.argmin(1)
    for j, sid in enumerate(lay.ponding_ids):
        attrs = {
            "rain_gauge": lay.rain_ids[lay.ponding_rain[j]],
            "river_gauge": lay.level_ids[lay.ponding_river[j]],
            "underpass": bool(lay.underpass[j]),
            "drain_capacity_mm_h": float(lay.capacity_mm_h[j]),
            **ponding_place(j, underpass=bool(lay.underpass[j])),
        }
        _add(lay, sid, "ponding_cm", "cm", lay.ponding_area[j], tuple(pond_points[j]), attrs)

    _build_roads(lay, rng, pond_points)
    _build_works(lay, rng, level_points)
    return lay


def _build_roads(lay: Layout, rng: np.random.Generator, pond_xy: np.ndarray) -> None:
    """Road sensors along corridors; neighbours follow the corridor and cross at junctions."""
    road_xy, corridor_of, names = [], [], []
    for slug, name, legs in CORRIDORS:
        k = 0
        for d, n in legs:
            for _ in range(n):
                k += 1
                lay.road_ids.append(f"road-{slug}-{k:02d}")
                lay.road_area.append(d)
                road_xy.append(_point(rng, d))
                corridor_of.append(slug)
                names.append(name)
    lay.road_xy = np.array(road_xy)
    n = len(lay.road_ids)
    nbrs: list[set[int]] = [set() for _ in range(n)]
    for i in range(n - 1):
        if corridor_of[i] == corridor_of[i + 1]:
            nbrs[i].add(i + 1)
            nbrs[i + 1].add(i)
    km = _km(lay.road_xy)
    dist = ((km[:, None] - km[None]) ** 2).sum(-1)
    for i in range(n):  # a junction with the nearest sensor of another corridor
        other = [j for j in range(n) if corridor_of[j] != corridor_of[i]]
        j = min(other, key=lambda j: dist[i, j])
        if dist[i, j] < 4.0**2:
            nbrs[i].add(j)
            nbrs[j].add(i)
    lay.road_neighbours = [sorted(s) for s in nbrs]
    lay.road_rain = nearest(lay.road_xy, lay.rain_xy)
    near = nearest(lay.road_xy, pond_xy)
    dpond = np.sqrt(((km - _km(pond_xy)[near]) ** 2).sum(-1))
    lay.road_ponding = np.where(dpond < 2.5, near, -1)
    lay.free_flow = np.where(np.isin(corridor_of, ["airport", "ring3"]), 80.0, 50.0)
    lay.free_flow = np.round(lay.free_flow + rng.uniform(-5, 10, n), 0)
    for i, sid in enumerate(lay.road_ids):
        pond = int(lay.road_ponding[i])
        attrs = {
            "free_flow_kmh": float(lay.free_flow[i]),
            "neighbours": [lay.road_ids[j] for j in lay.road_neighbours[i]],
            "ponding_sensor": lay.ponding_ids[pond] if pond >= 0 else None,
            "corridor": names[i],
            **road_place(names[i], int(sid.rsplit("-", 1)[1])),
        }
        _add(lay, sid, "speed_kmh", "km/h", lay.road_area[i], tuple(lay.road_xy[i]), attrs)


def _build_works(lay: Layout, rng: np.random.Generator, level_xy: np.ndarray) -> None:
    """Pumping stations and sluice gates at river outlets, and the temperature stations."""
    outlets = [i for i, d in enumerate(lay.downstream) if d < 0]
    pumps = [(i, 30.0) for i in outlets] + [(lay.level_ids.index(g), 12.0) for g in INNER_PUMPS]
    for i, cap in pumps:
        d = lay.level_area[i]
        sid = f"pump-{d}-{sum(p.startswith(f'pump-{d}-') for p in lay.pump_ids) + 1:02d}"
        lay.pump_ids.append(sid)
        lay.pump_level = np.append(lay.pump_level, i)
        lay.pump_capacity = np.append(lay.pump_capacity, cap)
        xy = tuple(np.round(level_xy[i] + rng.uniform(-0.003, 0.003, 2), 5))
        attrs = {"river_gauge": lay.level_ids[i], "capacity_m3s": cap}
        _add(lay, sid, "pump_rate_m3s", "m3/s", d, xy, attrs)
    for i in outlets:
        d = lay.level_area[i]
        sid = f"gate-{d}-01"
        lay.gate_ids.append(sid)
        lay.gate_level = np.append(lay.gate_level, i)
        xy = tuple(np.round(level_xy[i] + rng.uniform(-0.003, 0.003, 2), 5))
        _add(lay, sid, "gate_opening", "fraction", d, xy, {"river_gauge": lay.level_ids[i]})
    for d in TEMPERATURE_STATIONS:
        lay.temp_ids.append(f"temp-{d}")
        lay.temp_area.append(d)
        _add(lay, f"temp-{d}", "temperature_c", "degC", d, _point(rng, d), {"interval_min": 60})


def _polygon(box: tuple[float, float, float, float]) -> str:
    lon0, lat0, lon1, lat1 = box
    ring = [[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]
    return json.dumps({"type": "Polygon", "coordinates": [ring]})


def areas_frame() -> pl.DataFrame:
    """The city and its six central districts, with rough rectangular outlines."""
    rows: list[dict[str, str | None]] = [
        dict(area_id="fuzhou", name="Fuzhou", name_zh="福州市", parent_id=None)
    ]
    rows[0]["geometry"] = _polygon(CITY_BOX)
    for aid, (name, zh, box) in DISTRICTS.items():
        district: dict[str, str | None] = dict(
            area_id=aid, name=name, name_zh=zh, parent_id="fuzhou"
        )
        rows.append(district | {"geometry": _polygon(box)})
    return pl.DataFrame(rows).sort("area_id")


def series_frame(lay: Layout) -> pl.DataFrame:
    return pl.DataFrame(lay.series).sort("series_id")
