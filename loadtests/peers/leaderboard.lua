-- wrk: POST one GraphQL request (BODY) to the server, with AUTHORIZATION when set.
wrk.method = "POST"
wrk.body = os.getenv("BODY")
wrk.headers["Content-Type"] = "application/json"
local authorization = os.getenv("AUTHORIZATION")
if authorization and authorization ~= "" then
  wrk.headers["Authorization"] = authorization
end
local threads = {}
setup = function(thread) table.insert(threads, thread) end
failed = 0
response = function(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"') then
    failed = failed + 1
    if failed == 1 then io.stderr:write("first failure: " .. status .. " " .. body:sub(1, 300) .. "\n") end
  end
end
function failures()
  local n = 0
  for _, thread in ipairs(threads) do n = n + (thread:get("failed") or 0) end
  return n
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT requests/s %.0f p50 %.2f ms p99 %.2f ms non-2xx-or-errors %d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.errors.status + failures()))
end
