-- wrk script: POST the JSON body read from the file named after "--"; print one JSON
-- line with requests/s, latency percentiles (microseconds) and error counts.
local body_file = nil

function init(args)
  body_file = args[1]
  local f = assert(io.open(body_file, "rb"))
  wrk.method = "POST"
  wrk.body = f:read("*a")
  wrk.headers["Content-Type"] = "application/json"
  f:close()
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "seconds": %.3f, "rps": %.1f, "p50_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "non_2xx": %d, "socket_errors": %d}\n',
    summary.requests, seconds, summary.requests / seconds, latency:percentile(50),
    latency:percentile(99), latency.max, e.status, e.connect + e.read + e.write + e.timeout))
end
