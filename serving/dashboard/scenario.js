// The planners' what-if: districts, a rain total and duration (or a rainstorm signal's own),
// scored by POST /v1/scenarios (officer key; nothing is written) and shown beside the live map,
// marked as a scenario.
import { api } from "./api.js";
import { SIGNALS } from "./strings.js";
import { domainName, getLang, levelHex, levelName, levelNumber, placeName, t } from "./i18n.js";

let last = null; // {request, body}

export function fillAreas(box, features) {
  const districts = features.filter((f) => f.properties.parent_id);
  box.replaceChildren(
    ...(districts.length ? districts : features).map((f) => {
      const label = document.createElement("label");
      label.innerHTML = `<input type="checkbox" name="area"> <span></span>`;
      label.querySelector("input").value = f.id;
      label.querySelector("span").dataset.area = f.id;
      return label;
    }),
  );
  relabelAreas(box);
}

export function relabelAreas(box) {
  for (const span of box.querySelectorAll("span[data-area]")) span.textContent = placeName(span.dataset.area);
}

// A signal colour sets the rain it stands for; the planner may change it after.
export function wireSignal(select, mm, hours) {
  select.addEventListener("change", () => {
    const found = SIGNALS[select.value];
    if (found) {
      mm.value = found.mm;
      hours.value = found.hours;
    }
  });
}

// What the form asks for, or the reason it cannot be run (said on the page, nothing sent).
export function readForm(form) {
  const areas = [...form.querySelectorAll("input[name=area]:checked")].map((i) => i.value);
  const mm = Number(form.querySelector("#scenario-mm").value);
  const hours = Number(form.querySelector("#scenario-hours").value);
  const signal = form.querySelector("#scenario-signal").value || null;
  if (!areas.length) return { error: t("need_district") };
  const badMm = form.querySelector("#scenario-mm").value === "" || !(mm >= 0 && mm <= 500);
  if (badMm || !Number.isInteger(hours) || hours < 1 || hours > 24) return { error: t("need_rain") };
  return { areas, mm, hours, signal };
}

export async function runScenario(key, request) {
  const storm = { areas: request.areas, mm: request.mm, hours: request.hours };
  if (request.signal) storm.signal = request.signal;
  const name = t("scenario_name", { areas: request.areas.map(placeName).join("、"), hours: request.hours, mm: request.mm });
  const body = await api(key, "/v1/scenarios", { method: "POST", body: { name, storms: [storm] } });
  last = { request, body };
  return body;
}

export function lastScenario() {
  return last;
}

export function clearScenario() {
  last = null;
}

// The scenario's targets as the map draws them: each domain's targets at a level.
export function scenarioItems(body) {
  const out = {};
  for (const [domain, found] of Object.entries(body.domains)) out[domain] = found.targets;
  return out;
}

export function renderScenario(el, banner) {
  if (!last) return;
  const { request, body } = last;
  const name = t("scenario_name", { areas: request.areas.map(placeName).join(getLang() === "zh" ? "、" : ", "), hours: request.hours, mm: request.mm });
  banner.textContent = t("scenario_banner", { name });
  const parts = [];
  const counts = document.createElement("ul");
  for (const [domain, found] of Object.entries(body.domains)) {
    const li = document.createElement("li");
    li.textContent = `${domainName(domain)}: ${t("would_level")} ${found.targets_at_level}${t("units_targets")}`;
    counts.append(li);
  }
  parts.push(counts);
  const heading = document.createElement("h3");
  heading.textContent = t("would_warn");
  parts.push(heading);
  const warned = document.createElement("ol");
  const sorted = [...body.warnings].sort((a, b) => levelNumber(b.to_level) - levelNumber(a.to_level));
  for (const w of sorted) {
    const li = document.createElement("li");
    const chip = document.createElement("span");
    chip.className = "chip";
    chip.style.background = levelHex(w.to_level);
    chip.textContent = levelName(w.to_level);
    const text = document.createElement("span");
    text.textContent = ` ${t(`would_${w.action}`)}: ${getLang() === "zh" ? w.message_zh : w.message_en}`;
    li.append(chip, text);
    warned.append(li);
  }
  if (!body.warnings.length) {
    const li = document.createElement("li");
    li.textContent = t("would_none");
    warned.append(li);
  }
  parts.push(warned);
  el.replaceChildren(...parts);
}
