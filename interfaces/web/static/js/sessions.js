// The sessions list and the form that creates one.

import { api, errorBlock, h, put, say, when } from "./api.js";

export async function renderSessions(main) {
  const list = await api("GET", "/api/sessions?limit=500");
  const rows = list.sessions.map((s) =>
    h("tr", {},
      h("td", {}, h("a", { href: `#/s/${s.id}` }, s.name)),
      h("td", {}, s.stage),
      h("td", {}, `${s.counts.tickets} tickets, ${s.counts.ready} ready, ${s.counts.entities} entities`),
      h("td", {}, s.jira_project_key),
      h("td", {}, s.owner),
      h("td", {}, when(s.updated_at), " by ", s.updated_by),
    ));
  const table = list.sessions.length
    ? h("table", { class: "wide" },
      h("caption", { class: "muted" }, `${list.total} session(s), latest activity first`),
      h("thead", {}, h("tr", {},
        ["Session", "Stage", "Counts", "Jira project", "Owner", "Last activity"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows))
    : h("p", {}, "No sessions yet: create one below.");
  put(main, h("h1", {}, "Sessions"), table, createForm());
}

function field(id, label, attrs = {}, help) {
  return [
    h("label", { for: id }, label),
    h(attrs.tag || "input", { id, name: id, ...attrs, tag: null, "aria-describedby": help ? `${id}-help` : null }),
    help ? h("div", { id: `${id}-help`, class: "muted" }, help) : null,
  ];
}

function createForm() {
  const result = h("div");
  const form = h("form", {
    class: "panel", "aria-labelledby": "create-title",
    onsubmit: async (event) => {
      event.preventDefault();
      const data = new FormData(form);
      const labels = String(data.get("labels") || "").split(/[\s,]+/).filter(Boolean);
      try {
        const created = await api("POST", "/api/sessions", { json: {
          name: data.get("name"),
          site_context: {
            site_name: data.get("site_name"),
            description: data.get("description") || "",
            audience: data.get("audience") || "",
          },
          jira_project_key: String(data.get("project") || "").toUpperCase(),
          issue_type: data.get("issue_type") || "Task",
          default_labels: labels,
        } });
        say(`Session “${created.name}” created`);
        location.hash = `#/s/${created.id}`;
      } catch (error) {
        put(result, errorBlock(error));
      }
    },
  },
  h("h2", { id: "create-title" }, "New session"),
  h("div", { class: "grid2" },
    h("div", {}, field("name", "Session name", { required: true, maxlength: 200 }),
      field("site_name", "Site name", { required: true, maxlength: 200 }),
      field("project", "Jira project key", { required: true, pattern: "[A-Za-z][A-Za-z0-9_]{1,9}" },
        "2 to 10 letters or digits, starting with a letter (e.g. NW)")),
    h("div", {}, field("description", "Site description", { tag: "textarea", rows: 2 }),
      field("audience", "Audience", { maxlength: 1000 }),
      field("issue_type", "Issue type", { value: "Task" }),
      field("labels", "Default labels", {}, "Separated by spaces or commas"))),
  result,
  h("button", { type: "submit", class: "primary" }, "Create session"));
  return form;
}
