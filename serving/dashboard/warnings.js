// Warnings as the duty room follows them: level, place, time, escalation and history, kept
// live by the server-sent events of GET /v1/warnings/stream (fetch-event-source: EventSource
// cannot send the X-API-Key header), resumed from the last event id after a break.
import { fetchEventSource } from "/vendor/fetch-event-source/index.js";
import { api } from "./api.js";
import { domainName, fmtTime, getLang, levelHex, levelName, levelNumber, placeName, t } from "./i18n.js";

const expanded = new Map(); // warning id -> its history, while shown

class Refused extends Error {}
class Ended extends Error {}

// Open and acknowledged first (most severe, then latest), then those lifted in the last day.
function ordered(warnings) {
  const live = warnings.filter((w) => w.status !== "closed");
  const closed = warnings.filter((w) => w.status === "closed").slice(0, 10);
  live.sort((a, b) => levelNumber(b.level) - levelNumber(a.level) || b.updated_at.localeCompare(a.updated_at));
  return [...live, ...closed];
}

function silencedBy(w, silences) {
  return silences.find(
    (s) =>
      s.state === "active" &&
      (!s.matchers.domain || s.matchers.domain === w.domain) &&
      (!s.matchers.area_id || s.matchers.area_id === w.area_id) &&
      (!s.matchers.series_id || w.targets.some((x) => x.series_id === s.matchers.series_id)),
  );
}

function historyList(entries) {
  const ol = document.createElement("ol");
  ol.className = "history";
  for (const h of entries) {
    const li = document.createElement("li");
    const levels = h.from_level !== h.to_level ? ` ${levelName(h.from_level)} → ${levelName(h.to_level)}` : "";
    const who = h.actor ? ` · ${h.actor}` : "";
    const note = h.note ? ` · ${h.note}` : "";
    li.textContent = `${fmtTime(h.ts)} ${t(`action_${h.action}`)}${levels}${who}${note}`;
    ol.append(li);
  }
  return ol;
}

function row(w, silences) {
  const li = document.createElement("li");
  li.className = "warning";
  li.dataset.id = w.id;
  li.dataset.status = w.status;
  li.dataset.level = w.level;
  li.style.setProperty("--level", levelHex(w.status === "closed" ? w.peak_level : w.level));
  const shownLevel = w.status === "closed" ? w.peak_level : w.level;
  li.innerHTML = `<div class="head"><span class="chip"></span><span class="place"></span>
    <span class="domain"></span><span class="state"></span></div>
    <p class="text"></p><p class="meta"></p><div class="buttons"></div>`;
  li.querySelector(".chip").style.background = levelHex(shownLevel);
  li.querySelector(".chip").textContent = levelName(shownLevel);
  li.querySelector(".place").textContent = placeName(w.area_id);
  li.querySelector(".domain").textContent = domainName(w.domain);
  const state = [t(`status_${w.status}`)];
  const silence = silencedBy(w, silences);
  if (silence) state.push(t("silenced"));
  if (w.tier > 0 && w.status !== "closed") state.push(t("tier", { n: w.tier + 1 }));
  if (w.reopened) state.push(t("reopened", { n: w.reopened }));
  li.querySelector(".state").textContent = state.join(" · ");
  li.querySelector(".text").textContent = getLang() === "zh" ? w.message_zh : w.message_en;
  const meta = [`${t("opened_at")} ${fmtTime(w.opened_at)}`, `${t("updated_at")} ${fmtTime(w.updated_at)}`];
  if (w.acked_by) meta.push(t("acked_by", { who: w.acked_by }));
  li.querySelector(".meta").textContent = meta.join(" · ");
  const buttons = li.querySelector(".buttons");
  const add = (action, label) => {
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.action = action;
    b.textContent = t(label);
    buttons.append(b);
  };
  if (w.status === "open") add("ack", "ack");
  if (w.status !== "closed" && !silence) add("silence", "silence");
  add("history", expanded.has(w.id) ? "history_hide" : "history");
  if (expanded.has(w.id)) li.append(historyList(expanded.get(w.id)));
  return li;
}

export function renderWarnings(list, warnings, silences) {
  const shown = ordered(warnings);
  if (!shown.length) {
    const li = document.createElement("li");
    li.className = "none";
    li.textContent = t("warnings_none");
    list.replaceChildren(li);
    return;
  }
  list.replaceChildren(...shown.map((w) => row(w, silences)));
}

// The buttons of the list: acknowledge, silence the area's domain for an hour, show history.
// ``done`` is told what changed; a refusal shows the API's own detail (a read key's 403).
export function wireWarnings(list, { key, find, done, say }) {
  list.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const w = find(button.closest(".warning").dataset.id);
    if (!w) return;
    button.disabled = true;
    try {
      if (button.dataset.action === "ack") {
        const changed = await api(key(), `/v1/warnings/${w.id}/ack`, { method: "POST", body: { note: "" } });
        say(t("acked_ok", { place: placeName(w.area_id) }));
        done(changed);
      } else if (button.dataset.action === "silence") {
        await api(key(), "/v1/silences", {
          method: "POST",
          body: { matchers: { domain: w.domain, area_id: w.area_id }, hours: 1, comment: t("silence_comment") },
        });
        say(t("silenced_ok", { place: placeName(w.area_id), domain: domainName(w.domain) }));
        done(null);
      } else if (expanded.has(w.id)) {
        expanded.delete(w.id);
        done(null);
      } else {
        expanded.set(w.id, (await api(key(), `/v1/warnings/${w.id}/history`)).history);
        done(null);
      }
    } catch (err) {
      say(`${t("error")} ${err.status || ""}: ${err.detail || err.message}`, true);
      button.disabled = false;
    }
  });
}

export async function refreshHistory(key, id) {
  if (expanded.has(id)) expanded.set(id, (await api(key, `/v1/warnings/${id}/history`)).history);
}

// Follow the stream until ``controller`` aborts: each change is handed to ``onChange`` and its
// id kept in ``cursor.id``. A stream that ends (the server closes it every few minutes) or breaks
// is opened again by fetch-event-source with Last-Event-ID, the last id it saw; a stream opened
// afresh (after the network came back) starts from ``cursor.id`` the same way.
export function follow(key, { controller, cursor, onChange, onState }) {
  const headers = { "X-API-Key": key };
  if (cursor.id) headers["Last-Event-ID"] = cursor.id;
  return fetchEventSource("/v1/warnings/stream", {
    headers,
    signal: controller.signal,
    openWhenHidden: true, // a wall screen is often a background tab
    async onopen(answer) {
      if (answer.ok) {
        onState("live");
        return;
      }
      let detail = `HTTP ${answer.status}`;
      try {
        detail = (await answer.json()).detail || detail;
      } catch {
        /* the status says enough */
      }
      if (answer.status === 401 || answer.status === 403) throw new Refused(detail);
      throw new Error(detail);
    },
    onmessage(message) {
      if (message.id) cursor.id = message.id;
      if (!message.data) return;
      onChange(JSON.parse(message.data));
    },
    onclose() {
      throw new Ended();
    },
    onerror(err) {
      if (err instanceof Refused) {
        onState("off");
        throw err;
      }
      onState(err instanceof Ended ? "live" : "down");
      return err instanceof Ended ? 100 : 3000;
    },
  });
}
