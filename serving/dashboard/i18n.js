// Labels in the chosen language, the city's clock, and the names the API gives in both
// languages (areas, levels). Chinese is the default; the choice is remembered.
import { STRINGS } from "./strings.js";

const ZONE = "Asia/Shanghai";
const LANG_STORE = "citybrain.lang";
let lang = STRINGS[localStorage.getItem(LANG_STORE)] ? localStorage.getItem(LANG_STORE) : "zh";
const areas = new Map(); // area_id -> {name, name_zh}
const levels = new Map(); // colour -> {number, name_zh, name_en, hex}

export function getLang() {
  return lang;
}

export function setLang(next) {
  lang = STRINGS[next] ? next : "zh";
  localStorage.setItem(LANG_STORE, lang);
  applyLabels();
}

export function t(name, values = {}) {
  const text = STRINGS[lang][name] ?? STRINGS.zh[name] ?? name;
  return text.replace(/\{(\w+)\}/g, (whole, k) => (k in values ? String(values[k]) : whole));
}

// Every element naming a label (data-i18n) shows it in the chosen language.
export function applyLabels(root = document) {
  document.documentElement.lang = STRINGS[lang].lang;
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  }
  for (const el of root.querySelectorAll("[data-lang]")) {
    el.setAttribute("aria-pressed", String(el.dataset.lang === lang));
  }
}

export function setReference({ features, levelList }) {
  for (const f of features) areas.set(f.id, f.properties);
  for (const lv of levelList) levels.set(lv.colour, lv);
}

export function placeName(areaId) {
  const found = areas.get(areaId);
  if (!found) return areaId || "";
  return lang === "zh" ? found.name_zh || found.name : found.name;
}

export function levelName(colour) {
  const found = levels.get(colour);
  if (!found) return colour;
  return lang === "zh" ? found.name_zh : found.name_en;
}

export function levelHex(colour) {
  return (levels.get(colour) || levels.get("none") || { hex: "#666666" }).hex;
}

export function levelNumber(colour) {
  return (levels.get(colour) || { number: 0 }).number;
}

export function levelColours() {
  return [...levels.values()].sort((a, b) => a.number - b.number).map((lv) => lv.colour);
}

export function domainName(domain) {
  const key = `domain_${domain}`;
  const found = t(key);
  return found === key ? domain : found;
}

// A target's name for people: the API's label in the chosen language (district and place),
// else the district and the series id.
export function targetName(item) {
  const label = lang === "zh" ? item.label : item.label_en;
  if (label) return label;
  return `${placeName(item.area_id)} · ${item.series_id}`;
}

const formats = new Map();
function format(options) {
  const id = `${lang}|${JSON.stringify(options)}`;
  if (!formats.has(id)) {
    formats.set(id, new Intl.DateTimeFormat(STRINGS[lang].lang, { timeZone: ZONE, hour12: false, ...options }));
  }
  return formats.get(id);
}

// A time in the city's clock (Asia/Shanghai), whatever the browser's own zone.
export function fmtTime(value, { date = true, seconds = false } = {}) {
  if (value === null || value === undefined) return "–";
  const options = { hour: "2-digit", minute: "2-digit" };
  if (seconds) options.second = "2-digit";
  if (date) Object.assign(options, { month: "2-digit", day: "2-digit" });
  return format(options).format(new Date(value));
}

export function fmtNumber(value, digits = 1) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  return Number(value).toFixed(digits).replace(/\.0+$/, "");
}
