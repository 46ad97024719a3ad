-- Each request is a distinct alert (a fresh id), so none is answered "duplicate".
-- No response() callback: it would make wrk parse every answer in Lua, and wrk shares the two
-- cores with the server. The benchmark checks instead that every request became a row and a job.
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

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests":%d,"seconds":%.3f,"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,' ..
    '"max_ms":%.3f,"errors":%d,"non_2xx":%d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3,
    latency:percentile(90) / 1e3, latency:percentile(99) / 1e3, latency.max / 1e3,
    e.connect + e.read + e.write + e.timeout, e.status))
end
