// The operations centre's screen: wires the map, the panels, the live warnings and the
// scenario panel to the public API, with the key the user gives (read to view, officer to act).
import { ApiError, api, keepKey, takeKey } from "./api.js";
import { drawDetail, hideDetail, showDetail } from "./detail.js";
import { applyLabels, fmtTime, levelHex, levelName, levelColours, setLang, setReference, t } from "./i18n.js";
import { drawMap, levelsByArea, makeMap, registerAreas } from "./map.js";
import { renderDomains } from "./panels.js";
import { clearScenario, fillAreas, lastScenario, readForm, relabelAreas, renderScenario, runScenario, scenarioItems, wireSignal } from "./scenario.js";
import { follow, refreshHistory, renderWarnings, wireWarnings } from "./warnings.js";

const RISK_POLL_MS = 5000;
const WARNINGS_POLL_MS = 30000;
const $ = (id) => document.getElementById(id);

const state = {
  key: "",
  areas: null, // the GeoJSON FeatureCollection
  series: new Map(), // series_id -> {lat, lon, signal}
  models: [],
  problems: {},
  risks: {}, // domain -> RiskOut
  warnings: [],
  silences: [],
  stream: null, // AbortController of the live stream
  cursor: { id: null }, // the last event id the stream gave
  timers: [],
};
let liveMap = null;
let scenarioMap = null;

function notice(text) {
  $("notice").hidden = !text;
  $("notice").textContent = text || "";
}

function say(text, isError = false) {
  const el = $("warnings-message");
  el.textContent = text;
  el.classList.toggle("error", isError);
}

function tick() {
  $("clock").textContent = fmtTime(Date.now(), { seconds: true });
}

function points(itemsByDomain) {
  const out = [];
  for (const [domain, items] of Object.entries(itemsByDomain)) {
    const unit = state.risks[domain] ? state.risks[domain].unit : null;
    for (const item of items) {
      const where = state.series.get(item.series_id);
      if (where && where.lat !== null && where.lon !== null) out.push({ domain, unit, item, lat: where.lat, lon: where.lon });
    }
  }
  return out;
}

function legend() {
  $("legend").replaceChildren(
    ...levelColours().map((c) => {
      const li = document.createElement("li");
      li.innerHTML = `<span class="chip"></span>`;
      li.firstChild.style.background = levelHex(c);
      li.firstChild.textContent = levelName(c);
      return li;
    }),
  );
}

function dataEnd() {
  const origins = Object.values(state.risks).map((r) => r.origin).filter(Boolean).map(Date.parse);
  return origins.length ? Math.max(...origins) : null;
}

// Everything drawn again from the state, in the chosen language.
function render() {
  applyLabels();
  legend();
  const items = Object.fromEntries(Object.entries(state.risks).map(([d, r]) => [d, r.items]));
  const areaLevels = levelsByArea(items);
  drawMap(liveMap, { areaLevels, points: points(items) });
  $("map").dataset.levels = JSON.stringify(areaLevels);
  const end = dataEnd();
  $("data-time").textContent = end ? fmtTime(end) : "–";
  renderDomains($("domains"), {
    domains: state.models.map((m) => m.domain),
    risks: state.risks,
    warnings: state.warnings,
    models: state.models,
    problems: state.problems,
    end,
  });
  renderWarnings($("warnings"), state.warnings, state.silences);
  drawDetail();
  relabelAreas($("scenario-areas"));
  const scenario = lastScenario();
  $("scenario-box").hidden = !scenario;
  if (scenario) {
    renderScenario($("scenario-result"), $("scenario-banner"));
    const planned = scenarioItems(scenario.body);
    drawMap(scenarioMap, { areaLevels: levelsByArea(planned), points: points(planned) });
    scenarioMap.resize();
  }
  liveMap.resize();
}

async function loadRisk() {
  const found = await Promise.all(state.models.map((m) => api(state.key, `/v1/risk?domain=${encodeURIComponent(m.domain)}`)));
  state.risks = Object.fromEntries(found.map((r) => [r.domain, r]));
}

async function loadWarnings() {
  const [warnings, silences] = await Promise.all([
    api(state.key, "/v1/warnings?limit=500"),
    api(state.key, "/v1/silences?state=active"),
  ]);
  state.warnings = warnings.warnings;
  state.silences = silences.silences;
}

function upsert(warning) {
  const at = state.warnings.findIndex((w) => w.id === warning.id);
  if (at >= 0) state.warnings[at] = warning;
  else state.warnings.unshift(warning);
}

let refreshing = null;
// A warning changed: its levels changed too, so the risk documents are read again at once.
function refreshSoon() {
  if (refreshing) return;
  refreshing = setTimeout(async () => {
    refreshing = null;
    try {
      await loadRisk();
      render();
    } catch (err) {
      notice(`${t("error")}: ${err.detail || err.message}`);
    }
  }, 200);
}

