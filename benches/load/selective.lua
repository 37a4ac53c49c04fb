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

init = function() statuses = {} end
dofile("benches/load/report.lua")
