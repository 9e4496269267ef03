// One target's forecast path with its 10-90 % band, its recent observations and the threshold
// of each level, drawn by ECharts from GET /v1/risk/{domain}/{series_id}.
/* global echarts */
import { api } from "./api.js";
import { fmtNumber, fmtTime, levelHex, levelName, t, targetName } from "./i18n.js";

let chart = null;
let shown = null; // {domain, seriesId, body, unit}

export async function showDetail(key, domain, seriesId, unit) {
  const body = await api(key, `/v1/risk/${encodeURIComponent(domain)}/${encodeURIComponent(seriesId)}`);
  shown = { domain, seriesId, body, unit };
  document.getElementById("detail").hidden = false;
  drawDetail();
}

export function hideDetail() {
  shown = null;
  document.getElementById("detail").hidden = true;
}

export function drawDetail() {
  if (!shown) return;
  const { body, unit } = shown;
  document.getElementById("detail-name").textContent = `${targetName(body)} · ${levelName(body.level)}`;
  const el = document.getElementById("detail-chart");
  if (!chart) {
    chart = echarts.init(el);
    new ResizeObserver(() => chart.resize()).observe(el);
  }
  const k = Math.max(1, window.innerWidth / 1920);
  const steps = body.forecast;
  const thresholds = Object.entries(body.thresholds || {}).map(([colour, value]) => ({
    yAxis: value,
    lineStyle: { color: levelHex(colour), type: "dashed", width: 1.5 * k },
    label: { formatter: t("threshold", { level: levelName(colour) }), color: levelHex(colour), fontSize: 12 * k },
  }));
  const line = { type: "line", showSymbol: false, smooth: false };
  // the axis reaches every threshold, so each level's line is on the chart
  const marks = thresholds.map((m) => m.yAxis);
  const bounds = {
    min: (v) => Math.min(v.min, ...marks),
    max: (v) => Math.max(v.max, ...marks),
  };
  chart.setOption(
    {
      animation: false,
      grid: { left: 50 * k, right: 110 * k, top: 40 * k, bottom: 30 * k },
      legend: { textStyle: { color: "#e6edf5", fontSize: 13 * k } },
      tooltip: {
        trigger: "axis",
        valueFormatter: (v) => `${fmtNumber(v, 2)} ${unit || ""}`,
        axisPointer: { label: { formatter: (p) => fmtTime(p.value) } },
      },
      xAxis: { type: "time", axisLabel: { color: "#93a8c0", fontSize: 12 * k, formatter: (v) => fmtTime(v, { date: false }) } },
      yAxis: { type: "value", name: unit || "", scale: true, ...bounds, axisLabel: { color: "#93a8c0", fontSize: 12 * k }, splitLine: { lineStyle: { color: "#27405f" } } },
      series: [
        { ...line, name: t("observed"), data: body.recent.map((r) => [r.ts, r.value]), lineStyle: { color: "#e6edf5", width: 2 * k }, itemStyle: { color: "#e6edf5" } },
        { ...line, name: t("band"), stack: "band", data: steps.map((s) => [s.ts, s.q10]), lineStyle: { opacity: 0 }, itemStyle: { color: "#4f9dff" }, tooltip: { show: false } },
        { ...line, name: t("band"), stack: "band", data: steps.map((s) => [s.ts, s.q90 - s.q10]), lineStyle: { opacity: 0 }, areaStyle: { color: "rgba(79,157,255,0.3)" }, itemStyle: { color: "#4f9dff" }, tooltip: { show: false } },
        { ...line, name: t("forecast"), data: steps.map((s) => [s.ts, s.yhat]), lineStyle: { color: "#4f9dff", width: 2.5 * k, type: "dashed" }, itemStyle: { color: "#4f9dff" }, markLine: { symbol: "none", silent: true, data: thresholds } },
      ],
    },
    true,
  );
}
