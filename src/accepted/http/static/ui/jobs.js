// The job list (#/jobs, and under each queue): status and queue filters, the
// search box, paging with GET /jobs's cursor, and bulk actions on everything
// the filter matches, after a confirmation.

import { ApiError, get, jobsQuery, post } from "./api.js";
import { h, href, jobHref, preview, queueHref, replaceChildren, shortId, STATUSES, statusBadge, when } from "./dom.js";
import { throttle } from "./live.js";

const PAGE = 50;
const TYPING_PAUSE = 300; // ms after the last keystroke before searching

const ACTIONS = {
  retry: { verb: "Retry", done: "retried", note: "Only failed and cancelled jobs are retried; the others are left as they are." },
  cancel: { verb: "Cancel", done: "cancelled", note: "Jobs already done, failed or cancelled are left as they are. Cancelled jobs are kept." },
  delete: { verb: "Delete", done: "deleted", note: "Deleted jobs are gone for good, with their results and history." },
};

export function jobsPage(ctx, query) {
  const list = jobList(ctx, { query, base: "/jobs" });
  return { el: h("section", {}, h("h1", {}, "Jobs"), list.el), update: list.update, dispose: list.dispose };
}

function readFilter(query, fixedQueue) {
  const status = (query.getAll("status") || []).flatMap((s) => s.split(",")).filter((s) => STATUSES.includes(s));
  return {
    queue: fixedQueue ? [fixedQueue] : query.getAll("queue").filter(Boolean),
    status: [...new Set(status)],
    q: query.get("q") || "",
  };
}

function matches(filter, job) {
  if (filter.queue.length && !filter.queue.includes(job.queue)) return false;
  return !filter.status.length || filter.status.includes(job.status);
}

export function jobList(ctx, { fixedQueue = null, query, base }) {
  const filter = readFilter(query, fixedQueue);
  // `selected`: ids ticked for a bulk action; kept across pages and live
  // re-reads, dropped when the filter changes.
  const state = { cursors: [null], jobs: [], next: null, unavailable: false, selected: new Set() };
  const table = h("div", { class: "scroll" });
  const pager = h("div", { class: "pager" });
  const bulkBar = h("div", { class: "bulk" });
  const controls = h("form", { class: "filters", onsubmit: (e) => e.preventDefault() });
  const el = h("div", { class: "job-list" }, controls, bulkBar, table, pager);

  const load = async () => {
    const cursor = state.cursors[state.cursors.length - 1];
    try {
      const answer = await get(jobsQuery(filter, { limit: PAGE, cursor }));
      state.jobs = answer.jobs;
      state.next = answer.next;
      drawTable();
    } catch (error) {
      if (error instanceof ApiError && error.missingRoute) {
        state.unavailable = true;
        replaceChildren(table, h("p", { class: "notice" }, "This server cannot list jobs (no GET /jobs)."));
        replaceChildren(pager);
      } else {
        ctx.fail(error, table);
      }
    }
  };
  const later = throttle(load);

  const refilter = () => {
    // The address keeps the filter (a link to share, a reload that keeps it)
    // without a navigation that would rebuild the page and lose the caret.
    const query = { status: filter.status.join(","), q: filter.q };
    if (!fixedQueue) query.queue = filter.queue;
    history.replaceState(null, "", href(base, query));
    state.cursors = [null];
    state.selected.clear();
    drawControls();
    later();
  };

  // The search box is made once, so typing never loses the caret to a redraw.
  const chips = h("div", { class: "chips", role: "group", "aria-label": "Status" });
  replaceChildren(controls, searchBox(filter, refilter), chips, fixedQueue ? null : queuePicker(ctx, filter, refilter));

  function drawControls() {
    replaceChildren(chips, statusChips(filter, refilter));
    drawBulk();
  }

  function drawBulk() {
    const after = () => {
      state.selected.clear();
      drawBulk();
      load();
    };
    replaceChildren(bulkBar, ctx.caps.admin ? bulkButtons(ctx, filter, state.selected, after) : null);
  }

  // Ticking needs the bulk actions, so only a token that may use them gets boxes.
  const picking = () => (ctx.caps.admin ? { selected: state.selected, changed: () => { drawBulk(); drawTable(); } } : null);

  function drawTable() {
    if (!state.jobs.length) {
      replaceChildren(table, h("p", { class: "empty" }, describeEmpty(filter)));
    } else {
      replaceChildren(table, jobsTable(state.jobs, !fixedQueue, picking()));
    }
    drawPager();
  }

  function drawPager() {
    const page = state.cursors.length;
    replaceChildren(
      pager,
      h("button", { class: "btn", disabled: page === 1, onclick: () => { state.cursors = [null]; load(); } }, "Newest"),
      h("span", { class: "muted" }, `page ${page}`),
      h(
        "button",
        { class: "btn", disabled: !state.next, "data-action": "older", onclick: () => { state.cursors.push(state.next); load(); } },
        "Older →",
      ),
    );
  }

  drawControls();
  load();
  return {
    el,
    update: (event, job) => {
      if (state.unavailable) return;
      const shown = job && state.jobs.findIndex((j) => j.id === job.id);
      if (job && shown >= 0) {
        state.jobs[shown] = job;
        drawTable();
      }
      // New and changed jobs show at the top of the first page only: a
      // later page is a reading the person is paging through, kept still.
      // A shown job that no longer matches leaves at the next read.
      const touches = !job || shown >= 0 || filter.q || matches(filter, job);
      if (state.cursors.length === 1 && touches) later();
    },
    dispose: () => later.cancel(),
  };
}

