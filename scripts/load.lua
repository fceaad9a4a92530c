-- wrk script of scripts/load: POST /v1/events with generated 50-event batch bodies.
--
--   wrk ... -s scripts/load.lua URL -- BODIES_FILE NONCE DELAY_MS [THREAD_RPS [PATH]]
--
-- BODIES_FILE: one body per line (examples/loadgen.rs `bodies`), every id starting with the
-- template tag 5e1f7a90, replaced per request by NONCE (2 hex digits, one per run) + the
-- thread number (1 hex digit) + a per-thread request counter (5 hex digits), so every
-- request carries fresh event ids (a resent body would only count duplicates).
-- DELAY_MS: pause of each connection between requests (0: saturation); wrk has no
-- open-loop fixed-rate mode, so fixed offered loads are paced this way.
-- THREAD_RPS (> 0): pace each wrk thread to this many requests/s on a schedule instead
-- (the soak phase): every request has a due time 1/THREAD_RPS after the thread's previous
-- one, and delay() waits until it, so slow responses do not lower the offered rate as long
-- as the thread has a free connection. A thread more than 1 s behind its schedule starts
-- again from now (no burst): the requests it skipped are not offered, and the harness
-- reports the rate actually sent next to the one asked for.
-- PATH: the route posted to (default /v1/events; the compat phase posts tracker bodies to
-- /e/ or /v1/batch, which answer 200 instead of 202).
-- done() prints one JSON line prefixed "WRKJSON ".

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local bodies, nonce, pause, path = {}, "00", 0, "/v1/events"
local interval_ms, next_due = 0, nil -- THREAD_RPS pacing

local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } sl_timespec;
int clock_gettime(int clk_id, sl_timespec *tp);
]]
local ts = ffi.new("sl_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end
counter, accepted, refused = 0, 0, 0 -- globals: done() reads them with thread:get

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then bodies[#bodies + 1] = line end
  end
  nonce = args[2] or "00"
  pause = tonumber(args[3] or "0")
  local rps = tonumber(args[4] or "0")
  if rps > 0 then interval_ms = 1000 / rps end
  if args[5] and #args[5] > 0 then path = args[5] end
end

function request()
  counter = counter + 1
  local body = bodies[(counter % #bodies) + 1]
  local tag = string.format("%s%x%05x", nonce, id % 16, counter % 0x100000)
  body = body:gsub("5e1f7a90", tag)
  return wrk.format("POST", path, {["Content-Type"] = "text/plain"}, body)
end

function delay()
  if interval_ms <= 0 then return pause end
  local t = now_ms()
  if next_due == nil or next_due < t - 1000 then next_due = t end
  local d = next_due - t
  next_due = next_due + interval_ms
  if d < 0 then return 0 end
  return math.floor(d)
end

function response(status, headers, body)
  if status == 202 or status == 200 then
    local n = body:match('"accepted":(%d+)')
    accepted = accepted + (tonumber(n) or 0)
  else
    refused = refused + 1
  end
end

function done(summary, latency, requests)
  local acc, ref = 0, 0
  for _, t in ipairs(threads) do
    acc = acc + (t:get("accepted") or 0)
    ref = ref + (t:get("refused") or 0)
  end
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"accepted_events":%d,"refused":%d,' ..
    '"errors":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, acc, ref,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
