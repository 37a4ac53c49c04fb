-- wrk script: cycles through top-50 searches for the identifiers of a query
-- file (JSON lines with a "pattern", as benches/sample_identifiers.py writes
-- them; case-sensitive literals), in the file's order. The file is the
-- script's argument:  wrk ... -s benches/load/random.lua URL -- QUERIES.jsonl
local function urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

local paths = {}
init = function(args)
  statuses = {}
  local file = assert(args[1], "random.lua needs a query file: -- QUERIES.jsonl")
  for line in io.lines(file) do
    local p = line:match('"pattern":%s*"([^"]*)"')
    if p then
      table.insert(paths, "/search?limit=50&context=0&q=" .. urlencode('case:yes "' .. p .. '"'))
    end
  end
  assert(#paths > 0, "no patterns in " .. file)
end

local n = 0
-- 1,000 client ids in turn, so that a canary splits the load as it splits users.
request = function()
  n = n + 1
  local headers = { ["X-Client-Id"] = "bench-" .. (n % 1000) }
  return wrk.format("GET", paths[(n % #paths) + 1], headers)
end

local threads = {}
setup = function(thread) table.insert(threads, thread) end
response = function(status) statuses[status] = (statuses[status] or 0) + 1 end
done = function(summary, latency, requests)
  local counts = {}
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    for code, c in pairs(s) do counts[code] = (counts[code] or 0) + c end
  end
  local parts = {}
  for code, c in pairs(counts) do table.insert(parts, string.format('"%d": %d', code, c)) end
  io.write(string.format(
    'WRK_JSON {"requests": %d, "seconds": %.3f, "rps": %.1f, "p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f, "socket_errors": %d, "statuses": {%s}}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    table.concat(parts, ", ")))
end