function searchBox(filter, refilter) {
  let timer = null;
  const input = h("input", {
    type: "search",
    name: "q",
    value: filter.q,
    placeholder: "Search: job id, or text in params or result",
    "aria-label": "Search jobs",
    autocomplete: "off",
    oninput: () => {
      clearTimeout(timer);
      timer = setTimeout(() => apply(), TYPING_PAUSE);
    },
    onkeydown: (event) => {
      if (event.key === "Enter") {
        clearTimeout(timer);
        apply();
      }
    },
  });
  const apply = () => {
    if (input.value.trim() === filter.q) return;
    filter.q = input.value.trim();
    refilter();
  };
  return h("label", { class: "search" }, input);
}

function statusChips(filter, refilter) {
  return STATUSES.map((status) => {
    const on = filter.status.includes(status);
    return h(
      "button",
      {
        type: "button",
        class: `chip s-${status}`,
        "aria-pressed": on ? "true" : "false",
        "data-status": status,
        onclick: () => {
          filter.status = on ? filter.status.filter((s) => s !== status) : [...filter.status, status];
          refilter();
        },
      },
      status,
    );
  });
}

function queuePicker(ctx, filter, refilter) {
  const select = h(
    "select",
    {
      name: "queue",
      "aria-label": "Queue",
      onchange: () => {
        filter.queue = select.value ? [select.value] : [];
        refilter();
      },
    },
    h("option", { value: "" }, "all queues"),
    filter.queue.map((name) => h("option", { value: name, selected: true }, name)),
  );
  get("/queues")
    .then(({ queues }) => {
      for (const queue of queues) {
        if (!filter.queue.includes(queue.name)) select.append(h("option", { value: queue.name }, queue.name));
      }
    })
    .catch(() => null); // without GET /queues the picker offers what the address names
  return select;
}

function describeEmpty(filter) {
  if (filter.q) return `No job matches “${filter.q}”.`;
  return filter.status.length || filter.queue.length ? "No jobs match these filters." : "No jobs yet.";
}

function pickAll(jobs, pick) {
  const all = jobs.every((job) => pick.selected.has(job.id));
  return h("input", {
    type: "checkbox",
    "aria-label": "Select every job on this page",
    checked: all,
    onchange: () => {
      for (const job of jobs) all ? pick.selected.delete(job.id) : pick.selected.add(job.id);
      pick.changed();
    },
  });
}

function pickOne(job, pick) {
  return h("input", {
    type: "checkbox",
    "aria-label": `Select job ${job.id}`,
    checked: pick.selected.has(job.id),
    onchange: (event) => {
      event.target.checked ? pick.selected.add(job.id) : pick.selected.delete(job.id);
      pick.changed();
    },
  });
}

function jobsTable(jobs, showQueue, pick) {
  return h(
    "table",
    { class: "grid jobs" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", {}, pick ? pickAll(jobs, pick) : null, "Job"),
        showQueue ? h("th", {}, "Queue") : null,
        h("th", {}, "Status"),
        h("th", { class: "num" }, "Attempts"),
        h("th", {}, "Created"),
        h("th", {}, "Updated"),
        h("th", {}, "Params"),
      ),
    ),
    h("tbody", {}, jobs.map((job) => jobRow(job, showQueue, pick))),
  );
}

