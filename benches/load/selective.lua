-- wrk script: cycles through selective top-50 queries (case-sensitive literals).
local queries = {
  "kmem_cache_alloc_node", "tcp_v4_connect", "schedule_timeout_interruptible",
  "btrfs_search_slot", "nvme_submit_sync_cmd", "drm_atomic_helper_commit",
  "ext4_get_inode_loc", "ieee80211_rx_napi", "sched_clock_register", "devm_clk_get_optional",
}
local paths = {}
for i, q in ipairs(queries) do
  paths[i] = "/search?limit=50&context=0&q=case%3Ayes%20%22" .. q .. "%22"
end
local n = 0
-- 1,000 client ids in turn, so that a canary splits the load as it splits users.
request = function()
  n = n + 1
  local headers = { ["X-Client-Id"] = "bench-" .. (n % 1000) }
  return wrk.format("GET", paths[(n % #paths) + 1], headers)
end

-- Per-status counts, printed as one JSON line for benches/load.sh.
local threads = {}
setup = function(thread) table.insert(threads, thread) end
init = function() statuses = {} end
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
