// The ticket editor: Markdown on one side, the description as Jira will show it on the
// other (the ADF the server builds, with its check); a concurrent edit is answered by
// the API's 409, shown with both versions and a choice.

import { api, ApiError, errorBlock, h, put, say } from "./api.js";
import { renderAdf } from "./adf.js";

const TEXT = [["title", "Title"], ["user_story", "User story"], ["analysis", "Analysis"], ["verification", "Verification"]];
const META = [["assignee", "Assignee (email or accountId)"], ["priority", "Priority"], ["sprint", "Sprint"]];

export async function openEditor(pane, options) {
  const { sessionId, ticketId } = options;
  const url = `/api/sessions/${sessionId}/tickets/${ticketId}`;
  let base = await api("GET", url);
  const inputs = {};
  const message = h("div", { id: "editor-message", "aria-live": "polite" });
  const preview = h("div", { class: "preview", id: "jira-preview", role: "region", tabindex: 0, "aria-label": "Jira preview" });
  const deps = h("div", { id: "dependencies" });
  let timer = null;

  const form = h("form", { class: "editor", "aria-labelledby": "editor-title", onsubmit: (e) => { e.preventDefault(); save(); } });
  for (const [key, label] of TEXT) {
    const id = `edit-${key}`;
    inputs[key] = h(key === "title" ? "input" : "textarea", { id, name: key, rows: key === "title" ? null : 6,
      oninput: schedulePreview, "aria-describedby": key === "title" ? null : "markdown-help" });
    form.append(h("label", { for: id }, label), inputs[key]);
  }
  form.append(h("p", { id: "markdown-help", class: "muted" }, "Markdown: **bold**, _italic_, `code`, lists, [links](https://…), ``` code blocks."));
  const meta = h("div", { class: "grid2" });
  for (const [key, label] of META) {
    const id = `edit-${key}`;
    inputs[key] = h("input", { id, name: key });
    meta.append(h("div", {}, h("label", { for: id }, label), inputs[key]));
  }
  inputs.labels = h("input", { id: "edit-labels", name: "labels", "aria-describedby": "labels-help" });
  meta.append(h("div", {}, h("label", { for: "edit-labels" }, "Labels"), inputs.labels,
    h("div", { id: "labels-help", class: "muted" }, "Separated by spaces")));
  form.append(meta, message, h("div", { class: "row" },
    h("button", { type: "submit", class: "primary", id: "save-ticket" }, "Save"),
    h("button", { type: "button", id: "toggle-ready", onclick: toggleReady }, "Ready"),
    h("button", { type: "button", id: "move-up", onclick: () => move(-1) }, "Move earlier"),
    h("button", { type: "button", id: "move-down", onclick: () => move(1) }, "Move later"),
    h("button", { type: "button", id: "close-editor", onclick: close }, "Close")));

  const heading = h("h2", { id: "editor-title", tabindex: -1 });
  put(pane, heading, h("div", { class: "grid2" },
    h("div", {}, form, deps), h("div", {}, h("h3", {}, "As Jira will show it"), preview)));
  pane.onkeydown = (event) => { if (event.key === "Escape") { event.preventDefault(); close(); } };
  fill(base);
  heading.focus();

  function values() {
    const v = {};
    for (const key of ["title", "user_story", "analysis", "verification", "assignee", "priority", "sprint"]) v[key] = inputs[key].value;
    v.labels = inputs.labels.value.split(/\s+/).filter(Boolean);
    return v;
  }

  function fill(ticket) {
    for (const key of ["title", "user_story", "analysis", "verification"]) inputs[key].value = ticket[key] || "";
    for (const key of ["assignee", "priority", "sprint"]) inputs[key].value = ticket[key] || "";
    inputs.labels.value = (ticket.labels || []).join(" ");
    refreshMeta(ticket);
    updatePreview();
  }

  // The ticket's version, readiness, place and dependencies changed; what was typed stays.
  function refreshMeta(ticket) {
    base = ticket;
    const position = options.position(ticket.id);
    heading.textContent = `Ticket ${position ? position + ". " : ""}${ticket.title}`;
    document.getElementById("toggle-ready").textContent = ticket.ready ? "Mark not ready" : "Mark ready";
    showDependencies();
  }

  function changes() {
    const now = values();
    const out = {};
    for (const key of ["title", "user_story", "analysis", "verification"]) if (now[key] !== (base[key] || "")) out[key] = now[key];
    for (const key of ["assignee", "priority", "sprint"]) if (now[key] !== (base[key] || "")) out[key] = now[key] || null;
    if (now.labels.join(" ") !== (base.labels || []).join(" ")) out.labels = now.labels;
    return out;
  }

  function schedulePreview() {
    clearTimeout(timer);
    timer = setTimeout(updatePreview, 250);
  }

  async function updatePreview() {
    const v = values();
    try {
      const answer = await api("POST", "/api/adf/preview", { json: {
        config_name: base.config_name, title: v.title, user_story: v.user_story,
        analysis: v.analysis, verification: v.verification,
      } });
      const saved = base.validation || {};
      put(preview, 
        h("p", { class: "summary" }, answer.summary),
        h("p", { id: "preview-check", role: "status", class: answer.status === "passed" ? "ok" : "error" },
          answer.status === "passed" ? "✓ Check passed" : "✗ Check failed", ` — ${answer.adf_size_bytes} bytes of ADF`,
          answer.attachment ? `; over Jira's limit: the full text goes as ${answer.attachment}` : ""),
        answer.error_message ? h("div", { class: "error", role: "alert" }, h("pre", {}, answer.error_message),
          answer.suggested_fix ? h("p", {}, "Fix: ", answer.suggested_fix) : null) : null,
        h("p", { class: "muted" }, `Saved version ${base.version}: validation ${saved.state || "missing"}`,
          saved.error ? ` — ${saved.error}` : ""),
        renderAdf(answer.adf));
    } catch (error) {
      put(preview, errorBlock(error));
    }
  }

  async function save(force) {
    const body = changes();
    if (!Object.keys(body).length) { put(message, h("p", { class: "muted" }, "Nothing changed.")); return; }
    const version = force ?? base.version;
    try {
      const saved = await api("PATCH", url, { json: body, headers: { "If-Match": `"${version}"` } });
      fill(saved);
      options.onSaved(saved);
      put(message, h("p", { class: "ok" }, `Saved (version ${saved.version}).`));
      say("Ticket saved");
    } catch (error) {
      if (error instanceof ApiError && error.status === 409 && error.body.current_version !== undefined) {
        await conflict(body);
      } else {
        put(message, errorBlock(error));
      }
    }
  }

  async function conflict(mine) {
    const theirs = await api("GET", url);
    const dialog = document.getElementById("dialog");
    const rows = Object.keys(mine).map((key) => h("tr", {},
      h("th", { scope: "row" }, key),
      h("td", {}, h("pre", {}, fmt(base[key]))),
      h("td", {}, h("pre", {}, fmt(mine[key]))),
      h("td", {}, h("pre", {}, fmt(theirs[key])))));
    const done = () => { dialog.close(); form.querySelector("#save-ticket").focus(); };
    put(dialog, 
      h("h2", { id: "dialog-title" }, "Someone else changed this ticket"),
      h("p", {}, `You edited version ${base.version}; ${theirs.updated_by} saved version ${theirs.version} meanwhile. Choose which text to keep.`),
      h("div", { class: "scroll", tabindex: 0, role: "region", "aria-label": "Both versions" }, h("table", {}, h("thead", {}, h("tr", {},
        ["Field", `Before (v${base.version})`, "Yours", `Theirs (v${theirs.version})`].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows))),
      h("div", { class: "row" },
        h("button", { type: "button", class: "primary", id: "conflict-keep-mine", onclick: async () => {
          done();
          base = theirs;
          await save(theirs.version);
        } }, "Keep mine (save over theirs)"),
        h("button", { type: "button", id: "conflict-take-theirs", onclick: () => {
          done(); fill(theirs); options.onSaved(theirs);
          put(message, h("p", {}, `Showing their version ${theirs.version}; your edit was dropped.`));
        } }, "Take theirs"),
        h("button", { type: "button", id: "conflict-later", onclick: done }, "Decide later")));
    dialog.showModal();
  }

  function showDependencies() {
    const tickets = options.tickets();
    const title = (id) => { const t = tickets.find((x) => x.id === id); return t ? `${options.position(id)}. ${t.title}` : id; };
    const error = h("div", { id: "dependency-error" });
    const choose = h("select", { id: "add-dependency" },
      h("option", { value: "" }, "Choose a ticket…"),
      tickets.filter((t) => t.id !== base.id && !base.depends_on.includes(t.id))
        .map((t) => h("option", { value: t.id }, `${options.position(t.id)}. ${t.title}`)));
    put(deps, h("h3", {}, "Depends on"),
      base.depends_on.length
        ? h("ul", {}, base.depends_on.map((id) => h("li", {}, title(id), " ",
          h("button", { type: "button", "aria-label": `Remove the dependency on ${title(id)}`,
            onclick: () => dependency("DELETE", id, error) }, "Remove"))))
        : h("p", { class: "muted" }, "No dependencies."),
      h("label", { for: "add-dependency" }, "Add a dependency"),
      h("div", { class: "row" }, choose,
        h("button", { type: "button", id: "add-dependency-button", onclick: () => choose.value && dependency("POST", choose.value, error) }, "Add")),
      error);
  }

  async function dependency(method, other, error) {
    try {
      const saved = method === "POST"
        ? await api("POST", `${url}/dependencies`, { json: { depends_on: other } })
        : await api("DELETE", `${url}/dependencies/${other}`);
      options.onSaved(saved);
      await options.onReordered();
      refreshMeta(saved);
      say(method === "POST" ? "Dependency added" : "Dependency removed");
    } catch (e) {
      put(error, h("p", { class: "error", role: "alert" }, "The dependency was refused: ",
        e.status === 409 || e.status === 422 ? "it would make a cycle, and Jira's ‘blocks’ links must be ordered. " : "",
      ), errorBlock(e));
    }
  }

  async function toggleReady() {
    try {
      await api("POST", `/api/sessions/${sessionId}/tickets/ready`, { json: { ready: !base.ready, ticket_ids: [base.id] } });
      const fresh = await api("GET", url);
      options.onSaved(fresh);
      refreshMeta(fresh);
      say(fresh.ready ? "Marked ready" : "Marked not ready");
    } catch (error) {
      put(message, errorBlock(error));
    }
  }

  // Swap with the neighbour in the person's order (dependencies still go first on export).
  async function move(step) {
    try {
      const listing = await api("GET", `/api/sessions/${sessionId}/tickets?order=user`);
      const ids = listing.tickets.map((t) => t.id);
      const at = ids.indexOf(base.id);
      const to = at + step;
      if (at < 0 || to < 0 || to >= ids.length) return;
      [ids[at], ids[to]] = [ids[to], ids[at]];
      await api("PUT", `/api/sessions/${sessionId}/ticket-order`, { json: { ticket_ids: ids } });
      await options.onReordered();
      refreshMeta(await api("GET", url));
      say(step < 0 ? "Moved earlier" : "Moved later");
    } catch (error) {
      put(message, errorBlock(error));
    }
  }

  function close() {
    put(pane, h("p", { class: "muted" }, "Editor closed."));
    options.onClose();
  }
}

function fmt(value) {
  if (Array.isArray(value)) return value.join(" ");
  return value === null || value === undefined ? "" : String(value);
}
