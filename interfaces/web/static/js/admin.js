// Admin only (the API refuses others anyway): projections with their lag and rebuild,
// the audit timeline of a session and of its export, a ticket's history as a diff.

import { api, errorBlock, h, put, say, when } from "./api.js";
import { sessionHeader } from "./common.js";
import { lineDiff } from "./diff.js";

export async function renderAdmin(main) {
  const projections = h("div", { id: "projections" });
  const activity = h("div", { id: "admin-activity" });
  put(main, h("h1", {}, "Admin"),
    h("section", { class: "panel", "aria-labelledby": "proj-title" }, h("h2", { id: "proj-title" }, "Read models (projections)"),
      h("button", { type: "button", id: "refresh-projections", onclick: load }, "Refresh"), projections),
    h("section", { class: "panel", "aria-labelledby": "act-title" }, h("h2", { id: "act-title" }, "What admins did lately"), activity));

  async function load() {
    try {
      const answer = await api("GET", "/api/admin/projections");
      put(projections, h("p", {}, `Head of the event store: ${answer.head}`),
        h("table", { class: "wide" },
          h("thead", {}, h("tr", {}, ["Projection", "Position", "Lag", "Rebuild", ""].map((t) => h("th", { scope: "col" }, t)))),
          h("tbody", {}, answer.projections.map((p) => h("tr", {},
            h("td", {}, p.name),
            h("td", {}, `${p.position} of ${answer.head}`),
            h("td", {}, `${p.lag_events} events, ${p.lag_seconds.toFixed(1)} s`),
            h("td", {}, p.rebuild ? `${p.rebuild.state}${p.rebuild.events_per_s ? `, ${Math.round(p.rebuild.events_per_s)} events/s` : ""}${p.rebuild.error ? ": " + p.rebuild.error : ""}` : "—"),
            h("td", {}, p.rebuildable === false
              ? "publishes live: not rebuildable"
              : h("button", { type: "button", "aria-label": `Rebuild ${p.name}`, onclick: () => rebuild(p.name) }, "Rebuild")))))));
      const recent = await api("GET", "/api/admin/activity?limit=20");
      put(activity, timeline(recent.events.slice().reverse()));
    } catch (error) {
      put(projections, errorBlock(error));
    }
  }

  async function rebuild(name) {
    try {
      const started = await api("POST", `/api/admin/projections/${encodeURIComponent(name)}/rebuild`, { json: {} });
      say(`Rebuild of ${started.projection}: ${started.rebuild ? started.rebuild.state : "started"}`);
      setTimeout(load, 1000);
    } catch (error) {
      projections.prepend(errorBlock(error));
    }
  }

  await load();
}

function describe(event) {
  const p = event.payload || {};
  const bits = [];
  if (p.changes && typeof p.changes === "object") bits.push(`changed ${Object.keys(p.changes).join(", ")}`);
  if (p.ticket_version) bits.push(`ticket v${p.ticket_version}`);
  if (p.action) bits.push(`${p.action} ${p.target || ""}`);
  if (p.ready !== undefined) bits.push(p.ready ? "ready" : "not ready");
  return bits.join("; ");
}

function timeline(events) {
  if (!events.length) return h("p", { class: "muted" }, "Nothing yet.");
  return h("ol", { class: "timeline" }, events.map((e) => h("li", {},
    h("time", { datetime: e.timestamp }, when(e.timestamp)), " — ",
    h("strong", {}, e.actor || "system"), " ", e.type, ` (v${e.version})`,
    describe(e) ? h("span", { class: "muted" }, ` — ${describe(e)}`) : null)));
}

async function allEvents(path) {
  const events = [];
  for (let offset = 0; offset < 20000; offset += 1000) {
    const page = await api("GET", `${path}?limit=1000&offset=${offset}`);
    events.push(...page.events);
    if (events.length >= page.total || !page.events.length) break;
  }
  return events;
}

