#!/usr/bin/env bash
# ndcg_at_10 on a real labelled set: a CoSQA bundle (one file per function,
# embeddings on) served as stable with `[validation] labelled` naming the set,
# then two candidates cut from the same sources: one with stable's ranking (a
# content refresh: must not regress) and one whose fusion ignores the
# embeddings (a ranking change that loses nDCG: must fail). Prints each
# candidate's ndcg_at_10 and exits 1 if either verdict is not the expected one.
#   bash scripts/drill/labelled.sh [LENS_BINARY] [DATA_DIR]
# Needs the model (scripts/model/setup.sh) and a release build for useful timings.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
lens="${1:-${CARGO_TARGET_DIR:-$HOME/.cache/lens/target}/release/lens}"
data="$(cd "${2:-$repo/../shared/data/cosqa-dev}" && pwd)"
[ -x "$lens" ] || { echo "labelled drill: no lens binary at $lens" >&2; exit 2; }
LENS_ORT_LIB="${LENS_ORT_LIB:-$(bash scripts/model/setup.sh)}"
export LENS_ORT_LIB
export LENS_MODEL_DIR="${LENS_MODEL_DIR:-$HOME/.cache/lens/models/all-minilm-l6-v2}"
port="${LENS_DRILL_PORT:-3948}"
work=$(mktemp -d)
server=""
cleanup() { [ -n "$server" ] && kill -9 "$server" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
cd "$work"
fail() { echo "labelled drill: FAILED: $*" >&2; tail -20 serve.log >&2 || true; exit 1; }

python3 "$repo/validation/python/cosqa_layout.py" "$data" "$work/set" --force >/dev/null
"$lens" index "cosqa=$work/set/tree" --out "$work/bundle" --embed on --bundle-version 1.0.0 --quiet >/dev/null
cat > lens.toml <<TOML
listen = "127.0.0.1:$port"
policy = "permissive"
[limits]
requests_per_second = 100000
burst = 100000
[validation]
nightly_at = ""
labelled = ["$data"]
labelled_max_queries = ${LABELLED_QUERIES:-200}
TOML
"$lens" serve --bundle "$work/bundle" --config lens.toml --state "$work/state" >> serve.log 2>&1 &
server=$!
for _ in $(seq 200); do curl -sf "http://localhost:$port/health" >/dev/null && break; sleep 0.1; done

judge() { # judge VERSION WANTED_STATUS [--ranking FILE]
    local v=$1 want=$2; shift 2
    "$lens" cut-rc --version "$v" --state "$work/state" --config lens.toml "$@" >/dev/null
    sleep 1.5
    local t0 t1
    t0=$(date +%s%N)
    curl -s -X POST "http://localhost:$port/validation/quality-gates" > "gates-$v.json"
    t1=$(date +%s%N)
    jq -c --arg ms "$(( (t1 - t0) / 1000000 ))" '.quality_gates_report.gates[] | select(.gate == "ndcg_at_10")
        | {release: "'"$v"'", status, value, threshold, baseline, sets: [.evidence.sets[]? | {set, queries, candidate: .candidate_ndcg_at_10, stable: .stable_ndcg_at_10, candidate_p95_ms, stable_p95_ms, verdict}], gates_ms: ($ms | tonumber)}' "gates-$v.json"
    local got
    got=$(jq -r '.quality_gates_report.gates[] | select(.gate == "ndcg_at_10") | .status' "gates-$v.json")
    [ "$got" = "$want" ] || fail "ndcg_at_10 on $v is $got, wanted $want"
    "$lens" canary kill --reason "labelled drill" --state "$work/state" --config lens.toml >/dev/null
}

judge 1.0.1-rc.1 pass
cat > no-embeddings.toml <<'TOML'
[fusion]
cosine = 0.0
bm25 = 1.0
TOML
judge 1.0.1-rc.2 fail --ranking no-embeddings.toml
echo "labelled drill: passed"
