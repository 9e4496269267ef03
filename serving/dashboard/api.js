// The page's only way to the service: the public API, with the key the user entered.
const KEY_STORE = "citybrain.key";

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
    this.detail = detail;
  }
}

// A key given in the address's fragment (#key=...) is kept and taken out of the address: a
// fragment never reaches a server's log, and the link `citybrain demo` prints works at once.
export function takeKey() {
  const found = new URLSearchParams(location.hash.slice(1)).get("key");
  if (found) {
    localStorage.setItem(KEY_STORE, found);
    history.replaceState(null, "", location.pathname + location.search);
  }
  return localStorage.getItem(KEY_STORE) || "";
}

export function keepKey(key) {
  localStorage.setItem(KEY_STORE, key);
}

// The API's own words for a refusal: ``detail`` (a text, or the list of field errors).
function detailOf(status, body) {
  const detail = body && body.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) return detail.map((e) => `${(e.loc || []).join(".")}: ${e.msg}`).join("; ");
  return `HTTP ${status}`;
}

export async function api(key, path, { method = "GET", body } = {}) {
  const headers = { "X-API-Key": key };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const answer = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await answer.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  if (!answer.ok) throw new ApiError(answer.status, detailOf(answer.status, parsed));
  return parsed;
}
