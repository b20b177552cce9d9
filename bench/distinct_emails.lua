-- wrk script: POST /api/unsubscribe, every request with an address no other request of the run used
-- (no two requests wait for the same subject's row lock), or with `range` > 0 an address picked at
-- random from the seeded "<prefix>-0@example.com" … "<prefix>-<range-1>@example.com".
--   wrk -t2 -c16 -d10s -s bench/distinct_emails.lua URL -- <prefix> [range]
-- done() prints one JSON line (after a marker) with the counts and latency percentiles in microseconds.
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  prefix = args[1] or "wrk"
  range = tonumber(args[2] or "0")
  math.randomseed(os.time() + id * 7919)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  local email
  if range > 0 then
    email = string.format("%s-%d@example.com", prefix, math.random(0, range - 1))
  else
    counter = counter + 1
    email = string.format("%s-%d-%d@example.com", prefix, id, counter)
  end
  return wrk.format(nil, nil, nil, '{"email":"' .. email .. '"}')
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write("WRK_JSON ")
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"non_2xx":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,' ..
    '"p50_us":%d,"p95_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
