// Recent throughput per queue, from the counts GET /queues already answers:
// the page remembers each reading of done + failed + cancelled and turns the
// differences into jobs finished per minute. It needs no endpoint of its
// own, and it starts from the moment the page is open.

const KEEP = 10 * 60 * 1000; // ms of readings kept
const WINDOW = 60 * 1000; // the "per minute" figure looks this far back
const BUCKET = 5 * 1000; // one sparkline point per this many ms
const BUCKETS = 36;

function finished(queue) {
  const c = queue.counts || {};
  return (c.done || 0) + (c.failed || 0) + (c.cancelled || 0);
}

export class Throughput {
  constructor() {
    this.readings = []; // {t, byQueue: Map(name -> finished so far)}
  }

  add(queues, t = Date.now()) {
    this.readings.push({ t, byQueue: new Map(queues.map((q) => [q.name, finished(q)])) });
    while (this.readings.length && this.readings[0].t < t - KEEP) this.readings.shift();
  }

  // The reading last taken at or before `t` (null before the first).
  at(t) {
    let found = null;
    for (const reading of this.readings) {
      if (reading.t > t) break;
      found = reading;
    }
    return found;
  }

  // Jobs finished per minute over the last minute, or null until two
  // readings at least two seconds apart exist.
  perMinute(name, now = Date.now()) {
    const latest = this.readings[this.readings.length - 1];
    const earliest = this.at(now - WINDOW) || this.readings[0];
    if (!latest || !earliest || latest.t - earliest.t < 2000) return null;
    const delta = (latest.byQueue.get(name) || 0) - (earliest.byQueue.get(name) || 0);
    // Deleted or expired jobs make the count drop: that is not negative work.
    return (Math.max(0, delta) * 60000) / (latest.t - earliest.t);
  }

  // Jobs finished in each of the last BUCKETS five-second spans (null before
  // the page had a reading), oldest first.
  series(name, now = Date.now()) {
    const points = [];
    for (let i = BUCKETS; i > 0; i -= 1) {
      const start = this.at(now - i * BUCKET);
      const end = this.at(now - (i - 1) * BUCKET);
      if (!start || !end) points.push(null);
      else points.push(Math.max(0, (end.byQueue.get(name) || 0) - (start.byQueue.get(name) || 0)));
    }
    return points;
  }
}

// A sparkline of `points` (nulls are gaps before the first reading).
export function sparkline(points) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 100 24");
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("class", "spark");
  svg.setAttribute("aria-hidden", "true");
  const top = Math.max(1, ...points.filter((p) => p !== null));
  const step = 100 / Math.max(1, points.length - 1);
  const coords = [];
  points.forEach((p, i) => {
    if (p !== null) coords.push(`${(i * step).toFixed(1)},${(22 - (p / top) * 20).toFixed(1)}`);
  });
  if (coords.length > 1) {
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("points", coords.join(" "));
    svg.append(line);
  }
  return svg;
}
