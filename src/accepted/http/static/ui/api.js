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

// What this token may change, from GET /whoami: the caller's own role and
// queues (with auth off, an admin of every queue). One read, so the page
// learns it without sending requests that fail. A 401 (auth on, no valid
// token yet) is thrown, after the token prompt is opened.
export async function capabilities() {
  const me = await get("/whoami");
  const admin = me.role === "admin";
  return {
    auth: me.auth,
    name: me.name,
    admin,
    producer: admin || me.role === "producer",
    // Schedule writes need an admin limited to no queues.
    unlimitedAdmin: admin && me.queues === null,
  };
}
