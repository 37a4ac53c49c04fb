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

dofile("benches/load/report.lua")
