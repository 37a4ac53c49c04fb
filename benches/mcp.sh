#!/usr/bin/env bash
# The cost of the MCP path: the same searches as MCP `search` tool calls on
# /mcp and as GET /search, against one `lens serve` on loopback, in
# alternating rounds (so that drift on a shared machine hits both alike).
# wrk is pinned to one core with taskset; the server has both.
#   bash benches/mcp.sh BUNDLE_DIR QUERIES.jsonl [SECONDS_PER_ROUND] [ROUNDS]
# Prints one JSON line per round and path, then the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
bundle="$1"
queries="$2"
secs="${3:-10}"
rounds="${4:-3}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/lens/target}"
if [ -z "${LENS_BIN:-}" ]; then
    cargo build --release -q -p lens-server
fi
lens="${LENS_BIN:-$CARGO_TARGET_DIR/release/lens}"
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
port=${LENS_BENCH_PORT:-3918}
cat > "$work/lens.toml" <<TOML
listen = "127.0.0.1:$port"
policy = "permissive"
audit_log = "$work/audit.jsonl"
[limits]
requests_per_second = 1000000
burst = 1000000
max_inflight = 16
TOML
"$lens" serve --bundle "$bundle" --config "$work/lens.toml" --state "$work/state" --model none 2> "$work/server.log" &
server=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
url="http://127.0.0.1:$port"
run() {
    local script=$1 conns=$2
    taskset -c 0 wrk -t1 -c"$conns" -d"${secs}s" --timeout 5s -s "$script" "$url" -- "$queries" \
        | grep '^WRK_JSON' | sed 's/^WRK_JSON //'
}
# Warm the page cache and both paths.
run benches/load/random.lua 4 >/dev/null
run benches/load/mcp.lua 4 >/dev/null
out="$work/rounds.jsonl"
for r in $(seq "$rounds"); do
    for conns in 1 8; do
        for path in search mcp; do
            script=benches/load/random.lua
            [ "$path" = mcp ] && script=benches/load/mcp.lua
            echo "{\"round\": $r, \"path\": \"$path\", \"connections\": $conns, \"result\": $(run "$script" "$conns")}" | tee -a "$out"
        done
    done
done
python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
for conns in sorted({r["connections"] for r in rows}):
    med = {}
    for path in ("search", "mcp"):
        rs = [r["result"] for r in rows if r["path"] == path and r["connections"] == conns]
        med[path] = {k: statistics.median(x[k] for x in rs) for k in ("rps", "p50_ms", "p99_ms")}
        bad = sum(c for x in rs for s, c in x["statuses"].items() if s != "200")
        med[path]["non_200"] = bad
    s, m = med["search"], med["mcp"]
    print(json.dumps({"connections": conns, "median": med,
                      "mcp_over_search": {"rps": round(m["rps"] / s["rps"], 3),
                                          "p50_ms_added": round(m["p50_ms"] - s["p50_ms"], 3),
                                          "p99_ms_added": round(m["p99_ms"] - s["p99_ms"], 3)}}))
PY
