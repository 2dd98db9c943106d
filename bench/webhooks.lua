-- wrk script: POST pre-signed Stripe-style webhooks, each with a unique event id.
--
--   wrk -t1 -c16 -d15s -s bench/webhooks.lua http://127.0.0.1:PORT -- /path requests.tsv
--
-- requests.tsv has one request per line: "<Stripe-Signature header>\t<JSON body>".
-- The bodies and their HMAC-SHA256 signatures are made by bench/loadgen.py
-- before the clock starts (wrk's Lua has no HMAC), so during the run wrk only
-- sends. Each wrk thread takes every Nth line (N = number of threads), so no
-- two requests of a run share an event id. If a thread runs out of lines it
-- starts over (the repeats would be duplicates) and `done` reports
-- "exhausted": true, which loadgen.py treats as an invalid run.
--
-- At the end a single JSON line, prefixed with "WRK_JSON ", is printed.

local threads = {}
local thread_count = 0

function setup(thread)
  thread:set("thread_index", thread_count)
  thread_count = thread_count + 1
  table.insert(threads, thread)
end

local prepared = {}
local prepared_count = 0
local position = 0
exhausted = false

function init(args)
  local path = args[1]
  local file = args[2]
  local stride = tonumber(args[3] or "1")
  local index = 0
  for line in io.lines(file) do
    if index % stride == thread_index then
      local tab = line:find("\t", 1, true)
      local signature = line:sub(1, tab - 1)
      local body = line:sub(tab + 1)
      prepared_count = prepared_count + 1
      prepared[prepared_count] = wrk.format("POST", path, {
        ["Stripe-Signature"] = signature,
        ["Content-Type"] = "application/json",
      }, body)
    end
    index = index + 1
  end
  if prepared_count == 0 then
    error("no requests for thread " .. thread_index .. " in " .. file)
  end
end

function request()
  position = position + 1
  if position > prepared_count then
    position = 1
    exhausted = true
  end
  return prepared[position]
end

function done(summary, latency, requests)
  local any_exhausted = false
  for _, thread in ipairs(threads) do
    if thread:get("exhausted") then
      any_exhausted = true
    end
  end
  local errors = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, '
    .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
    .. '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "max": %d, "mean": %.1f}, "exhausted": %s}\n',
    summary.requests, summary.duration, summary.bytes,
    errors.connect, errors.read, errors.write, errors.status, errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    tostring(any_exhausted)
  ))
end
