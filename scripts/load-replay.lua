-- wrk script of scripts/load (`--only replay`): POST /v1/replay with one chunk body (a gzip
-- file) at a fresh address per request, so every chunk is new (a resent address would only
-- count a duplicate).
--
--   wrk ... -s scripts/load-replay.lua URL -- CHUNK_FILE SITE NONCE [FULL]
--
-- Each request is chunk `seq` = the thread's request counter of window `w<NONCE><thread>`
-- of session `load-<NONCE>`; FULL=1 adds `full=1` (the body holds a full snapshot).
-- done() prints one JSON line prefixed "WRKJSON " (accepted_events = chunks answered 202).

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local body, site, nonce, full = "", "sl_load", "00", ""
counter, accepted, refused = 0, 0, 0

function init(args)
  local f = assert(io.open(args[1], "rb"))
  body = f:read("*a")
  f:close()
  site = args[2]
  nonce = args[3] or "00"
  if args[4] == "1" then full = "&full=1" end
end

function request()
  counter = counter + 1
  local path = string.format("/v1/replay?site=%s&session=load-%s&visitor=v-load&window=w%s%x&seq=%d%s",
    site, nonce, nonce, id, counter, full)
  return wrk.format("POST", path, {["Content-Type"] = "text/plain"}, body)
end

function response(status, headers, b)
  if status == 202 then accepted = accepted + 1 else refused = refused + 1 end
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