export async function renderAudit(main, [sessionId], { me }) {
  const session = await api("GET", `/api/sessions/${sessionId}`);
  const [events, list] = await Promise.all([
    allEvents(`/api/admin/sessions/${sessionId}/events`),
    api("GET", `/api/sessions/${sessionId}/tickets?order=export`),
  ]);
  const exportEvents = session.export_id ? await allEvents(`/api/admin/exports/${session.export_id}/events`) : [];
  const history = h("section", { class: "panel", id: "ticket-history", "aria-labelledby": "history-title" });
  const ticketSelect = h("select", { id: "history-ticket", onchange: () => showVersions(ticketSelect.value) },
    h("option", { value: "" }, "Choose a ticket…"),
    list.tickets.map((t, i) => h("option", { value: t.id }, `${i + 1}. ${t.title}`)));
  const versions = h("div", { id: "history-versions" });
  const diff = h("div", { id: "history-diff" });
  history.append(h("h2", { id: "history-title" }, "A ticket's history"),
    h("label", { for: "history-ticket" }, "Ticket"), ticketSelect, versions, diff);

  put(main, ...sessionHeader(session, "audit", me), history,
    h("section", { class: "panel", "aria-labelledby": "tl-title" },
      h("h2", { id: "tl-title" }, `Session timeline (${events.length} events)`), timeline(events)),
    session.export_id ? h("section", { class: "panel", "aria-labelledby": "xtl-title" },
      h("h2", { id: "xtl-title" }, `Export timeline (${exportEvents.length} events)`), timeline(exportEvents)) : null);

  function showVersions(ticketId) {
    put(diff);
    if (!ticketId) { put(versions); return; }
    const touching = events.filter((e) => JSON.stringify(e.payload || {}).includes(ticketId));
    if (!touching.length) { put(versions, h("p", { class: "muted" }, "No change recorded for this ticket.")); return; }
    const option = (e) => h("option", { value: e.version }, `v${e.version} — ${e.type} by ${e.actor || "system"}, ${when(e.timestamp)}`);
    const from = h("select", { id: "history-from" }, touching.map(option));
    const to = h("select", { id: "history-to" }, touching.map(option));
    to.value = String(touching[touching.length - 1].version);
    from.value = String(touching[Math.max(0, touching.length - 2)].version);
    put(versions, h("div", { class: "row" },
      h("div", {}, h("label", { for: "history-from" }, "From session version"), from),
      h("div", {}, h("label", { for: "history-to" }, "To session version"), to),
      h("button", { type: "button", id: "show-diff", onclick: () => compare(ticketId, from.value, to.value) }, "Show the difference")));
  }

  async function compare(ticketId, from, to) {
    put(diff, h("p", { class: "muted" }, "Loading…"));
    try {
      const [a, b] = await Promise.all([from, to].map((v) => api("GET", `/api/admin/sessions/${sessionId}/state?version=${v}`)));
      const before = (a.tickets || []).find((t) => t.id === ticketId) || {};
      const after = (b.tickets || []).find((t) => t.id === ticketId) || {};
      const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((k) => k !== "id");
      const changed = keys.filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]));
      put(diff, 
        h("p", {}, `Version ${from} (${a.changed_by ? a.changed_by.type + " by " + (a.changed_by.actor || "system") : ""}) → version ${to} (${b.changed_by ? b.changed_by.type + " by " + (b.changed_by.actor || "system") : ""}): `,
          changed.length ? `${changed.length} field(s) changed` : "no difference"),
        ...changed.map((k) => h("div", {}, h("h3", {}, k),
          h("div", { class: "diff", "aria-label": `Changes to ${k}: lines marked + were added, − removed` },
            lineDiff(text(before[k]), text(after[k])).map(([kind, line]) => h("div", { class: kind }, line))))));
    } catch (error) {
      put(diff, errorBlock(error));
    }
  }
}

function text(value) {
  if (value === undefined || value === null) return "";
  return typeof value === "string" ? value : JSON.stringify(value, null, 1);
}
