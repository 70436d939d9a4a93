// The dashboard's shell: the header, the token prompt, the confirmation
// dialog and messages, and the hash routes that pick a page:
//   #/queues            every queue        #/queues/NAME   one queue and its jobs
//   #/jobs?status=&queue=&q=   the job list   #/jobs/ID       one job
//   #/schedules         every schedule: next and last runs, run now, pause

import { ApiError, capabilities, onUnauthorized, token } from "./api.js";
import { h, href, replaceChildren } from "./dom.js";
import { jobPage } from "./job.js";
import { jobsPage } from "./jobs.js";
import { Live } from "./live.js";
import { queuePage, queuesPage } from "./queues.js";
import { schedulesPage } from "./schedules.js";
import { Throughput } from "./throughput.js";

const TOAST_FOR = 5000; // ms a message stays

const ctx = {
  live: new Live(),
  throughput: new Throughput(),
  caps: { auth: false, admin: true, producer: true, unlimitedAdmin: true },
  toast,
  fail,
  confirm,
};

const main = document.getElementById("main");
const messages = document.getElementById("messages");
let page = null;

function parseRoute() {
  const raw = location.hash.replace(/^#/, "") || "/queues";
  const [path, search = ""] = raw.split("?");
  return { parts: path.split("/").filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(search) };
}

function pick({ parts, query }) {
  const [kind, name] = parts;
  if (kind === "queues" && name !== undefined) return queuePage(ctx, name, query);
  if (kind === "jobs" && name !== undefined) return jobPage(ctx, name);
  if (kind === "jobs") return jobsPage(ctx, query);
  if (kind === "schedules") return schedulesPage(ctx);
  return queuesPage(ctx);
}

function route() {
  if (page) page.dispose();
  const current = parseRoute();
  page = pick(current);
  replaceChildren(main, page.el);
  for (const a of document.querySelectorAll("header nav a")) {
    a.classList.toggle("current", a.dataset.page === (current.parts[0] || "queues"));
  }
  window.scrollTo(0, 0);
}

ctx.live.subscribe((event, job) => page && page.update(event, job));

function toast(text, kind = "info") {
  const item = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
  messages.append(item);
  setTimeout(() => item.remove(), TOAST_FOR);
}

function explain(error) {
  if (!(error instanceof ApiError)) return `Cannot reach the server (${error.message}).`;
  if (error.status === 401) return "This server needs a token.";
  if (error.status === 403) return "Your token may not do this.";
  return `${error.message} (${error.status}${error.code ? ` ${error.code}` : ""})`;
}

// An error shown where the page's content would be, or as a message.
function fail(error, where = null) {
  if (where) replaceChildren(where, h("p", { class: "notice error" }, explain(error)));
  else toast(explain(error), "error");
}

// A modal question; resolves true only on the confirming button.
function confirm({ title, body = [], confirm: yes = "Confirm", danger = false }) {
  const dialog = h("dialog", { class: "confirm", "aria-label": title });
  return new Promise((resolve) => {
    const close = (answer) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    replaceChildren(
      dialog,
      h("h2", {}, title),
      body.map((text) => h("p", {}, text)),
      h(
        "div",
        { class: "buttons" },
        h("button", { type: "button", class: "btn", "data-answer": "no", onclick: () => close(false) }, "Keep them"),
        h("button", { type: "button", class: danger ? "btn danger" : "btn primary", "data-answer": "yes", onclick: () => close(true) }, yes),
      ),
    );
    dialog.addEventListener("cancel", () => resolve(false)); // Escape
    document.body.append(dialog);
    dialog.showModal();
  });
}

function tokenDialog() {
  if (document.querySelector("dialog.token")) return;
  const input = h("input", { type: "password", name: "token", autocomplete: "off", required: true, "aria-label": "Token" });
  const dialog = h(
    "dialog",
    { class: "token" },
    h(
      "form",
      {
        method: "dialog",
        onsubmit: async () => {
          token.set(input.value);
          dialog.remove();
          await start();
        },
      },
      h("h2", {}, "Token"),
      h("p", {}, "This server has auth on. Paste a token: it is kept in this browser only and sent with each request."),
      input,
      h("div", { class: "buttons" }, h("button", { class: "btn primary", type: "submit" }, "Use token")),
    ),
  );
  document.body.append(dialog);
  dialog.showModal();
}

onUnauthorized(tokenDialog);

function liveIndicator() {
  const button = h("button", {
    type: "button",
    class: "live",
    onclick: () => (ctx.live.paused ? ctx.live.start() : ctx.live.pause()),
  });
  const label = { live: "live", polling: "polling", paused: "paused", connecting: "connecting" };
  ctx.live.onState((state) => {
    button.dataset.state = state;
    button.dataset.events = ctx.live.received;
    button.textContent = label[state];
    button.title = `Live updates, ${ctx.live.received} events since the page opened: click to pause or resume`;
  });
  return button;
}

function header() {
  const who = h("span", { class: "who" });
  const drawWho = () => {
    const readOnly = ctx.caps.auth && !ctx.caps.admin && !ctx.caps.producer;
    replaceChildren(
      who,
      readOnly ? h("span", { class: "badge paused", id: "read-only" }, "read-only") : null,
      token.get()
        ? h("button", { type: "button", class: "btn small", onclick: () => { token.clear(); location.reload(); } }, "Forget token")
        : null,
    );
  };
  ctx.drawWho = drawWho;
  return h(
    "header",
    {},
    h("a", { class: "brand", href: href("/queues") }, "accepted"),
    h(
      "nav",
      {},
      h("a", { href: href("/queues"), "data-page": "queues" }, "Queues"),
      h("a", { href: href("/jobs"), "data-page": "jobs" }, "Jobs"),
      h("a", { href: href("/jobs", { status: "failed" }) }, "Failed"),
      h("a", { href: href("/schedules"), "data-page": "schedules" }, "Schedules"),
    ),
    h("div", { class: "side" }, who, liveIndicator()),
  );
}

// The page asks what its token may do first, and nothing else until it knows:
// with auth on and no valid token, GET /whoami answers 401, the token prompt
// opens (onUnauthorized), and start runs again once a token is given.
async function start() {
  try {
    ctx.caps = await capabilities();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;
    fail(error); // the server unreachable: the pages say so as they load
  }
  ctx.drawWho();
  ctx.live.start();
  route();
}

document.body.prepend(header());
window.addEventListener("hashchange", route);
document.addEventListener("visibilitychange", () => (document.hidden ? ctx.live.sleep() : ctx.live.wake()));
start();
