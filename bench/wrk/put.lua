-- bench/wrk/put.lua — puts for wrk, the same load coraft-bench http puts:
-- keys "k%015d" drawn uniformly from [0, KEYS), a random VALUE_SIZE-byte
-- value of lower-case letters fixed per thread, keep-alive.
--   wrk -t2 -c64 -d10s --latency -s bench/wrk/put.lua http://LEADER -- coraft|etcd KEYS VALUE_SIZE
-- coraft: PUT /v1/kv/KEY; etcd: POST /v3/kv/put {"key":B64,"value":B64}
-- (its v3 JSON gateway). done() prints one JSON line (latencies in µs)
-- after wrk's own report.
local api, keys, value

local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function base64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local q = {}
    for k = 3, 0, -1 do
      local idx = math.floor(n / 64 ^ k) % 64
      q[#q + 1] = b64chars:sub(idx + 1, idx + 1)
    end
    if not b then q[3] = "=" end
    if not c then q[4] = "=" end
    out[#out + 1] = table.concat(q)
  end
  return table.concat(out)
end

function init(args)
  api = args[1] or "coraft"
  keys = tonumber(args[2] or "100000")
  local size = tonumber(args[3] or "128")
  -- Seeded per thread, so threads draw different keys.
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 1000003)
  local v = {}
  for i = 1, size do v[i] = string.char(97 + math.random(0, 25)) end
  value = table.concat(v)
  if api == "etcd" then value = base64(value) end
end

function request()
  local key = string.format("k%015d", math.random(0, keys - 1))
  if api == "etcd" then
    return wrk.format("POST", "/v3/kv/put", { ["Content-Type"] = "application/json" },
      '{"key":"' .. base64(key) .. '","value":"' .. value .. '"}')
  end
  return wrk.format("PUT", "/v1/kv/" .. key, { ["Content-Type"] = "application/octet-stream" }, value)
end

function done(summary, latency, requests)
  local e = summary.errors
  local s = summary.duration / 1e6
  io.write(string.format(
    '{"client":"wrk","requests":%d,"ops_per_sec":%.1f,"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d,' ..
    '"mean_us":%.1f,"errors_connect":%d,"errors_read":%d,"errors_write":%d,"errors_status":%d,"errors_timeout":%d}\n',
    summary.requests, summary.requests / s, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean, e.connect, e.read, e.write, e.status, e.timeout))
end
