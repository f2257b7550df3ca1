// Pieces the session screens share.

import { h } from "./api.js";

export function sessionHeader(session, active, me) {
  const base = `#/s/${session.id}`;
  const tabs = [
    ["overview", base, "Inventory & generation"],
    ["review", `${base}/review`, "Review"],
    ["export", `${base}/export`, "Validate & export"],
  ];
  if (me && me.is_admin) tabs.push(["audit", `${base}/audit`, "Audit"]);
  return [
    h("p", { class: "muted" }, h("a", { href: "#/sessions" }, "Sessions"), " / ", session.name),
    h("h1", {}, session.name, " ", h("span", { class: "badge", id: "stage-badge" }, `stage: ${session.stage}`)),
    h("nav", { class: "tabs", "aria-label": "Session" },
      tabs.map(([key, href, label]) =>
        h("a", { href, "aria-current": key === active ? "page" : null }, label))),
  ];
}

export function percent(value) {
  const n = Number(value) || 0;
  return `${Math.round(n * 10) / 10}%`;
}

export function progressBar(id, label) {
  const bar = h("progress", { id, max: 100, value: 0, "aria-label": label });
  const text = h("span", { id: `${id}-text`, "aria-live": "polite" }, "");
  return { bar, text, set(pct, words) {
    bar.value = Math.max(0, Math.min(100, Number(pct) || 0));
    text.textContent = `${percent(pct)}${words ? " — " + words : ""}`;
  } };
}

export function eta(seconds) {
  if (seconds === null || seconds === undefined) return "";
  const s = Math.round(Number(seconds));
  if (!Number.isFinite(s)) return "";
  return s >= 60 ? `about ${Math.round(s / 60)} min left` : `about ${s} s left`;
}
