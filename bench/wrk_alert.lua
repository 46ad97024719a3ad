-- Each request is a distinct alert (a fresh id), so none is answered "duplicate".
local counter = 0
local secret = os.getenv("BENCH_SECRET") or "bench-secret"
local run = os.getenv("BENCH_RUN") or tostring(os.time())

request = function()
  counter = counter + 1
  local body = string.format(
    '{"symbol":"BINANCE:BTCUSDT","action":"buy","qty":"0.01","take_profit":{"percent":2},' ..
    '"stop_loss":{"percent":1},"strategy":"bench","id":"%s-%d","secret":"%s"}',
    run, counter, secret)
  return wrk.format("POST", "/webhook", {["Content-Type"] = "text/plain"}, body)
end

local threads = {}
setup = function(thread)
  table.insert(threads, thread)
end

accepted, other = 0, 0
response = function(status, headers, body)
  if status == 202 then accepted = accepted + 1 else other = other + 1 end
end

done = function(summary, latency, requests)
  local ok, bad = 0, 0
  for _, thread in ipairs(threads) do
    ok = ok + thread:get("accepted")
    bad = bad + thread:get("other")
  end
  io.write(string.format(
    'RESULT {"requests":%d,"seconds":%.3f,"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,' ..
    '"max_ms":%.3f,"errors":%d,"accepted":%d,"other":%d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3,
    latency:percentile(90) / 1e3, latency:percentile(99) / 1e3, latency.max / 1e3,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    ok, bad))
end
