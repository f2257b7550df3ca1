// The public API, with the bearer token kept for this browser tab only (sessionStorage).

const KEY = "ticketforge.token";

export const token = {
  get: () => sessionStorage.getItem(KEY),
  set: (value) => sessionStorage.setItem(KEY, value),
  clear: () => sessionStorage.removeItem(KEY),
};

// An error answer of the API: `detail`, `error_category`, `recovery_actions`, maybe `problems`.
export class ApiError extends Error {
  constructor(status, body) {
    const detail = body && typeof body.detail === "string" ? body.detail : `HTTP ${status}`;
    super(detail);
    this.status = status;
    this.body = body || {};
  }
  get recovery() {
    return Array.isArray(this.body.recovery_actions) ? this.body.recovery_actions : [];
  }
}

// `api("GET", "/api/sessions")` -> the JSON body; throws ApiError on a 4xx/5xx.
// Options: json (a body), form (FormData), headers, raw (return {status, body, headers}).
export async function api(method, path, options = {}) {
  const headers = { Accept: "application/json", ...(options.headers || {}) };
  const current = token.get();
  if (current) headers.Authorization = `Bearer ${current}`;
  let body;
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.json);
  } else if (options.form) {
    body = options.form;
  }
  const response = await fetch(path, { method, headers, body });
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = { detail: text };
  }
  if (!response.ok) {
    const error = new ApiError(response.status, parsed);
    if (response.status === 401 && !options.keepToken) {
      window.dispatchEvent(new CustomEvent("tf:unauthorized", { detail: error }));
    }
    throw error;
  }
  return options.raw ? { status: response.status, body: parsed, headers: response.headers } : parsed;
}

// A tiny element builder: h("button", {type: "button", onclick: f}, "Save").
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "dataset") {
      Object.assign(el.dataset, value);
    } else if (value === true) {
      el.setAttribute(name, "");
    } else {
      el.setAttribute(name, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

// The error shown to a person: what was wrong and what to do.
export function errorBlock(error) {
  const problems = Array.isArray(error?.body?.problems) ? error.body.problems : [];
  return h(
    "div",
    { class: "error", role: "alert" },
    h("p", {}, h("strong", {}, "Refused: "), error.message || String(error)),
    problems.length
      ? h("ul", {}, problems.map((p) => h("li", {}, problemText(p))))
      : null,
    error.recovery?.length
      ? h("ul", { class: "muted" }, error.recovery.map((r) => h("li", {}, r)))
      : null,
  );
}

export function problemText(p) {
  if (typeof p !== "object" || p === null) return String(p);
  const where = [p.file, p.row ? `row ${p.row}` : null, p.column ? `column ${p.column}` : null,
    p.location].filter(Boolean).join(", ");
  return `${where ? where + ": " : ""}${p.message || ""}${p.fix ? " — " + p.fix : ""}`;
}

export function say(text) {
  const status = document.getElementById("status");
  status.textContent = text;
  clearTimeout(say.timer);
  say.timer = setTimeout(() => { status.textContent = ""; }, 5000);
}

export function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

// replaceChildren without the "null" a skipped (null / false) child would print.
export function put(el, ...children) {
  const kids = [];
  const flat = (list) => {
    for (const c of list) {
      if (c === undefined || c === null || c === false) continue;
      if (Array.isArray(c)) flat(c);
      else kids.push(c);
    }
  };
  flat(children);
  el.replaceChildren(...kids);
  return el;
}
