// The queues: every queue with its counts, oldest waiting job, paused flag
// and recent throughput (#/queues), and one queue with its jobs (#/queues/NAME).

import { ApiError, get, post, queuePath } from "./api.js";
import { count, duration, h, href, queueHref, replaceChildren, STATUSES } from "./dom.js";
import { jobList } from "./jobs.js";
import { limitsButton, limitsCard } from "./limits.js";
import { throttle } from "./live.js";
import { sparkline } from "./throughput.js";

const COLUMNS = ["queued", "running", "delayed", "failed", "done", "cancelled"];

// GET /queues, remembered for the throughput figures; null when the server
// has no such route.
export async function readQueues(ctx) {
  try {
    const { queues } = await get("/queues");
    ctx.throughput.add(queues);
    return queues;
  } catch (error) {
    if (error instanceof ApiError && error.missingRoute) return null;
    throw error;
  }
}

export function pauseButton(ctx, queue, after) {
  const paused = queue.paused;
  return h(
    "button",
    {
      class: paused ? "btn primary" : "btn",
      "data-action": paused ? "resume" : "pause",
      disabled: !ctx.caps.admin,
      title: ctx.caps.admin ? null : "Your token may not pause or resume queues",
      onclick: async (event) => {
        event.target.disabled = true;
        try {
          await post(queuePath(queue.name, paused ? "resume" : "pause"));
          ctx.toast(`${paused ? "Resumed" : "Paused"} ${queue.name}`);
        } catch (error) {
          ctx.fail(error);
        }
        await after();
      },
    },
    paused ? "Resume" : "Pause",
  );
}

function pausedBadge(queue) {
  return queue.paused
    ? h("span", { class: "badge paused", "data-paused": "true" }, "paused")
    : h("span", { class: "badge running-q", "data-paused": "false" }, "active");
}

function rate(ctx, name) {
  const perMinute = ctx.throughput.perMinute(name);
  return h(
    "span",
    { class: "rate" },
    sparkline(ctx.throughput.series(name)),
    h("span", {}, perMinute === null ? "—" : `${perMinute.toFixed(perMinute < 10 ? 1 : 0)}/min`),
  );
}

function countCell(name, status, value) {
  const cell = value
    ? h("a", { href: href(queueHref(name), { status }) }, count(value))
    : h("span", { class: "muted" }, "0");
  return h("td", { class: `num c-${status}`, "data-label": status }, cell);
}

function queueRow(ctx, queue, refresh) {
  return h(
    "tr",
    { "data-queue": queue.name },
    h("td", { class: "name", "data-label": "queue" }, h("a", { href: href(queueHref(queue.name)) }, queue.name)),
    h("td", { "data-label": "state" }, pausedBadge(queue)),
    COLUMNS.map((status) => countCell(queue.name, status, queue.counts[status])),
    h("td", { class: "num", "data-label": "oldest queued" }, duration(queue.oldest_queued_age)),
    h("td", { "data-label": "finished" }, rate(ctx, queue.name)),
    h("td", { class: "actions" }, ctx.caps.admin ? pauseButton(ctx, queue, refresh) : null),
  );
}

function queuesTable(ctx, queues, refresh) {
  return h(
    "table",
    { class: "grid queues" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", {}, "Queue"),
        h("th", {}, "State"),
        COLUMNS.map((status) => h("th", { class: "num" }, status)),
        h("th", { class: "num", title: "How long the longest-waiting due job has waited" }, "Oldest queued"),
        h("th", { title: "Jobs finished per minute over the last minute, since this page opened" }, "Finished"),
        h("th", {}, ""),
      ),
    ),
    h("tbody", {}, queues.map((queue) => queueRow(ctx, queue, refresh))),
  );
}

function totals(queues) {
  const sum = Object.fromEntries(STATUSES.map((s) => [s, 0]));
  for (const queue of queues) for (const s of STATUSES) sum[s] += queue.counts[s] || 0;
  return h(
    "div",
    { class: "cards" },
    COLUMNS.map((s) =>
      h("a", { class: `card c-${s}`, href: href("/jobs", { status: s }) }, h("b", {}, count(sum[s])), h("span", {}, s)),
    ),
  );
}

export function queuesPage(ctx) {
  const body = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const el = h("section", {}, h("h1", {}, "Queues"), body);
  const refresh = async () => {
    try {
      const queues = await readQueues(ctx);
      if (queues === null) {
        replaceChildren(body, h("p", { class: "notice" }, "This server does not list queues (no GET /queues)."));
      } else if (!queues.length) {
        replaceChildren(body, h("p", { class: "empty" }, "No queues yet: a queue appears when a job is enqueued into it."));
      } else {
        replaceChildren(body, totals(queues), h("div", { class: "scroll" }, queuesTable(ctx, queues, refresh)));
      }
    } catch (error) {
      ctx.fail(error, body);
    }
  };
  const later = throttle(refresh);
  refresh();
  return { el, update: () => later(), dispose: () => later.cancel() };
}

function queueSummary(ctx, queue, refresh) {
  const perMinute = ctx.throughput.perMinute(queue.name);
  return h(
    "div",
    { class: "queue-head" },
    h(
      "div",
      { class: "title" },
      h("h1", {}, queue.name),
      pausedBadge(queue),
      ctx.caps.admin ? pauseButton(ctx, queue, refresh) : null,
      ctx.caps.admin ? limitsButton(ctx, queue, refresh) : null,
    ),
    h(
      "div",
      { class: "cards" },
      COLUMNS.map((s) =>
        h(
          "a",
          { class: `card c-${s}`, href: href(queueHref(queue.name), { status: s }) },
          h("b", {}, count(queue.counts[s])),
          h("span", {}, s),
        ),
      ),
      h("div", { class: "card" }, h("b", {}, duration(queue.oldest_queued_age)), h("span", {}, "oldest queued")),
      limitsCard(queue.limits),
      h(
        "div",
        { class: "card" },
        h("b", {}, perMinute === null ? "—" : `${perMinute.toFixed(1)}/min`),
        h("span", {}, "finished"),
        sparkline(ctx.throughput.series(queue.name)),
      ),
    ),
  );
}

export function queuePage(ctx, name, query) {
  const head = h("div", {}, h("h1", {}, name));
  const list = jobList(ctx, { fixedQueue: name, query, base: queueHref(name) });
  const el = h("section", {}, head, list.el);
  const refresh = async () => {
    try {
      const queue = await get(queuePath(name));
      readQueues(ctx).catch(() => null); // the throughput figures need all of them
      replaceChildren(head, queueSummary(ctx, queue, refresh));
    } catch (error) {
      if (error instanceof ApiError && (error.missingRoute || error.code === "queue_not_found")) {
        replaceChildren(head, h("div", { class: "title" }, h("h1", {}, name)), h("p", { class: "muted" }, "No counts for this queue."));
      } else {
        ctx.fail(error, head);
      }
    }
  };
  const later = throttle(refresh);
  refresh();
  return {
    el,
    update: (event, job) => {
      if (!job || job.queue === name) later();
      list.update(event, job);
    },
    dispose: () => {
      later.cancel();
      list.dispose();
    },
  };
}
