-- wrk script: keep-alive, pre-signed CreateTokenWithIAM requests (POST /token?aws_iam=t).
-- The anchors' wrk-form.lua conventions, so that their load.sh / wrkcpu.py drive it unchanged:
--   FILE=<lines>  one pre-signed request a line, each sent once: "Name: value" header fields
--                 separated by TABs, the JSON body as the last field (what bench/run.py writes;
--                 Host, Content-Type, X-Amz-Date and Authorization are exactly what was signed).
--   Thread t of THREADS takes lines OFFSET+t, OFFSET+t+THREADS, ... (1-based, wrapping: a
--   wrap resends a line, which the server must reject, so it shows up as non-2xx).
--   PATH_=/token?aws_iam=t (the path).
-- done() prints one RESULT line; last_line = the highest line number any thread used (threads
-- need not send equally many requests, so OFFSET + requests can fall short of it).
local file = os.getenv("FILE") or "requests.txt"
local path = os.getenv("PATH_") or "/token?aws_iam=t"
local lines, step = {}, 1
idx = 0  -- global: done() reads each thread's through thread:get
local counter, threads = 0, {}
function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  threads[#threads + 1] = thread
end
function init(args)
  step = tonumber(os.getenv("THREADS") or "2")
  idx = tonumber(os.getenv("OFFSET") or "0") + tid - 1 - step
  for l in io.lines(file) do lines[#lines + 1] = l end
end
local find, sub = string.find, string.sub
-- "Name: value<TAB>Name: value<TAB>...<TAB>body" -> headers table, body
local function parse(v)
  local headers, pos = {}, 1
  while true do
    local tab = find(v, "\t", pos, true)
    if not tab then break end
    local colon = find(v, ": ", pos, true)
    headers[sub(v, pos, colon - 1)] = sub(v, colon + 2, tab - 1)
    pos = tab + 1
  end
  return headers, sub(v, pos)
end
function request()
  idx = idx + step
  local headers, body = parse(lines[(idx % #lines) + 1])
  return wrk.format("POST", path, headers, body)
end
function done(summary, latency, requests)
  local last = 0
  for _, t in ipairs(threads) do
    local i = t:get("idx")
    if i and i + 1 > last then last = i + 1 end
  end
  io.write(string.format("RESULT requests=%d duration_s=%.2f rps=%.1f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f non2xx=%d sockerr=%d last_line=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, last))
end
