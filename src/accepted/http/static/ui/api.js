// The public HTTP API, as the dashboard calls it: the same requests a script
// would send, with the token the person gave (kept in this browser only).

const TOKEN_KEY = "accepted.token";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }

  // The server has no such route yet (an older server): the page leaves the
  // feature out instead of failing.
  get missingRoute() {
    return this.status === 405 || (this.status === 404 && this.code === "not_found");
  }
}

export const token = {
  get: () => localStorage.getItem(TOKEN_KEY) || "",
  set: (value) => localStorage.setItem(TOKEN_KEY, value.trim()),
  clear: () => localStorage.removeItem(TOKEN_KEY),
};

const listeners = { unauthorized: [] };

export function onUnauthorized(listener) {
  listeners.unauthorized.push(listener);
}

export function authHeaders() {
  const value = token.get();
  return value ? { Authorization: `Bearer ${value}` } : {};
}

export async function call(method, path, body) {
  const headers = authHeaders();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
  });
  return answer(response);
}

async function answer(response) {
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (response.ok) return data;
  const error = data && data.error ? data.error : {};
  if (response.status === 401) for (const listener of listeners.unauthorized) listener();
  throw new ApiError(response.status, error.code || "", error.message || response.statusText);
}

export const get = (path) => call("GET", path);
export const post = (path, body) => call("POST", path, body ?? {});

export function queuePath(name, action = "") {
  return `/queues/${encodeURIComponent(name)}${action ? `/${action}` : ""}`;
}

// -- schedules --
export const put = (path, body) => call("PUT", path, body);

export function schedulePath(name, action = "") {
  return `/schedules/${encodeURIComponent(name)}${action ? `/${action}` : ""}`;
}

export function jobPath(id, action = "") {
  return `/jobs/${encodeURIComponent(id)}${action ? `/${action}` : ""}`;
}

// GET /jobs's query: repeatable queue and status, q, limit, cursor.
export function jobsQuery(filter, extra = {}) {
  const params = new URLSearchParams();
  for (const queue of filter.queue) params.append("queue", queue);
  if (filter.status.length) params.set("status", filter.status.join(","));
  if (filter.q) params.set("q", filter.q);
  for (const [name, value] of Object.entries(extra)) if (value) params.set(name, value);
  return `/jobs?${params}`;
}

// What this token may change. The API has no "who am I" call, so the page
// asks with requests that change nothing: a bulk action with no filter (an
// admin gets 400, anyone else 403) and a cancel of a job id that cannot exist
// (a producer gets 404, a reader or worker 403). With auth off all pass.
// Schedule writes need an admin limited to no queues: the page runs a schedule
// whose name holds a control character, which no schedule can have (an
// unlimited admin gets 400, a queue-limited one 403), so nothing is run.
export async function capabilities() {
  const [admin, producer, unlimitedAdmin] = await Promise.all([
    allowed("POST", "/jobs/bulk", {}),
    allowed("POST", jobPath("not-a-job", "cancel"), {}),
    allowed("POST", schedulePath("\u0001", "run"), {}),
  ]);
  return { admin, producer, unlimitedAdmin: admin && unlimitedAdmin };
}

async function allowed(method, path, body) {
  try {
    await call(method, path, body);
    return true;
  } catch (error) {
    if (!(error instanceof ApiError)) return true;
    return error.status !== 403 && error.status !== 401;
  }
}
