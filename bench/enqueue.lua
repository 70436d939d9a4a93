-- wrk script for the enqueue workload: POST /jobs with a small JSON job.
-- Usage: wrk ... -s bench/enqueue.lua http://127.0.0.1:PORT/jobs -- QUEUE
-- The done() hook prints one JSON line the harness parses (latencies in microseconds).

function init(args)
  local queue = args[1] or "bench"
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.body = '{"queue":"' .. queue .. '","params":{"n":1}}'
  -- A server with auth on: ACCEPTED_TOKEN, as the CLI and the client read it.
  local token = os.getenv("ACCEPTED_TOKEN")
  if token ~= nil and token ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. token
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,"status_errors":%d,' ..
    '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.status,
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
