-- wrk script: the same searches as random.lua (top-50, no context, the
-- case-sensitive literals of a query file) as MCP `search` tool calls POSTed
-- to /mcp (protocol 2026-07-28, stateless), with the tool's default text
-- budget. A 200 whose tool result is an error counts as status 600.
--   wrk ... -s benches/load/mcp.lua URL -- QUERIES.jsonl
local bodies = {}
local meta = '{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}'
init = function(args)
  statuses = {}
  local file = assert(args[1], "mcp.lua needs a query file: -- QUERIES.jsonl")
  for line in io.lines(file) do
    -- Sampled identifiers are [A-Za-z0-9_]: nothing to escape in JSON.
    local p = line:match('"pattern":%s*"([^"]*)"')
    if p then
      table.insert(bodies, string.format(
        '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"_meta":%s,"name":"search",'
          .. '"arguments":{"query":"case:yes \\"%s\\"","limit":50,"context":0}}}', meta, p))
    end
  end
  assert(#bodies > 0, "no patterns in " .. file)
end

local n = 0
request = function()
  n = n + 1
  local headers = {
    ["X-Client-Id"] = "bench-" .. (n % 1000),
    ["Content-Type"] = "application/json",
    ["Accept"] = "application/json, text/event-stream",
    ["MCP-Protocol-Version"] = "2026-07-28",
    ["Mcp-Method"] = "tools/call",
    ["Mcp-Name"] = "search",
  }
  return wrk.format("POST", "/mcp", headers, bodies[(n % #bodies) + 1])
end

dofile("benches/load/report.lua")
local count_status = response
response = function(status, headers, body)
  if status == 200 and body and body:find('"isError":true', 1, true) then
    status = 600
  end
  count_status(status)
end
