-- wrk script of scripts/load: POST /v1/events with generated 50-event batch bodies.
--
--   wrk ... -s scripts/load.lua URL -- BODIES_FILE NONCE DELAY_MS
--
-- BODIES_FILE: one body per line (examples/loadgen.rs `bodies`), every id starting with the
-- template tag 5e1f7a90, replaced per request by NONCE (2 hex digits, one per run) + the
-- thread number (1 hex digit) + a per-thread request counter (5 hex digits), so every
-- request carries fresh event ids (a resent body would only count duplicates).
-- DELAY_MS: pause of each connection between requests (0: saturation); wrk has no
-- open-loop fixed-rate mode, so fixed offered loads are paced this way.
-- done() prints one JSON line prefixed "WRKJSON ".

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local bodies, nonce, pause = {}, "00", 0
counter, accepted, refused = 0, 0, 0 -- globals: done() reads them with thread:get

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then bodies[#bodies + 1] = line end
  end
  nonce = args[2] or "00"
  pause = tonumber(args[3] or "0")
end

function request()
  counter = counter + 1
  local body = bodies[(counter % #bodies) + 1]
  local tag = string.format("%s%x%05x", nonce, id % 16, counter % 0x100000)
  body = body:gsub("5e1f7a90", tag)
  return wrk.format("POST", "/v1/events", {["Content-Type"] = "text/plain"}, body)
end

function delay()
  return pause
end

function response(status, headers, body)
  if status == 202 then
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
