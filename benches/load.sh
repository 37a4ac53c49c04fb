#!/usr/bin/env bash
# Load benchmark of `lens serve` on loopback: a normal phase, a 3x overload
# phase that must shed with 503, and a recovery phase. wrk is pinned to one
# core with taskset; the server has both.
#   bash benches/load.sh BUNDLE_DIR [SECONDS_PER_PHASE]
# LENS_LOAD_QUERIES=FILE: the random-sample mode, cycling through the
# identifiers of FILE (from benches/sample_identifiers.py) instead of the
# ten fixed ones of benches/load/selective.lua.
# LENS_LOAD_CONNECTIONS=N: the normal and recovery phases' connections
# (default half the server's in-flight limit).
set -euo pipefail
cd "$(dirname "$0")/.."
bundle="$1"
secs="${2:-20}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/lens/target}"
# LENS_BIN: another build to measure (side by side with this one).
if [ -z "${LENS_BIN:-}" ]; then
    cargo build --release -q -p lens-server
fi
lens="${LENS_BIN:-$CARGO_TARGET_DIR/release/lens}"
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
port=${LENS_BENCH_PORT:-3917}
inflight=16
cat > "$work/lens.toml" <<TOML
listen = "127.0.0.1:$port"
policy = "permissive"
audit_log = "$work/audit.jsonl"
[limits]
requests_per_second = 1000000
burst = 1000000
max_inflight = $inflight
TOML
# LENS_SERVE_ARGS: more flags for the server (e.g. --state DIR for a release store with a candidate).
# shellcheck disable=SC2086
# A fresh release store per run (LENS_NO_STATE=1 for builds from before the release store).
state_args="--state $work/state"
[ "${LENS_NO_STATE:-0}" = 1 ] && state_args=""
"$lens" serve --bundle "$bundle" --config "$work/lens.toml" $state_args ${LENS_SERVE_ARGS:-} 2> "$work/server.log" &
server=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
# Warm the page cache and the server.
script=(-s benches/load/selective.lua "http://127.0.0.1:$port")
if [ -n "${LENS_LOAD_QUERIES:-}" ]; then
    script=(-s benches/load/random.lua "http://127.0.0.1:$port" -- "$LENS_LOAD_QUERIES")
fi
taskset -c 0 wrk -t1 -c4 -d3s "${script[@]}" >/dev/null

phase() {
    local name=$1 conns=$2
    local line
    line=$(taskset -c 0 wrk -t1 -c"$conns" -d"${secs}s" --timeout 5s "${script[@]}" | grep '^WRK_JSON' | sed 's/^WRK_JSON //')
    echo "{\"phase\": \"$name\", \"connections\": $conns, \"result\": $line}"
}
normal=${LENS_LOAD_CONNECTIONS:-$((inflight / 2))}
phase normal "$normal"
phase overload_3x $((inflight * 3))
phase recovery "$normal"
curl -s "http://127.0.0.1:$port/metrics" | grep -E '^lens_load_shed_total|^lens_http_requests_total\{route="/search"' >&2
