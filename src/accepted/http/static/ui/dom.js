// Building the page: elements from plain values (text is always set as text,
// never as HTML, so a job's params cannot inject markup), and the formats
// every page shares.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = value;
    else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function replaceChildren(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export const STATUSES = ["queued", "running", "delayed", "done", "failed", "cancelled"];
export const FINAL = new Set(["done", "failed", "cancelled"]);

export function statusBadge(status) {
  return h("span", { class: `badge s-${status}`, "data-status": status }, status);
}

// "4.2s", "3m 05s", "2h 10m", "3d 4h": an age or duration an operator reads at a glance.
export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 60) return `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)}s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m}m ${String(Math.floor(seconds % 60)).padStart(2, "0")}s`;
  const hours = Math.floor(m / 60);
  if (hours < 48) return `${hours}h ${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

export function ago(iso) {
  if (!iso) return "—";
  const seconds = (Date.now() - Date.parse(iso)) / 1000;
  if (seconds < 0) return `in ${duration(-seconds)}`;
  return `${duration(seconds)} ago`;
}

// A time as a person reads it, with the exact ISO value on hover.
export function when(iso) {
  if (!iso) return h("span", { class: "muted" }, "—");
  return h("time", { datetime: iso, title: iso }, ago(iso));
}

export function count(n) {
  return n === null || n === undefined ? "—" : Number(n).toLocaleString("en-US");
}

export function shortId(id) {
  return id.length > 13 ? `${id.slice(0, 8)}…${id.slice(-4)}` : id;
}

export function preview(value, max = 80) {
  const text = JSON.stringify(value) ?? "";
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export function jsonBlock(value) {
  return h("pre", { class: "json" }, JSON.stringify(value, null, 2));
}

// Links inside the app are hash routes, so the server serves one page and the
// browser's back button works.
export function link(path, query, ...children) {
  return h("a", { href: href(path, query) }, ...children);
}

export function href(path, query = {}) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    for (const one of [].concat(value ?? [])) if (one !== "") params.append(name, one);
  }
  const search = params.toString();
  return `#${path}${search ? `?${search}` : ""}`;
}

export function queueHref(name) {
  return `/queues/${encodeURIComponent(name)}`;
}

export function jobHref(id) {
  return `/jobs/${encodeURIComponent(id)}`;
}
