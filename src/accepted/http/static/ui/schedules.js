// The schedules (#/schedules): each with its cadence, next run, last run and
// last job; an unlimited admin (only it may write schedules) runs one now, or
// pauses and resumes it. All through the public API: GET /schedules,
// POST /schedules/NAME/run, and PUT of the schedule's own definition with
// "paused" flipped.

import { ApiError, get, post, put, schedulePath } from "./api.js";
import { h, href, jobHref, queueHref, replaceChildren, shortId, when } from "./dom.js";
import { throttle } from "./live.js";

// The fields of a schedule that make up its definition (what a PUT takes).
const DEFINITION = [
  "queue", "params", "cron", "every", "timezone", "priority", "job_timeout",
  "result_ttl", "max_attempts", "retries", "callback_url",
];
const LONGEST_WAIT = 60_000; // ms: look again at least this often (other people's changes)

function cadence(schedule) {
  if (schedule.cron === null) return `every ${schedule.every}s`;
  return schedule.timezone === "UTC" ? schedule.cron : `${schedule.cron} (${schedule.timezone})`;
}

function definition(schedule, paused) {
  const body = { paused };
  for (const field of DEFINITION) if (schedule[field] !== null) body[field] = schedule[field];
  return body;
}

function stateBadge(schedule) {
  return schedule.paused
    ? h("span", { class: "badge paused", "data-paused": "true" }, "paused")
    : h("span", { class: "badge running-q", "data-paused": "false" }, "active");
}

function actions(ctx, schedule, refresh) {
  if (!ctx.caps.unlimitedAdmin) return null; // a queue-limited admin would get 403
  const act = async (event, work, done) => {
    event.target.disabled = true;
    try {
      await work();
      ctx.toast(done);
    } catch (error) {
      ctx.fail(error);
    }
    await refresh();
  };
  const name = schedule.name;
  const paused = schedule.paused;
  return [
    h(
      "button",
      {
        type: "button",
        class: "btn small",
        "data-action": "run",
        onclick: (event) => act(event, () => post(schedulePath(name, "run")), `Ran ${name}: a job is enqueued`),
      },
      "Run now",
    ),
    h(
      "button",
      {
        type: "button",
        class: paused ? "btn small primary" : "btn small",
        "data-action": paused ? "resume" : "pause",
        onclick: (event) =>
          act(event, () => put(schedulePath(name), definition(schedule, !paused)), `${paused ? "Resumed" : "Paused"} ${name}`),
      },
      paused ? "Resume" : "Pause",
    ),
  ];
}

function row(ctx, schedule, refresh) {
  const last = schedule.last_job_id;
  return h(
    "tr",
    { "data-schedule": schedule.name },
    h("td", { class: "name", "data-label": "schedule" }, schedule.name),
    h("td", { "data-label": "queue" }, h("a", { href: href(queueHref(schedule.queue)) }, schedule.queue)),
    h("td", { "data-label": "when" }, h("code", {}, cadence(schedule))),
    h("td", { "data-label": "state" }, stateBadge(schedule)),
    h("td", { "data-label": "next run", class: "next-run" }, when(schedule.next_run_at)),
    h("td", { "data-label": "last run", class: "last-run" }, when(schedule.last_run_at)),
    h(
      "td",
      { "data-label": "last job", class: "last-job" },
      last ? h("a", { href: href(jobHref(last)), "data-job": last }, shortId(last)) : h("span", { class: "muted" }, "—"),
    ),
    h("td", { class: "actions" }, actions(ctx, schedule, refresh)),
  );
}

function table(ctx, schedules, refresh) {
  return h(
    "table",
    { class: "grid schedules" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ["Schedule", "Queue", "When", "State", "Next run", "Last run", "Last job", ""].map((title) => h("th", {}, title)),
      ),
    ),
    h("tbody", {}, schedules.map((schedule) => row(ctx, schedule, refresh))),
  );
}

// When to read again: just after the earliest next run (its job is made then),
// and at least every LONGEST_WAIT.
function nextLook(schedules) {
  const times = schedules.filter((s) => s.next_run_at).map((s) => Date.parse(s.next_run_at) - Date.now());
  return Math.min(LONGEST_WAIT, Math.max(250, Math.min(...times, LONGEST_WAIT) + 250));
}

export function schedulesPage(ctx) {
  const body = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const el = h("section", {}, h("h1", {}, "Schedules"), body);
  let timer = null;
  const refresh = async () => {
    clearTimeout(timer);
    try {
      const { schedules } = await get("/schedules");
      if (!schedules.length) {
        replaceChildren(body, h("p", { class: "empty" }, "No schedules yet: PUT /schedules/NAME makes one."));
      } else {
        replaceChildren(body, h("div", { class: "scroll" }, table(ctx, schedules, refresh)));
      }
      timer = setTimeout(refresh, nextLook(schedules));
    } catch (error) {
      if (error instanceof ApiError && error.missingRoute) {
        replaceChildren(body, h("p", { class: "notice" }, "This server has no schedules (no GET /schedules)."));
      } else {
        ctx.fail(error, body);
        timer = setTimeout(refresh, LONGEST_WAIT);
      }
    }
  };
  const later = throttle(refresh);
  refresh();
  return {
    el,
    // A job a schedule made (a fire or a run): its schedule's last run moved on.
    update: (event, job) => {
      if (job && job.schedule) later();
    },
    dispose: () => {
      later.cancel();
      clearTimeout(timer);
    },
  };
}
