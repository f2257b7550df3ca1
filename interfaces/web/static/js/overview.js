// A session's inventory (upload by drag-and-drop) and its ticket generation, with live progress.

import { api, errorBlock, h, problemText, put, say, when } from "./api.js";
import { eta, progressBar, sessionHeader } from "./common.js";
import { followProgress } from "./stream.js";

const GENERATION_DONE = new Set(["completed", "failed", "cancelled"]);

export async function renderOverview(main, [sessionId], { me }) {
  let session = await api("GET", `/api/sessions/${sessionId}`);
  const inventory = h("div");
  const generation = h("section", { "aria-labelledby": "gen-title", class: "panel" });
  put(main, ...sessionHeader(session, "overview", me), uploadPanel(), inventory, generation);

  function showInventory() {
    const files = Object.values(session.files || {});
    put(inventory, 
      h("h2", {}, "Inventory"),
      files.length
        ? h("table", {}, h("thead", {}, h("tr", {}, ["File", "Kind", "Rows"].map((t) => h("th", { scope: "col" }, t)))),
          h("tbody", {}, files.map((f) => h("tr", {}, h("td", {}, f.file_name), h("td", {}, f.kind), h("td", {}, String(f.rows))))))
        : h("p", { class: "muted" }, "No inventory uploaded yet."),
      h("p", {}, `${session.counts.entities} entities, ${session.counts.tickets} tickets (${session.counts.ready} ready). `,
        `Revision ${session.revisions || 0}. Last activity ${when(session.updated_at)} by ${session.updated_by}.`),
      session.warnings?.length ? h("ul", { class: "warn" }, session.warnings.map((w) => h("li", {}, "Warning: ", w))) : null,
    );
  }

  // --- upload ------------------------------------------------------------------
  function uploadPanel() {
    let chosen = [];
    const list = h("ul", { class: "files", id: "upload-files", "aria-live": "polite" });
    const outcome = h("div", { id: "upload-result" });
    const input = h("input", { type: "file", id: "upload-input", multiple: true, accept: ".csv,.zip,.yml,.yaml",
      onchange: () => choose([...input.files]) });
    const button = h("button", { type: "button", class: "primary", id: "upload-button", disabled: true, onclick: send }, "Upload");
    const drop = h("div", { class: "drop", id: "dropzone",
      ondragover: (e) => { e.preventDefault(); drop.classList.add("over"); },
      ondragleave: () => drop.classList.remove("over"),
      ondrop: (e) => { e.preventDefault(); drop.classList.remove("over"); choose([...e.dataTransfer.files]); } },
    h("p", {}, "Drop CSV files or a config export zip here, or "),
    h("label", { for: "upload-input", class: "inline" }, "choose files:"), input);

    function choose(files) {
      chosen = files;
      put(outcome);
      put(list, ...files.map((f) => h("li", { "data-file": f.name },
        h("strong", {}, f.name), ` (${f.size} bytes) — `, h("span", { class: "muted" }, "not uploaded yet"))));
      button.disabled = files.length === 0;
    }

    async function send() {
      const form = new FormData();
      for (const f of chosen) form.append("files", f, f.name);
      button.disabled = true;
      try {
        const result = await api("POST", `/api/sessions/${sessionId}/files`, { form });
        const rows = new Map(result.files.map((f) => [f.file_name, f]));
        for (const li of list.children) {
          const f = rows.get(li.dataset.file);
          li.lastChild.replaceWith(h("span", { class: "ok" },
            f ? `accepted: ${f.rows} rows of ${f.kind}` : "accepted"));
        }
        put(outcome, h("p", { class: "ok", role: "status" }, `Uploaded: ${result.entities} entities. ${result.revision.detail}`),
          result.warnings.length ? h("ul", { class: "warn" }, result.warnings.map((w) => h("li", {}, "Warning: ", w))) : null);
        session = result.session;
        showInventory();
        showGeneration();
      } catch (error) {
        const problems = Array.isArray(error.body?.problems) ? error.body.problems : [];
        for (const li of list.children) {
          const mine = problems.filter((p) => p.file === li.dataset.file || String(p.file || "").startsWith(li.dataset.file + "/"));
          li.lastChild.replaceWith(mine.length
            ? h("span", { class: "error" }, "refused: ", h("ul", {}, mine.map((p) => h("li", {}, problemText(p)))))
            : h("span", { class: "muted" }, problems.length ? "no problem found in this file" : "not imported"));
        }
        put(outcome, errorBlock(error), h("p", {}, "Nothing was imported: fix the files and upload again."));
      } finally {
        button.disabled = chosen.length === 0;
      }
    }

    return h("section", { class: "panel", "aria-labelledby": "upload-title" },
      h("h2", { id: "upload-title" }, "Upload the inventory"), drop, list, button, outcome);
  }

  // --- generation ----------------------------------------------------------------
  const bar = progressBar("generation-progress", "Ticket generation progress");
  const genStatus = h("div", { id: "generation-status" });
  const genErrors = h("div", { id: "generation-errors" });
  const liveState = h("p", { class: "muted", id: "generation-live" });
  let stream = null;
  let poll = null;

  async function act(path) {
    try {
      await api("POST", `/api/sessions/${sessionId}/${path}`, { json: {} });
      say(path.endsWith("cancel") ? "Generation cancelled" : "Generation started");
      await refreshStatus();
      follow();
    } catch (error) {
      put(genStatus, errorBlock(error));
    }
  }

  function showStatus(status) {
    bar.set(status.percentage ?? 0, `${status.status}${status.total ? `: ${status.generated || 0} of ${status.total} drafted, ${status.failed || 0} failed` : ""}`);
    const running = !GENERATION_DONE.has(status.status) && status.status !== "not_started";
    const buttons = [
      h("button", { type: "button", class: "primary", id: "generate", disabled: running || !session.counts.entities,
        onclick: () => act("process") }, session.counts.tickets ? "Generate again" : "Generate tickets"),
      h("button", { type: "button", id: "cancel-generation", disabled: !running, onclick: () => act("process/cancel") }, "Cancel"),
      h("button", { type: "button", id: "retry-generation", disabled: running || !(status.failed > 0 || status.status === "failed"),
        onclick: () => act("process/retry") }, "Retry failed"),
    ];
    put(genStatus, h("div", { class: "row" }, buttons),
      h("p", {}, `Status: ${status.status}`, status.generator ? ` (generator ${status.generator}, attempt ${status.attempt})` : "",
        status.finished_at ? `, finished ${when(status.finished_at)}` : ""),
      status.status === "completed" ? h("p", {}, h("a", { href: `#/s/${sessionId}/review` }, "Review the tickets →")) : null);
    const errors = status.errors || [];
    put(genErrors, errors.length
      ? h("div", {}, h("h3", {}, `Failed entities (${errors.length})`),
        h("ul", {}, errors.map((e) => h("li", {}, h("strong", {}, e.config_name), ` — ${e.error} (${e.category})`))))
      : null);
    return running;
  }

  async function refreshStatus() {
    const status = await api("GET", `/api/sessions/${sessionId}/process/status`);
    return showStatus(status);
  }

  function follow() {
    if (stream) return;
    stream = followProgress(sessionId, (message) => {
      if (message.kind !== "processing") return;
      bar.set(message.progress_percentage, `${message.tickets_completed} of ${message.total_tickets} drafted, ${message.tickets_failed} failed ${eta(message.estimated_time_remaining_seconds)}`);
      if (message.type !== "processing_progress") {
        api("GET", `/api/sessions/${sessionId}`).then((fresh) => {
          session = fresh;
          showInventory();
          return refreshStatus();
        }).catch(() => {});
      }
    }, (state, detail) => {
      liveState.textContent = {
        live: "Live progress: connected.", resumed: `Live progress: resumed after message ${detail}.`,
        reconnecting: "Live progress: connection lost, reconnecting…",
        unavailable: `Live progress unavailable (${detail}); the status is polled instead.`,
        refused: "Live progress refused.", ended: "Live progress: waiting for the next task.",
      }[state] || "";
    });
    // The status read model is the safety net when live progress is unavailable.
    poll = setInterval(() => refreshStatus().catch(() => {}), 3000);
  }

  function showGeneration() {
    put(generation, h("h2", { id: "gen-title" }, "Ticket generation"), bar.bar, bar.text, liveState, genStatus, genErrors);
    refreshStatus().catch((error) => put(genStatus, errorBlock(error)));
  }

  showInventory();
  showGeneration();
  follow();
  return () => {
    if (stream) stream.stop();
    clearInterval(poll);
  };
}