function setStream(which) {
  const el = $("stream-state");
  el.dataset.state = which;
  el.dataset.i18n = `stream_${which}`;
  el.textContent = t(`stream_${which}`);
}

// The live stream of warning changes, from where the last one left off.
function openStream() {
  if (state.stream) state.stream.abort();
  const key = state.key;
  state.stream = new AbortController();
  follow(key, {
    controller: state.stream,
    cursor: state.cursor,
    onState: setStream,
    onChange: (entry) => {
      if (entry.warning) upsert(entry.warning);
      refreshHistory(key, entry.warning_id).finally(render);
      refreshSoon();
    },
  }).catch((err) => notice(t("key_bad", { detail: err.message })));
}

function stop() {
  for (const id of state.timers) clearInterval(id);
  state.timers = [];
  if (state.stream) state.stream.abort();
  state.stream = null;
}

async function start(key) {
  stop();
  state.key = key;
  $("key-input").value = key;
  if (!key) {
    notice(t("key_missing"));
    return;
  }
  try {
    const [areas, levels, series, models] = await Promise.all([
      api(key, "/v1/areas"),
      api(key, "/v1/levels"),
      api(key, "/v1/series"),
      api(key, "/v1/models"),
    ]);
    state.areas = areas;
    setReference({ features: areas.features, levelList: levels.levels });
    registerAreas(areas);
    state.series = new Map(series.series.map((s) => [s.series_id, s]));
    state.models = models.models;
    state.problems = models.problems;
    fillAreas($("scenario-areas"), areas.features);
    await Promise.all([loadRisk(), loadWarnings()]);
  } catch (err) {
    const refused = err instanceof ApiError && (err.status === 401 || err.status === 403);
    notice(refused ? t("key_bad", { detail: err.detail }) : `${t("error")}: ${err.detail || err.message}`);
    return;
  }
  notice("");
  render();
  document.body.dataset.ready = "1";
  state.cursor = { id: null };
  openStream();
  state.timers.push(
    setInterval(() => loadRisk().then(render, (err) => notice(`${t("error")}: ${err.detail || err.message}`)), RISK_POLL_MS),
    setInterval(() => loadWarnings().then(render, () => {}), WARNINGS_POLL_MS),
  );
}

function onPick(domain, seriesId) {
  const unit = state.risks[domain] ? state.risks[domain].unit : null;
  showDetail(state.key, domain, seriesId, unit).catch((err) => say(`${t("error")}: ${err.detail || err.message}`, true));
}

function wire() {
  liveMap = makeMap($("map"), onPick);
  scenarioMap = makeMap($("scenario-map"), () => {});
  setInterval(tick, 1000);
  tick();
  for (const b of document.querySelectorAll("[data-lang]")) {
    b.addEventListener("click", () => {
      setLang(b.dataset.lang);
      if (state.areas) render();
    });
  }
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("key-input").value.trim();
    keepKey(key);
    start(key);
  });
  $("detail-close").addEventListener("click", hideDetail);
  // the network dropped: a stream may hang without noticing, so it is closed and opened again
  // when the network is back, from the last change it gave
  window.addEventListener("offline", () => {
    if (!state.stream) return;
    state.stream.abort();
    setStream("down");
  });
  window.addEventListener("online", () => {
    if (state.stream) openStream();
  });
  // the charts' sizes follow the screen's width (a 4K wall draws them twice as large)
  let resized = null;
  window.addEventListener("resize", () => {
    clearTimeout(resized);
    resized = setTimeout(() => state.areas && render(), 200);
  });
  wireWarnings($("warnings"), {
    key: () => state.key,
    find: (id) => state.warnings.find((w) => w.id === id),
    done: (changed) => {
      if (changed) upsert(changed);
      loadWarnings().finally(render);
    },
    say,
  });
  wireSignal($("scenario-signal"), $("scenario-mm"), $("scenario-hours"));
  $("scenario-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const message = $("scenario-message");
    const request = readForm(event.target);
    if (request.error) {
      message.textContent = request.error;
      return;
    }
    message.textContent = t("running");
    $("scenario-run").disabled = true;
    try {
      await runScenario(state.key, request);
      message.textContent = "";
      render();
    } catch (err) {
      message.textContent = `${t("error")} ${err.status || ""}: ${err.detail || err.message}`;
    } finally {
      $("scenario-run").disabled = false;
    }
  });
  $("scenario-close").addEventListener("click", () => {
    clearScenario();
    render();
  });
}

applyLabels();
wire(); // throws where ECharts did not load
window.citybrainStarted = true; // index.html says what is missing when this never runs
start(takeKey());
