// Live updates: one GET /events stream (Server-Sent Events) for the whole
// page. Read with fetch rather than EventSource, because EventSource cannot
// send the Authorization header. When the stream is not there (an older
// server) or breaks, pages fall back to re-reading on a timer, and the stream
// is tried again with a growing pause.

import { authHeaders } from "./api.js";

const POLL_EVERY = 5000; // ms between re-reads while no stream is open
const RETRY_FIRST = 1000;
const RETRY_MOST = 30000;

export class Live {
  constructor() {
    this.listeners = new Set();
    this.stateListeners = new Set();
    this.state = "connecting"; // "live" | "polling" | "paused" | "connecting"
    this.abort = null;
    this.retry = RETRY_FIRST;
    this.timer = null;
    this.paused = false;
    this.received = 0; // events read from the stream since the page opened
  }

  // listener(event, job) on every event; listener(null, null) on each poll tick.
  subscribe(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onState(listener) {
    this.stateListeners.add(listener);
    listener(this.state);
  }

  start() {
    this.stop();
    this.paused = false;
    this.connect();
    this.poll();
  }

  stop() {
    if (this.abort) this.abort.abort();
    this.abort = null;
    clearTimeout(this.timer);
    clearTimeout(this.reconnect);
  }

  pause() {
    this.stop();
    this.paused = true;
    this.setState("paused");
  }

  // A hidden tab holds no stream open and reads nothing; it catches up when
  // shown again (unless the person paused it).
  sleep() {
    if (this.paused) return;
    this.stop();
    this.asleep = true;
    this.setState("paused");
  }

  wake() {
    if (!this.asleep) return;
    this.asleep = false;
    this.start();
  }

  setState(state) {
    this.state = state;
    for (const listener of this.stateListeners) listener(state);
  }

  emit(event, job) {
    for (const listener of this.listeners) listener(event, job);
  }

  // A timer tick keeps ages and throughput moving, and stands in for the
  // stream while it is down.
  poll() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      if (this.paused) return;
      this.emit(null, null);
      this.poll();
    }, POLL_EVERY);
  }

  async connect() {
    const abort = new AbortController();
    this.abort = abort;
    this.setState("connecting");
    try {
      const response = await fetch("/events", {
        headers: { ...authHeaders(), Accept: "text/event-stream" },
        signal: abort.signal,
        cache: "no-store",
      });
      const type = response.headers.get("content-type") || "";
      if (!response.ok || !type.startsWith("text/event-stream")) throw new Error(`${response.status}`);
      this.setState("live");
      this.retry = RETRY_FIRST;
      this.emit(null, null); // catch up on what changed while not connected
      await this.read(response.body.getReader());
    } catch (error) {
      if (abort.signal.aborted) return;
    }
    if (abort.signal.aborted || this.paused) return;
    this.setState("polling");
    this.reconnect = setTimeout(() => this.connect(), this.retry);
    this.retry = Math.min(this.retry * 2, RETRY_MOST);
  }

  async read(reader) {
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      buffer = buffer.replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        this.dispatch(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
    }
  }

  dispatch(block) {
    let event = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) continue; // keep-alive comment
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
    }
    if (!data.length) return;
    this.received += 1;
    for (const listener of this.stateListeners) listener(this.state);
    try {
      this.emit(event, JSON.parse(data.join("\n")));
    } catch {
      // not a job: nothing on this page can use it
    }
  }
}

// Calls `work` at most once per `gap` ms however many events arrive, and
// always once more after the last one, so a burst ends in a fresh read.
export function throttle(work, gap = 1000) {
  let last = 0;
  let pending = null;
  let running = false;
  const run = async () => {
    pending = null;
    if (running) {
      pending = setTimeout(run, gap);
      return;
    }
    running = true;
    last = Date.now();
    try {
      await work();
    } finally {
      running = false;
    }
  };
  const trigger = () => {
    if (pending) return;
    pending = setTimeout(run, Math.max(0, last + gap - Date.now()));
  };
  trigger.cancel = () => clearTimeout(pending);
  return trigger;
}
