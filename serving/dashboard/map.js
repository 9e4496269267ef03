// The city's areas drawn by ECharts' geo component from GeoJSON the API serves (no tile
// service), each in its highest current level's colour, with sensors and gauges as points.
/* global echarts */
import { fmtNumber, levelHex, levelName, levelNumber, placeName, t, targetName } from "./i18n.js";

const MAP = "citybrain";
let areaIds = [];

// Districts only, where the table has them: the city's own outline would cover them all.
export function registerAreas(collection) {
  const drawn = collection.features.filter((f) => f.geometry);
  const districts = drawn.filter((f) => f.properties.parent_id);
  const shown = districts.length ? districts : drawn;
  areaIds = shown.map((f) => f.id);
  echarts.registerMap(MAP, { type: "FeatureCollection", features: shown });
  return areaIds;
}

export function makeMap(el, onPick) {
  const chart = echarts.init(el);
  chart.on("click", (p) => {
    if (p.seriesType === "scatter" && p.data) onPick(p.data.domain, p.data.name);
  });
  new ResizeObserver(() => chart.resize()).observe(el);
  return chart;
}

// The highest level of any target in each area, over every domain given.
export function levelsByArea(itemsByDomain) {
  const out = {};
  for (const items of Object.values(itemsByDomain)) {
    for (const item of items) {
      if (!item.area_id) continue;
      const now = out[item.area_id] || "none";
      if (levelNumber(item.level) > levelNumber(now)) out[item.area_id] = item.level;
      else out[item.area_id] = now;
    }
  }
  return out;
}

function scale() {
  return Math.max(1, window.innerWidth / 1920);
}

function tip(p, areaLevels) {
  if (p.componentType === "geo") {
    const level = areaLevels[p.name] || "none";
    return `${placeName(p.name)}<br>${levelName(level)}`;
  }
  const d = p.data;
  const prob = d.item.probabilities ? Math.max(0, ...Object.values(d.item.probabilities)) : null;
  const parts = [targetName(d.item), levelName(d.item.level)];
  if (d.item.peak_value !== undefined) parts.push(`${t("peak")} ${fmtNumber(d.item.peak_value, 2)}${d.unit || ""}`);
  if (prob !== null) parts.push(`${t("prob")} ${Math.round(prob * 100)}%`);
  return parts.join("<br>");
}

// points: [{domain, unit, item: {series_id, area_id, level, ...}, lat, lon}]
export function drawMap(chart, { areaLevels, points }) {
  const k = scale();
  const regions = areaIds.map((id) => {
    const colour = levelHex(areaLevels[id] || "none");
    return { name: id, itemStyle: { areaColor: colour }, emphasis: { itemStyle: { areaColor: colour } } };
  });
  chart.setOption(
    {
      tooltip: { trigger: "item", formatter: (p) => tip(p, areaLevels), textStyle: { fontSize: 13 * k } },
      geo: {
        map: MAP,
        nameProperty: "area_id",
        roam: true,
        layoutCenter: ["50%", "50%"],
        layoutSize: "95%",
        regions,
        itemStyle: { borderColor: "#0b1622", borderWidth: 2 * k, areaColor: levelHex("none") },
        label: { show: true, color: "#fff", fontSize: 14 * k, fontWeight: "bold", formatter: (p) => placeName(p.name) },
        emphasis: { label: { show: true, color: "#fff" }, itemStyle: { borderColor: "#fff", borderWidth: 3 * k } },
      },
      series: [
        {
          type: "scatter",
          coordinateSystem: "geo",
          geoIndex: 0,
          data: points
            .slice()
            .sort((a, b) => levelNumber(a.item.level) - levelNumber(b.item.level))
            .map((p) => ({
              name: p.item.series_id,
              value: [p.lon, p.lat],
              domain: p.domain,
              unit: p.unit,
              item: p.item,
              symbolSize: (5 + 2.5 * levelNumber(p.item.level)) * k,
              itemStyle: {
                color: levelHex(p.item.level),
                borderColor: levelNumber(p.item.level) ? "#fff" : "#9ab",
                borderWidth: k,
              },
            })),
        },
      ],
    },
    { replaceMerge: ["series"] },
  );
}
