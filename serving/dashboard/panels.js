// One card per domain: targets by level, the highest risks, the last day's warnings and the
// model in service; all from the public API (/v1/risk, /v1/warnings, /v1/models).
/* global echarts */
import { domainName, fmtNumber, fmtTime, levelColours, levelHex, levelName, levelNumber, t, targetName } from "./i18n.js";

const cards = new Map(); // domain -> {el, chart}
const HOUR = 3600 * 1000;

function card(container, domain) {
  if (cards.has(domain)) return cards.get(domain);
  const el = document.createElement("article");
  el.className = "card";
  el.dataset.domain = domain;
  el.innerHTML = `<h2 class="name"></h2><p class="small origin"></p>
    <h3 class="l-counts"></h3><div class="counts"></div>
    <h3 class="l-top"></h3><ol class="top"></ol>
    <h3 class="l-trend"></h3><div class="trend"></div>
    <h3 class="l-model"></h3><p class="small model"></p>`;
  container.append(el);
  const chart = echarts.init(el.querySelector(".trend"));
  new ResizeObserver(() => chart.resize()).observe(el.querySelector(".trend"));
  const made = { el, chart };
  cards.set(domain, made);
  return made;
}

// How many of the domain's warnings were in force at each hour of the day before ``end``.
function openPerHour(warnings, domain, end) {
  const hours = [];
  for (let i = 23; i >= 0; i--) {
    const at = end - i * HOUR;
    const n = warnings.filter(
      (w) => w.domain === domain && Date.parse(w.opened_at) <= at && (!w.closed_at || Date.parse(w.closed_at) > at),
    ).length;
    hours.push([at, n]);
  }
  return hours;
}

function modelLine(model) {
  if (!model) return "";
  const line = t("model_line", {
    version: model.version,
    family: model.family,
    calibration: model.calibration ? t("calibrated") : "",
    source: t(`source_${model.source}`),
  });
  if (!model.trained_at || model.backtest === null || model.backtest === undefined) return line;
  let gain = "–";
  if (model.baseline) {
    const share = Math.round((100 * (model.baseline - model.backtest)) / model.baseline);
    gain = share >= 0 ? t("better", { n: share }) : t("worse", { n: -share });
  }
  const skill = t("model_skill", {
    trained: fmtTime(model.trained_at),
    metric: (model.metric || "").toUpperCase(),
    score: fmtNumber(model.backtest, 3),
    baseline: fmtNumber(model.baseline, 3),
    gain,
  });
  return `${line} · ${skill}`;
}

export function renderDomains(container, { domains, risks, warnings, models, problems, end }) {
  const k = Math.max(1, window.innerWidth / 1920);
  for (const domain of domains) {
    const { el, chart } = card(container, domain);
    const risk = risks[domain];
    const items = risk ? risk.items : [];
    el.querySelector(".name").textContent = domainName(domain);
    el.querySelector(".origin").textContent = risk && risk.origin ? `${t("origin")} ${fmtTime(risk.origin)}` : t("no_targets");
    el.querySelector(".l-counts").textContent = t("counts");
    el.querySelector(".l-top").textContent = t("top_risks");
    el.querySelector(".l-trend").textContent = t("trend");
    el.querySelector(".l-model").textContent = t("model");
    const counts = el.querySelector(".counts");
    counts.replaceChildren(
      ...levelColours()
        .filter((c) => levelNumber(c) > 0)
        .map((c) => {
          const chip = document.createElement("span");
          chip.className = "chip";
          chip.dataset.level = c;
          chip.style.background = levelHex(c);
          chip.textContent = `${levelName(c)} ${items.filter((i) => i.level === c).length}`;
          return chip;
        }),
    );
    const top = el.querySelector(".top");
    top.replaceChildren(
      ...items.slice(0, 5).map((item) => {
        const li = document.createElement("li");
        const prob = Math.max(0, ...Object.values(item.probabilities || {}));
        li.innerHTML = `<span class="chip"></span> <span class="what"></span> <span class="small"></span>`;
        li.querySelector(".chip").style.background = levelHex(item.level);
        li.querySelector(".chip").textContent = levelName(item.level);
        li.querySelector(".what").textContent = targetName(item);
        li.querySelector(".small").textContent = `${t("peak")} ${fmtNumber(item.peak_value, 2)}${risk.unit || ""} · ${t("prob")} ${Math.round(prob * 100)}%`;
        return li;
      }),
    );
    const model = models.find((m) => m.domain === domain);
    el.querySelector(".model").textContent = model ? modelLine(model) : t("not_served", { why: problems[domain] || "" });
    chart.setOption(
      {
        animation: false,
        grid: { left: 30 * k, right: 10 * k, top: 10 * k, bottom: 22 * k },
        tooltip: { trigger: "axis", axisPointer: { label: { formatter: (p) => fmtTime(p.value) } } },
        xAxis: { type: "time", axisLabel: { color: "#93a8c0", fontSize: 11 * k, formatter: (v) => fmtTime(v, { date: false }) } },
        yAxis: { type: "value", minInterval: 1, axisLabel: { color: "#93a8c0", fontSize: 11 * k }, splitLine: { lineStyle: { color: "#27405f" } } },
        series: [{ type: "bar", name: t("trend"), data: end ? openPerHour(warnings, domain, end) : [], itemStyle: { color: levelHex("orange") } }],
      },
      true,
    );
  }
}