function jobRow(job, showQueue, pick) {
  return h(
    "tr",
    { "data-id": job.id, "data-status": job.status },
    h(
      "td",
      { class: "id", "data-label": "job" },
      pick ? pickOne(job, pick) : null,
      h("a", { href: href(jobHref(job.id)), title: job.id }, shortId(job.id)),
    ),
    showQueue ? h("td", { "data-label": "queue" }, h("a", { href: href(queueHref(job.queue)) }, job.queue)) : null,
    h("td", { "data-label": "status" }, statusBadge(job.status)),
    h("td", { class: "num", "data-label": "attempts" }, `${job.attempts}${job.max_attempts ? ` / ${job.max_attempts}` : ""}`),
    h("td", { "data-label": "created" }, when(job.created_at)),
    h("td", { "data-label": "updated" }, when(job.updated_at)),
    h("td", { class: "params", "data-label": "params" }, h("code", {}, preview(job.params))),
  );
}

// The bulk filter means what GET /jobs means; no filter at all must be said
// out loud ({"all": true}), as the API asks.
function bulkFilter(filter) {
  const out = {};
  if (filter.queue.length) out.queue = filter.queue;
  if (filter.status.length) out.status = filter.status;
  if (filter.q) out.q = filter.q;
  return Object.keys(out).length ? out : { all: true };
}

function describeFilter(filter) {
  const parts = [];
  if (filter.queue.length) parts.push(`in ${filter.queue.join(", ")}`);
  if (filter.status.length) parts.push(`with status ${filter.status.join(" or ")}`);
  if (filter.q) parts.push(`matching “${filter.q}”`);
  return parts.length ? `every job ${parts.join(", ")}` : "every job in every queue";
}

// How many jobs the filter selects, from the queues' counts; unknown when
// the filter has a search (only the server can tell).
async function estimate(filter) {
  if (filter.q) return null;
  try {
    const { queues } = await get("/queues");
    const statuses = filter.status.length ? filter.status : STATUSES;
    return queues
      .filter((q) => !filter.queue.length || filter.queue.includes(q.name))
      .reduce((sum, q) => sum + statuses.reduce((n, s) => n + (q.counts[s] || 0), 0), 0);
  } catch {
    return null;
  }
}

// What a bulk action is about to touch: the ticked jobs, or else everything
// the filter matches.
async function bulkScope(filter, selected) {
  if (selected.size) {
    const n = selected.size;
    return {
      filter: { ids: [...selected] },
      what: `the ${n} selected job${n === 1 ? "" : "s"}`,
      size: `${n} job${n === 1 ? "" : "s"}, ticked on this list.`,
      label: "selected",
    };
  }
  const n = await estimate(filter);
  return {
    filter: bulkFilter(filter),
    what: describeFilter(filter),
    size:
      n === null
        ? "Every job the filter matches, on every page, not only the ones shown."
        : `About ${n.toLocaleString("en-US")} jobs match now, on every page, not only the ones shown.`,
    label: "matching",
  };
}

function bulkButtons(ctx, filter, selected, reload) {
  const run = async (action) => {
    const { verb, done, note } = ACTIONS[action];
    const scope = await bulkScope(filter, selected);
    const ok = await ctx.confirm({
      title: `${verb} ${scope.what}?`,
      body: [scope.size, note],
      confirm: `${verb} ${scope.label} jobs`,
      danger: action !== "retry",
    });
    if (!ok) return;
    try {
      const answer = await post("/jobs/bulk", { action, filter: scope.filter });
      ctx.toast(`${answer.changed.toLocaleString("en-US")} ${done} (${answer.matched.toLocaleString("en-US")} matched)`);
    } catch (error) {
      ctx.fail(error);
    }
    reload();
  };
  return [
    h("span", { class: "muted", "data-scope": selected.size ? "selected" : "matching" }, selected.size ? `${selected.size} selected:` : "All matching:"),
    Object.entries(ACTIONS).map(([action, { verb }]) =>
      h("button", { type: "button", class: action === "retry" ? "btn" : "btn danger", "data-bulk": action, onclick: () => run(action) }, `${verb}…`),
    ),
  ];
}
