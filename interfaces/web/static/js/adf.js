// Atlassian Document Format -> DOM, as Jira shows a description. Built with DOM calls
// only (text is never parsed as HTML); links keep only http(s) and mailto targets.

import { h } from "./api.js";

const SAFE_HREF = /^(https?:|mailto:)/i;

export function renderAdf(doc) {
  const root = h("div", { class: "adf" });
  if (doc && Array.isArray(doc.content)) appendNodes(root, doc.content);
  return root;
}

function appendNodes(parent, nodes) {
  for (const node of nodes || []) {
    const el = renderNode(node);
    if (el) parent.append(el);
  }
}

function renderNode(node) {
  if (!node || typeof node !== "object") return null;
  const attrs = node.attrs || {};
  switch (node.type) {
    case "text":
      return renderText(node);
    case "paragraph":
      return withChildren(h("p"), node);
    case "heading": {
      // Jira's heading levels, shifted below the page's own headings.
      const level = Math.min(6, Math.max(1, Number(attrs.level) || 1) + 2);
      return withChildren(h(`h${level}`), node);
    }
    case "bulletList":
      return withChildren(h("ul"), node);
    case "orderedList":
      return withChildren(h("ol", { start: attrs.order > 1 ? attrs.order : null }), node);
    case "listItem":
      return withChildren(h("li"), node);
    case "blockquote":
      return withChildren(h("blockquote"), node);
    case "codeBlock": {
      const code = h("code", { "data-language": attrs.language || null });
      appendNodes(code, node.content);
      return h("pre", {}, code);
    }
    case "rule":
      return h("hr");
    case "hardBreak":
      return h("br");
    case "table":
      return h("table", {}, withChildren(h("tbody"), node));
    case "tableRow":
      return withChildren(h("tr"), node);
    case "tableHeader":
      return withChildren(h("th"), node);
    case "tableCell":
      return withChildren(h("td"), node);
    case "panel":
      return withChildren(h("div", { class: "panel", "data-panel": attrs.panelType }), node);
    case "mention":
      return h("span", { class: "badge" }, attrs.text || "@mention");
    case "emoji":
      return document.createTextNode(attrs.text || attrs.shortName || "");
    case "inlineCard":
      return SAFE_HREF.test(attrs.url || "") ? h("a", { href: attrs.url }, attrs.url) : null;
    default:
      return withChildren(h("div", { "data-unknown": node.type }), node);
  }
}

function withChildren(el, node) {
  appendNodes(el, node.content);
  return el;
}

function renderText(node) {
  let el = document.createTextNode(node.text || "");
  for (const mark of node.marks || []) {
    const a = mark.attrs || {};
    let wrapper;
    switch (mark.type) {
      case "strong": wrapper = h("strong"); break;
      case "em": wrapper = h("em"); break;
      case "code": wrapper = h("code"); break;
      case "strike": wrapper = h("s"); break;
      case "underline": wrapper = h("u"); break;
      case "subsup": wrapper = h(a.type === "sup" ? "sup" : "sub"); break;
      case "link":
        wrapper = SAFE_HREF.test(a.href || "")
          ? h("a", { href: a.href, rel: "noopener noreferrer", target: "_blank" })
          : h("span");
        break;
      default: wrapper = null;
    }
    if (wrapper) {
      wrapper.append(el);
      el = wrapper;
    }
  }
  return el;
}
