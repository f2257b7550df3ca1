// Validate (errors linked to their tickets), check the Jira project, export with live
// progress, then the summary with links to the Jira issues and the manual fixes.

import { api, errorBlock, h, put, say, when } from "./api.js";
import { eta, progressBar, sessionHeader } from "./common.js";
import { followProgress } from "./stream.js";

const ENDED = new Set(["completed", "failed"]);

export async function renderExport(main, [sessionId], { me }) {
  let session = await api("GET", `/api/sessions/${sessionId}`);
  const readiness = h("section", { class: "panel", id: "readiness", "aria-labelledby": "readiness-title" });
  const validation = h("div", { id: "validation-result" });
  const project = h("div", { id: "project-result" });
  const bar = progressBar("export-progress", "Export progress");
  const counters = h("dl", { id: "export-counters", class: "row" });
  const live = h("p", { class: "muted", id: "export-live" });
  const controls = h("div", { class: "row", id: "export-controls" });
  const steps = h("ol", { class: "steps", id: "export-steps", tabindex: 0, "aria-label": "Export steps as they happened" });
  const summary = h("div", { id: "export-summary" });
  let stream = null;
  let lastStatusAt = 0;
  let exportStatus = null;

  put(main, ...sessionHeader(session, "export", me), readiness,
    h("section", { class: "panel", "aria-labelledby": "validate-title" },
      h("h2", { id: "validate-title" }, "Validate"),
      h("div", { class: "row" },
        h("button", { type: "button", id: "validate", onclick: validate }, "Validate all tickets"),
        h("button", { type: "button", id: "check-project", onclick: checkProject }, `Check Jira project ${session.jira_project_key}`)),
      validation, project),
    h("section", { class: "panel", "aria-labelledby": "export-title" },
      h("h2", { id: "export-title" }, "Export to Jira"), controls, bar.bar, bar.text, counters, live,
      h("h3", {}, "Steps"), steps),
    summary);

  function showReadiness() {
    put(readiness, h("h2", { id: "readiness-title" }, "Ready to export?"),
      session.export_ready
        ? h("p", { class: "ok" }, "✓ Ready: every ticket is ready and validated.")
        : h("div", {}, h("p", { class: "warn" }, "✗ Not ready yet:"), h("ul", {}, session.export_blockers.map((b) => h("li", {}, b)))),
      h("p", { class: "muted" }, `${session.counts.ready} of ${session.counts.tickets} tickets ready; validation ${session.validation.state}.`));
  }

  async function refreshSession() {
    session = await api("GET", `/api/sessions/${sessionId}`);
    const badge = document.getElementById("stage-badge");
    if (badge) badge.textContent = `stage: ${session.stage}`;
    showReadiness();
    showControls();
  }

  async function validate() {
    put(validation, h("p", { class: "muted" }, "Validating…"));
    try {
      const report = await api("POST", `/api/sessions/${sessionId}/adf-validation`, { json: {} });
      const failed = report.results.filter((r) => r.status !== "passed");
      put(validation, 
        h("p", { class: report.all_passed ? "ok" : "error", role: "status" },
          `${report.all_passed ? "✓" : "✗"} ${report.passed} of ${report.tickets_tested} tickets passed, ${report.failed} failed.`),
        failed.length ? h("ul", { id: "validation-failures" }, failed.map((r) => h("li", {},
          h("a", { href: `#/s/${sessionId}/review/${r.ticket_id}` }, r.ticket_title), ": ", r.error_message,
          r.suggested_fix ? h("div", { class: "muted" }, "Fix: ", r.suggested_fix) : null))) : null);
      await refreshSession();
    } catch (error) {
      put(validation, errorBlock(error));
    }
  }

  async function checkProject() {
    put(project, h("p", { class: "muted" }, "Checking the Jira project…"));
    try {
      const check = await api("POST", "/api/jira/validate-project", { json: { session_id: sessionId } });
      put(project, 
        h("p", { class: check.ok ? "ok" : "error", role: "status", id: "project-verdict" },
          check.ok ? `✓ Project ${check.project_key} can take the export` : `✗ Project ${check.project_key} would refuse the export`),
        check.problems.length ? h("ul", { class: "error" }, check.problems.map((p) => h("li", {}, p))) : null,
        check.warnings.length ? h("ul", { class: "warn" }, check.warnings.map((w) => h("li", {}, "Warning: ", w))) : null,
        check.estimate ? h("p", { class: "muted" }, `Estimate: about ${Math.ceil(check.estimate.duration_s)} s.`) : null);
    } catch (error) {
      put(project, errorBlock(error));
    }
  }

  function showControls() {
    const running = exportStatus && !ENDED.has(exportStatus.status);
    put(controls, 
      h("button", { type: "button", class: "primary", id: "start-export", disabled: running || !session.export_ready, onclick: start },
        running ? "Exporting…" : exportStatus ? "Export again" : "Export"),
      exportStatus && exportStatus.status === "failed" && exportStatus.retry_available
        ? h("button", { type: "button", id: "retry-export", onclick: retry }, "Retry the export") : null,
      !session.export_ready && !running ? h("span", { class: "muted" }, "Resolve what is listed under ‘Ready to export?’ first.") : null);
  }

  function showCounters(s) {
    const pairs = [
      ["Issues created", `${s.jira_tickets_created ?? s.tickets_created ?? 0} of ${s.total_tickets ?? "?"}`],
      ["Links", `${s.dependencies_created ?? 0}${s.dependencies_total !== undefined ? " of " + s.dependencies_total : ""}`],
      ["Attachments", `${s.attachments_uploaded ?? 0}`],
      ["Manual fixes", `${s.manual_fixes_needed ?? 0}`],
    ];
    put(counters, ...pairs.flatMap(([k, v]) => [h("dt", {}, k + ":"), h("dd", { "data-counter": k }, v)]));
  }

  async function loadStatus() {
    try {
      exportStatus = await api("GET", `/api/sessions/${sessionId}/export/status`);
    } catch (error) {
      if (error.status === 404) { exportStatus = null; showControls(); return; }
      throw error;
    }
    bar.set(exportStatus.progress_percentage, `${exportStatus.status}${exportStatus.eta_seconds ? ", " + eta(exportStatus.eta_seconds) : ""}`);
    showCounters(exportStatus);
    showControls();
    if (exportStatus.status === "failed") {
      put(live, h("span", { class: "error" }, `Failed: ${exportStatus.user_message || ""}`),
        h("ul", {}, exportStatus.recovery_actions.map((r) => h("li", {}, r))));
    }
    if (ENDED.has(exportStatus.status)) await showSummary();
  }

  async function start() {
    try {
      const started = await api("POST", `/api/sessions/${sessionId}/export`, { json: {} });
      say(`Export started: ${started.total_tickets} tickets to ${started.project_key}`);
      put(summary);
      exportStatus = { ...(exportStatus || {}), status: "requested", total_tickets: started.total_tickets, dependencies_total: started.total_dependencies };
      showControls();
      showCounters(exportStatus);
    } catch (error) {
      controls.append(errorBlock(error));
    }
  }

  async function retry() {
    try {
      await api("POST", `/api/sessions/${sessionId}/export/retry`, { json: {} });
      say("Export retried");
      await loadStatus();
    } catch (error) {
      controls.append(errorBlock(error));
    }
  }

  function onMessage(message) {
    if (message.kind !== "export") return;
    if (message.export_id && steps.dataset.export !== message.export_id) {
      put(steps);  // the steps of another export (an earlier one) make way
      steps.dataset.export = message.export_id;
    }
    const words = `${message.current_stage}${message.estimated_time_remaining_seconds ? ", " + eta(message.estimated_time_remaining_seconds) : ""}`;
    bar.set(message.progress_percentage, words);
    steps.append(h("li", { "data-seq": message.sequence, "data-type": message.type },
      `${message.current_stage} — ${message.tickets_created ?? message.tickets_completed} of ${message.total_tickets} created, ` +
      `${message.dependencies_created ?? 0} links, ${message.manual_fixes_needed ?? 0} manual fixes`));
    steps.lastChild.scrollIntoView({ block: "nearest" });
    exportStatus = { ...(exportStatus || {}), ...message, status: message.status === "exporting" ? "running" : message.status,
      jira_tickets_created: message.tickets_created ?? message.tickets_completed };
    showCounters(exportStatus);
    const now = Date.now();
    if (message.type !== "export_progress" || now - lastStatusAt > 1500) {
      lastStatusAt = now;
      loadStatus().then(refreshSession).catch(() => {});
    }
  }

  async function showSummary() {
    if (!exportStatus || !ENDED.has(exportStatus.status)) return;
    let answer;
    let fixes;
    try {
      [answer, fixes] = await Promise.all([
        api("GET", `/api/sessions/${sessionId}/export/summary`),
        api("GET", `/api/sessions/${sessionId}/export/manual-fixes`),
      ]);
    } catch (error) {
      put(summary, errorBlock(error));
      return;
    }
    put(summary, 
      h("h2", { id: "summary-title" }, "Export summary"),
      h("p", {}, `${answer.status}: ${answer.total_tickets_created} issues in ${answer.project_key}, ${answer.dependencies.length} links` +
        `${answer.completed_at ? ", finished " + when(answer.completed_at) : ""}.`),
      h("h3", {}, `Manual fixes (${fixes.open} open of ${fixes.total})`),
      fixes.total ? h("ul", { id: "manual-fixes" }, fixes.fixes.map(fixItem)) : h("p", { class: "ok" }, "✓ No manual fixes needed."),
      h("h3", {}, "Jira issues"),
      h("table", { id: "jira-issues", class: "wide" },
        h("thead", {}, h("tr", {}, ["#", "Issue", "Title", "Status"].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, answer.jira_tickets.map((issue) => h("tr", {},
          h("td", {}, String(issue.order)),
          h("td", {}, h("a", { href: issue.jira_url, target: "_blank", rel: "noopener" }, issue.jira_key)),
          h("td", {}, issue.title),
          h("td", {}, issue.jira ? issue.jira.status : "—"))))));
  }

  function fixItem(fix) {
    const note = h("input", { id: `note-${fix.fix_id}`, "aria-label": `Resolution note for ${fix.kind} on ${fix.issue_key || "the export"}` });
    const choice = fix.kind === "conflict"
      ? h("select", { id: `choice-${fix.fix_id}`, "aria-label": "Which text to keep" },
        h("option", { value: "keep_jira" }, "Keep Jira's text"), h("option", { value: "overwrite" }, "Overwrite with ours on the next export"))
      : null;
    const item = h("li", { "data-fix": fix.fix_id },
      h("strong", {}, fix.kind), fix.issue_key ? ` on ${fix.issue_key}` : "", `: ${fix.detail} `,
      h("span", { class: "muted" }, `— ${fix.recommended_action}`), " ",
      fix.resolved
        ? h("span", { class: "ok badge" }, `✓ resolved${fix.resolved_by ? " by " + fix.resolved_by : ""}${fix.resolution_note ? ": " + fix.resolution_note : ""}`)
        : h("span", { class: "row" }, note, choice,
          h("button", { type: "button", class: "resolve", onclick: async () => {
            try {
              const body = { note: note.value || null };
              if (choice) body.choice = choice.value;
              const done = await api("POST", `/api/sessions/${sessionId}/export/manual-fixes/${fix.fix_id}/resolve`, { json: body });
              item.replaceWith(fixItem(done));
              say("Manual fix resolved");
            } catch (error) {
              item.append(errorBlock(error));
            }
          } }, "Resolve")));
    return item;
  }

  showReadiness();
  showControls();
  await loadStatus();
  stream = followProgress(sessionId, onMessage, (state, detail) => {
    live.dataset.state = state;
    if (state === "resumed") live.dataset.resumed = String(Number(live.dataset.resumed || 0) + 1);
    live.textContent = {
      live: "Live progress: connected.", resumed: `Live progress: resumed after message ${detail}.`,
      reconnecting: "Live progress: connection lost, reconnecting…",
      unavailable: `Live progress unavailable (${detail}).`, refused: "Live progress refused.",
      ended: "Live progress: waiting for the next export.",
    }[state] || "";
  });
  // Without live progress (no NATS: 503), the status read model is polled instead.
  const poll = setInterval(() => {
    const running = exportStatus && !ENDED.has(exportStatus.status);
    if (running && !["live", "resumed", "ended"].includes(live.dataset.state)) {
      loadStatus().catch(() => {});
    }
  }, 3000);
  return () => {
    clearInterval(poll);
    if (stream) stream.stop();
  };
}
