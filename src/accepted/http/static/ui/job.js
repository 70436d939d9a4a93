// One job (#/jobs/ID): its params, result, times and attempts, with retry,
// cancel and delete.

import { ApiError, call, get, jobPath, post } from "./api.js";
import { FINAL, h, href, jobHref, jsonBlock, queueHref, replaceChildren, shortId, statusBadge, when } from "./dom.js";
import { throttle } from "./live.js";

// Times in the order a job lives them; any other `*_at` field follows.
const TIMES = ["created_at", "due_at", "started_at", "lease_expires_at", "deadline_at", "finished_at", "updated_at", "expires_at"];
const SHOWN_ELSEWHERE = new Set(["id", "queue", "status", "params", "result", "callback", "lease", ...TIMES]);

function actions(ctx, job, refresh) {
  const act = (label, action, enabled, allowed, run, danger = false) =>
    h(
      "button",
      {
        class: danger ? "btn danger" : "btn",
        "data-action": action,
        disabled: !enabled || !allowed,
        title: allowed ? null : "Your token may not do this",
        onclick: async (event) => {
          event.target.disabled = true;
          try {
            await run();
          } catch (error) {
            ctx.fail(error);
          }
          await refresh();
        },
      },
      label,
    );
  const retry = async () => {
    await post(jobPath(job.id, "retry"));
    ctx.toast("Retried: the job is queued again");
  };
  const cancel = async () => {
    await post(jobPath(job.id, "cancel"));
    ctx.toast("Cancelled");
  };
  const remove = async () => {
    const ok = await ctx.confirm({
      title: "Delete this job?",
      body: ["The job, its result and its history are gone for good."],
      confirm: "Delete job",
      danger: true,
    });
    if (!ok) return;
    await call("DELETE", jobPath(job.id));
    ctx.toast("Deleted");
    location.hash = href(queueHref(job.queue));
  };
  const retryable = job.status === "failed" || job.status === "cancelled";
  return h(
    "div",
    { class: "actions" },
    act("Retry", "retry", retryable, ctx.caps.admin, retry),
    act("Cancel", "cancel", !FINAL.has(job.status), ctx.caps.producer, cancel, true),
    act("Delete", "delete", true, ctx.caps.producer, remove, true),
  );
}

function facts(job) {
  const rows = [];
  for (const [name, value] of Object.entries(job)) {
    if (SHOWN_ELSEWHERE.has(name) || name.endsWith("_at") || value === null) continue;
    if (name === "after") {
      // Dependencies: each a link to the job it waits for.
      if (!value.length) continue;
      const links = value.map((id) => h("a", { href: href(jobHref(id)), class: "id" }, shortId(id)));
      rows.push(h("dt", {}, "after"), h("dd", { "data-field": name }, links.flatMap((a, i) => (i ? [", ", a] : [a]))));
      continue;
    }
    if (typeof value === "object") continue;
    rows.push(h("dt", {}, name.replaceAll("_", " ")), h("dd", { "data-field": name }, String(value)));
  }
  const times = [...TIMES, ...Object.keys(job).filter((k) => k.endsWith("_at") && !TIMES.includes(k))];
  for (const name of times) {
    if (!(name in job)) continue;
    rows.push(h("dt", {}, name.replace(/_at$/, "").replaceAll("_", " ")), h("dd", { "data-field": name }, when(job[name])));
  }
  if (job.callback) {
    const c = job.callback;
    rows.push(h("dt", {}, "callback"), h("dd", {}, `${c.state} · ${c.url}${c.last_error ? ` · ${c.last_error}` : ""}`));
  }
  return h("dl", { class: "facts" }, rows);
}

function attemptsTable(attempts) {
  if (!attempts.length) return h("p", { class: "muted" }, "Not handed out yet.");
  return h(
    "div",
    { class: "scroll" },
    h(
      "table",
      { class: "grid attempts" },
      h("thead", {}, h("tr", {}, ["#", "Started", "Ended", "Outcome", "Result"].map((t) => h("th", {}, t)))),
      h(
        "tbody",
        {},
        attempts.map((a) =>
          h(
            "tr",
            { "data-attempt": a.attempt },
            h("td", { class: "num", "data-label": "attempt" }, a.attempt),
            h("td", { "data-label": "started" }, when(a.started_at)),
            h("td", { "data-label": "ended" }, when(a.ended_at)),
            h("td", { "data-label": "outcome" }, a.outcome ? statusBadge(a.outcome) : h("span", { class: "muted" }, "running")),
            h("td", { class: "params", "data-label": "result" }, a.result === null ? "" : h("code", {}, JSON.stringify(a.result))),
          ),
        ),
      ),
    ),
  );
}

async function readAttempts(id) {
  try {
    const { attempts } = await get(jobPath(id, "attempts"));
    return attemptsTable(attempts);
  } catch (error) {
    if (error instanceof ApiError && error.missingRoute) return h("p", { class: "muted" }, "This server keeps no attempt history.");
    throw error;
  }
}

function view(ctx, job, attempts, refresh) {
  return [
    h("p", { class: "crumbs" }, h("a", { href: href("/jobs") }, "Jobs"), " / ", h("a", { href: href(queueHref(job.queue)) }, job.queue)),
    h("div", { class: "title" }, h("h1", { class: "id" }, job.id), statusBadge(job.status)),
    actions(ctx, job, refresh),
    job.error ? h("p", { class: "error-text" }, job.error) : null,
    h(
      "div",
      { class: "panes" },
      h("div", {}, h("h2", {}, "Params"), jsonBlock(job.params)),
      h("div", {}, h("h2", {}, "Result"), job.result === null ? h("p", { class: "muted" }, "No result yet.") : jsonBlock(job.result)),
    ),
    h("h2", {}, "Details"),
    facts(job),
    h("h2", {}, "Attempts"),
    attempts,
  ];
}

export function jobPage(ctx, id) {
  const el = h("section", { class: "job" }, h("p", { class: "muted" }, "Loading…"));
  let gone = false;
  const refresh = async () => {
    if (gone) return;
    try {
      const job = await get(jobPath(id));
      const attempts = await readAttempts(id);
      replaceChildren(el, view(ctx, job, attempts, refresh));
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        gone = true;
        replaceChildren(el, h("h1", {}, "No such job"), h("p", {}, `No job ${id}: it never existed, was deleted, or its result expired.`));
      } else {
        ctx.fail(error, el);
      }
    }
  };
  const later = throttle(refresh);
  refresh();
  return {
    el,
    update: (event, job) => {
      if (!job || job.id === id) later(); // ticks keep the ages moving
    },
    dispose: () => later.cancel(),
  };
}
