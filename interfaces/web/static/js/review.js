// Review: the tickets in export order, grouped and filtered, in a virtual list (only the
// visible rows are in the page, so 1,200 tickets filter as fast as 50); the keyboard
// alone drives it (j/k or arrows, e or Enter to edit, r for ready, / to search).

import { api, errorBlock, h, put, say } from "./api.js";
import { sessionHeader } from "./common.js";
import { openEditor } from "./editor.js";

const ROW_PX = 32;

export async function renderReview(main, [sessionId, openTicketId], { me }) {
  const started = performance.now();
  const [session, list] = await Promise.all([
    api("GET", `/api/sessions/${sessionId}`),
    api("GET", `/api/sessions/${sessionId}/tickets?order=export`),
  ]);
  const fetched = performance.now();
  const state = {
    session, tickets: list.tickets, byId: new Map(), items: [], selected: null,
    filters: { group: "", ready: "", validation: "", flag: "", text: "" },
  };
  index();

  const groups = [...new Set(state.tickets.map((t) => t.group))];
  const select = (id, label, options, key) => [
    h("div", {}, h("label", { for: id }, label),
      h("select", { id, onchange: (e) => { state.filters[key] = e.target.value; refilter(); } },
        options.map(([value, text]) => h("option", { value }, text)))),
  ];
  const search = h("input", { id: "ticket-search", type: "search", placeholder: "title, entity, config name",
    oninput: (e) => { state.filters.text = e.target.value; refilter(); },
    onkeydown: (e) => { if (e.key === "Escape" || e.key === "Enter") { e.preventDefault(); listEl.focus(); } } });
  const counter = h("p", { id: "ticket-count", class: "muted", "aria-live": "polite" });
  const inner = h("div", { class: "vinner" });
  const listEl = h("div", { class: "vlist", id: "ticket-list", role: "listbox", tabindex: 0,
    "aria-label": "Tickets in export order, grouped", onscroll: paint }, inner);
  const editorPane = h("section", { id: "editor-pane", "aria-label": "Ticket editor" },
    h("p", { class: "muted" }, "Select a ticket and press ", h("span", { class: "kbd" }, "e"), " (or Enter) to edit it."));
  const toolbar = h("div", { class: "row" },
    h("button", { type: "button", id: "ready-shown", onclick: () => markShown(true) }, "Mark the shown tickets ready"),
    h("button", { type: "button", id: "unready-shown", onclick: () => markShown(false) }, "Mark the shown tickets not ready"),
    h("span", { class: "muted" }, "Keys: ", ["j/k or ↑/↓ move", "e edit", "r ready", "/ search"].map((k) => h("span", { class: "kbd" }, k)).flatMap((k) => [k, " "])));
  const problems = h("div", { id: "review-problems" });

  put(main, ...sessionHeader(session, "review", me),
    h("div", { class: "filters", role: "search", "aria-label": "Filter the tickets" },
      h("div", {}, h("label", { for: "ticket-search" }, "Search"), search),
      select("filter-group", "Group", [["", "All groups"], ...groups.map((g) => [g, g])], "group"),
      select("filter-ready", "Ready", [["", "Ready or not"], ["yes", "Ready"], ["no", "Not ready"]], "ready"),
      select("filter-validation", "Validation", [["", "Any"], ["stale", "Stale"], ["failed", "Failed"], ["missing", "Not validated"], ["passed", "Passed"]], "validation"),
      select("filter-flag", "Flag", [["", "Any"], ["source_changed", "Source changed"], ["obsolete", "Obsolete"], ["conflict", "Conflict"]], "flag")),
    toolbar, problems, counter,
    listEl, editorPane);

  function index() {
    state.byId = new Map(state.tickets.map((t, i) => [t.id, { ticket: t, position: i + 1 }]));
  }

  function matches(t) {
    const f = state.filters;
    if (f.group && t.group !== f.group) return false;
    if (f.ready && (f.ready === "yes") !== t.ready) return false;
    if (f.validation && t.validation?.state !== f.validation) return false;
    if (f.flag && !(t.flags || []).includes(f.flag)) return false;
    if (f.text) {
      const needle = f.text.toLowerCase();
      const hay = `${t.title}\n${t.entity_label}\n${t.config_name}\n${t.kind}`.toLowerCase();
      if (!hay.includes(needle)) return false;
    }
    return true;
  }

  // Group (in the order groups first appear in the export order), keep the export order inside.
  function refilter() {
    const t0 = performance.now();
    const grouped = new Map();
    for (const t of state.tickets) {
      if (!matches(t)) continue;
      if (!grouped.has(t.group)) grouped.set(t.group, []);
      grouped.get(t.group).push(t);
    }
    const items = [];
    for (const [group, tickets] of grouped) {
      items.push({ group, count: tickets.length });
      for (const t of tickets) items.push({ ticket: t });
    }
    state.items = items;
    state.shown = items.filter((i) => i.ticket).map((i) => i.ticket);
    inner.style.height = `${items.length * ROW_PX}px`;
    if (!state.shown.some((t) => t.id === state.selected)) state.selected = state.shown[0]?.id ?? null;
    paint();
    const ms = performance.now() - t0;
    listEl.dataset.filterMs = ms.toFixed(1);
    counter.textContent = `${state.shown.length} of ${state.tickets.length} tickets shown ` +
      `(${state.tickets.filter((t) => t.ready).length} ready; filtered in ${ms.toFixed(1)} ms)`;
  }

  function rowFor(item) {
    if (item.group !== undefined) {
      return h("div", { class: "vrow group", role: "option", "aria-disabled": "true", "aria-selected": "false" },
        `Group: ${item.group} (${item.count})`);
    }
    const t = item.ticket;
    const position = state.byId.get(t.id).position;
    const v = t.validation?.state || "missing";
    return h("div", {
      class: "vrow", role: "option", id: `t-${t.id}`, "data-id": t.id,
      "aria-selected": String(t.id === state.selected),
      onclick: () => { choose(t.id); listEl.focus(); },
      ondblclick: () => edit(t.id),
    },
    h("span", { class: "order" }, `${position}.`),
    h("span", { class: "title" }, t.title),
    h("span", { class: "state badge" }, t.ready ? "✓ ready" : "not ready"),
    h("span", { class: "state extra badge" }, `validation: ${v}`),
    (t.flags || []).map((f) => h("span", { class: "state badge warn" }, `⚑ ${f.replace("_", " ")}`)),
    t.depends_on.length ? h("span", { class: "state extra muted" }, `needs ${t.depends_on.length}`) : null);
  }

  function paint() {
    // CSP allows no inline styles from markup; set them through the CSSOM instead.
    const top = listEl.scrollTop;
    const first = Math.max(0, Math.floor(top / ROW_PX) - 5);
    const last = Math.min(state.items.length, Math.ceil((top + listEl.clientHeight) / ROW_PX) + 5);
    const rows = [];
    for (let i = first; i < last; i++) {
      const row = rowFor(state.items[i]);
      row.style.top = `${i * ROW_PX}px`;
      rows.push(row);
    }
    put(inner, ...rows);
    if (state.selected && inner.querySelector(`#t-${CSS.escape(state.selected)}`)) {
      listEl.setAttribute("aria-activedescendant", `t-${state.selected}`);
    } else {
      listEl.removeAttribute("aria-activedescendant");
    }
  }

  function choose(id) {
    state.selected = id;
    const i = state.items.findIndex((item) => item.ticket && item.ticket.id === id);
    if (i >= 0) {
      const y = i * ROW_PX;
      if (y < listEl.scrollTop) listEl.scrollTop = y;
      else if (y + ROW_PX > listEl.scrollTop + listEl.clientHeight) listEl.scrollTop = y + ROW_PX - listEl.clientHeight;
    }
    paint();
  }

  function move(step) {
    const ids = state.shown.map((t) => t.id);
    if (!ids.length) return;
    const at = ids.indexOf(state.selected);
    choose(ids[Math.max(0, Math.min(ids.length - 1, at < 0 ? 0 : at + step))]);
  }

  function replaceTicket(ticket) {
    const i = state.tickets.findIndex((t) => t.id === ticket.id);
    if (i >= 0) state.tickets[i] = ticket;
    index();
    refilter();
  }

  async function reload() {
    const fresh = await api("GET", `/api/sessions/${sessionId}/tickets?order=export`);
    state.tickets = fresh.tickets;
    index();
    refilter();
  }

  async function toggleReady(id) {
    const t = state.byId.get(id)?.ticket;
    if (!t) return;
    try {
      await api("POST", `/api/sessions/${sessionId}/tickets/ready`, { json: { ready: !t.ready, ticket_ids: [id] } });
      replaceTicket(await api("GET", `/api/sessions/${sessionId}/tickets/${id}`));
      say(`“${t.title}” is ${t.ready ? "not ready" : "ready"} now`);
      put(problems);
    } catch (error) {
      put(problems, errorBlock(error));
    }
  }

  async function markShown(ready) {
    const ids = state.shown.map((t) => t.id);
    if (!ids.length) return;
    try {
      const count = await api("POST", `/api/sessions/${sessionId}/tickets/ready`, { json: { ready, ticket_ids: ids } });
      await reload();
      say(`${ids.length} ticket(s) marked ${ready ? "ready" : "not ready"}; ${count.ready} of ${count.total} ready`);
      put(problems);
    } catch (error) {
      put(problems, errorBlock(error));
    }
  }

  function edit(id) {
    if (!id) return;
    choose(id);
    history.replaceState(null, "", `#/s/${sessionId}/review/${id}`);
    openEditor(editorPane, {
      sessionId, ticketId: id, tickets: () => state.tickets, position: (tid) => state.byId.get(tid)?.position,
      onSaved: replaceTicket, onReordered: reload,
      onClose: () => { history.replaceState(null, "", `#/s/${sessionId}/review`); listEl.focus(); },
    });
  }

  function onKey(event) {
    const target = event.target;
    const typing = target instanceof HTMLElement &&
      (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
    if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
    if (document.getElementById("dialog").open) return;
    const key = event.key;
    if (key === "/") { event.preventDefault(); search.focus(); search.select(); }
    else if (key === "j" || (key === "ArrowDown" && target === listEl)) { event.preventDefault(); move(1); listEl.focus(); }
    else if (key === "k" || (key === "ArrowUp" && target === listEl)) { event.preventDefault(); move(-1); listEl.focus(); }
    else if (key === "e" || (key === "Enter" && target === listEl)) { event.preventDefault(); edit(state.selected); }
    else if (key === "r") { event.preventDefault(); toggleReady(state.selected); }
  }
  document.addEventListener("keydown", onKey);

  refilter();
  listEl.dataset.loadMs = (performance.now() - started).toFixed(1);
  listEl.dataset.fetchMs = (fetched - started).toFixed(1);
  if (openTicketId && state.byId.has(openTicketId)) edit(openTicketId);
  else listEl.focus();
  return () => document.removeEventListener("keydown", onKey);
}
