// A queue's limits (PUT /queues/{name}/limits): the card that shows them on the
// queue's page, and the form an admin sets them with. An empty field is no
// such limit; the form sends the whole set, as the API takes it.

import { put, queuePath } from "./api.js";
import { duration, h } from "./dom.js";

// "100 per 1m 00s, 5 at once, 2 per group"; null when the queue has none.
export function limitsText(limits) {
  if (!limits) return null;
  const parts = [];
  if (limits.rate) parts.push(`${limits.rate.jobs} per ${duration(limits.rate.per)}`);
  if (limits.concurrency) parts.push(`${limits.concurrency} at once`);
  if (limits.group_concurrency) parts.push(`${limits.group_concurrency} per group`);
  return parts.length ? parts.join(", ") : null;
}

export function limitsCard(limits) {
  const text = limitsText(limits);
  if (!text) return null;
  return h("div", { class: "card", "data-limits": "" }, h("b", {}, text), h("span", {}, "limits"));
}

export function limitsButton(ctx, queue, after) {
  return h(
    "button",
    { class: "btn", "data-action": "limits", onclick: () => limitsDialog(ctx, queue, after) },
    "Limits",
  );
}

function field(name, label, value, attrs = {}) {
  return h(
    "label",
    { class: "field" },
    h("span", {}, label),
    h("input", { type: "number", name, min: 1, step: 1, value: value ?? "", placeholder: "none", ...attrs }),
  );
}

function limitsDialog(ctx, queue, after) {
  const limits = queue.limits || {};
  const rate = limits.rate || {};
  // Where the form says what it refuses before sending (a rate needs both fields).
  const problem = h("p", { class: "notice error", role: "alert", "data-form-error": "", hidden: true });
  const form = h(
    "form",
    { method: "dialog" },
    h("h2", {}, `Limits of ${queue.name}`),
    h("p", { class: "muted" }, "Empty: no such limit. Every node holds them."),
    h(
      "div",
      { class: "fields" },
      field("rate_jobs", "Rate: jobs", rate.jobs),
      field("rate_per", "per seconds", rate.per, { step: "any", min: 0.001 }),
      field("concurrency", "Running at once", limits.concurrency),
      field("group_concurrency", "Running per group", limits.group_concurrency),
    ),
    problem,
    h(
      "div",
      { class: "buttons" },
      h("button", { type: "button", class: "btn", "data-answer": "no", onclick: () => close() }, "Cancel"),
      h("button", { type: "submit", class: "btn primary", "data-answer": "yes" }, "Save"),
    ),
  );
  const dialog = h("dialog", { class: "limits", "aria-label": `Limits of ${queue.name}` }, form);
  const close = () => {
    dialog.close();
    dialog.remove();
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = (name) => form.elements[name].value.trim();
    const number = (name) => (value(name) === "" ? null : Number(value(name)));
    const jobs = number("rate_jobs");
    const per = number("rate_per");
    problem.hidden = true;
    if ((jobs === null) !== (per === null)) {
      // The API takes a rate whole ({jobs, per}) or not at all: say so here,
      // rather than send half of one and show the decoder's answer.
      problem.textContent = "A rate needs both its jobs and its seconds: fill in both, or leave both empty.";
      problem.hidden = false;
      form.elements[jobs === null ? "rate_jobs" : "rate_per"].focus();
      return;
    }
    const body = {
      rate: jobs === null && per === null ? null : { jobs, per },
      concurrency: number("concurrency"),
      group_concurrency: number("group_concurrency"),
    };
    try {
      await put(queuePath(queue.name, "limits"), body);
      ctx.toast(`Limits of ${queue.name} saved`);
      close();
      await after();
    } catch (error) {
      ctx.fail(error); // the dialog stays open with what was typed
    }
  });
  dialog.addEventListener("cancel", () => dialog.remove()); // Escape
  document.body.append(dialog);
  dialog.showModal();
}
