// The console's shell: sign in / out, the hash router, the header.

import { api, ApiError, errorBlock, h, put, token } from "./api.js";
import { renderSessions } from "./sessions.js";
import { renderOverview } from "./overview.js";
import { renderReview } from "./review.js";
import { renderExport } from "./export.js";
import { renderAdmin, renderAudit } from "./admin.js";

const main = document.getElementById("main");
let me = null;
let cleanup = null;

const ROUTES = [
  [/^#\/sessions$/, renderSessions],
  [/^#\/s\/([0-9a-f-]{36})$/, renderOverview],
  [/^#\/s\/([0-9a-f-]{36})\/review(?:\/([0-9a-f-]{36}))?$/, renderReview],
  [/^#\/s\/([0-9a-f-]{36})\/export$/, renderExport],
  [/^#\/s\/([0-9a-f-]{36})\/audit$/, renderAudit, true],
  [/^#\/admin$/, renderAdmin, true],
];

async function signedIn() {
  if (me) return me;
  if (!token.get()) return null;
  try {
    me = await api("GET", "/api/me", { keepToken: true });
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) token.clear();
    me = null;
  }
  return me;
}

function showUser() {
  document.getElementById("nav").hidden = !me;
  document.getElementById("who").hidden = !me;
  document.getElementById("nav-admin").hidden = !(me && me.is_admin);
  document.getElementById("who-name").textContent = me
    ? `Signed in as ${me.name}${me.is_admin ? " (admin)" : ""}`
    : "";
}

function signInForm(message) {
  const input = h("input", {
    id: "token", name: "token", type: "password", autocomplete: "off", required: true,
    "aria-describedby": "token-help",
  });
  const problem = h("div", { id: "signin-error" }, message ? h("p", { class: "error", role: "alert" }, message) : null);
  const form = h(
    "form",
    {
      class: "panel signin",
      "aria-labelledby": "signin-title",
      onsubmit: async (event) => {
        event.preventDefault();
        token.set(input.value.trim());
        me = null;
        if (await signedIn()) {
          showUser();
          if (location.hash === "#/sessions") route();
          else location.hash = "#/sessions";
        } else {
          token.clear();
          put(problem, h("p", { class: "error", role: "alert" },
            "That token is not valid. Create one with `ticketforge users create NAME`."));
        }
      },
    },
    h("h1", { id: "signin-title" }, "Sign in"),
    h("label", { for: "token" }, "API token"),
    input,
    h("p", { id: "token-help", class: "muted" },
      "From `ticketforge users create NAME` or printed by `ticketforge demo --keep-running`. ",
      "It is kept for this browser tab only."),
    problem,
    h("button", { type: "submit", class: "primary" }, "Sign in"),
  );
  put(main, form);
  input.focus();
}

async function route() {
  if (cleanup) {
    try { cleanup(); } catch { /* the old view is gone anyway */ }
    cleanup = null;
  }
  if (!(await signedIn())) {
    showUser();
    signInForm();
    return;
  }
  showUser();
  const hash = location.hash || "#/sessions";
  for (const [pattern, view, adminOnly] of ROUTES) {
    const match = hash.match(pattern);
    if (!match) continue;
    if (adminOnly && !me.is_admin) break;
    put(main, h("p", { class: "muted" }, "Loading…"));
    try {
      cleanup = (await view(main, match.slice(1), { me })) || null;
    } catch (error) {
      put(main, h("h1", {}, "Something went wrong"), errorBlock(error));
    }
    return;
  }
  put(main, h("h1", {}, "Not found"),
    h("p", {}, "No such page here. ", h("a", { href: "#/sessions" }, "Back to the sessions")));
}

document.getElementById("sign-out").addEventListener("click", () => {
  token.clear();
  me = null;
  if (location.hash === "#/sessions") route();
  else location.hash = "#/sessions";
});
window.addEventListener("tf:unauthorized", () => {
  token.clear();
  me = null;
  showUser();
  signInForm("Your token is no longer accepted: sign in again.");
});
window.addEventListener("hashchange", route);
route();
