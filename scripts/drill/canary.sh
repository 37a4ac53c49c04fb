#!/usr/bin/env bash
# The runbook's canary procedures, verbatim (only the port changed from 3000),
# against a real `lens serve` over a real bundle (lens's own source tree):
# cut an RC, compat drill, progress 5 -> 25 under a replayed load from many
# client ids (a refusal first, with its reasons), an injected candidate fault
# that triggers the automatic rollback, a new rollout, the kill switch
# (traffic 0 within one second, still 0 after kill -9 and a restart), and a
# refusal while killed; then the rest of the runbook: a rollout to 100%,
# quality gates, three forced nights, the sign-off report, check-signoff,
# promote and rollback, and two bad candidates (a fifth of the files lost; a
# ranking that buries definitions) that are each blocked and cannot be
# promoted. Every step is printed; any failed expectation exits 1.
#   bash scripts/drill/canary.sh [LENS_BINARY]
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
lens="${1:-${CARGO_TARGET_DIR:-$HOME/.cache/lens/target}/debug/lens}"
[ -x "$lens" ] || { echo "drill: no lens binary at $lens (cargo build -p lens-server)" >&2; exit 2; }
port="${LENS_DRILL_PORT:-3947}"
work=$(mktemp -d)
server=""
cleanup() { [ -n "$server" ] && kill -9 "$server" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
cd "$work"
# `lens` in the runbook's commands is this build.
mkdir -p bin && ln -s "$(realpath "$lens")" bin/lens
export PATH="$work/bin:$PATH"

step() { printf '\n== %s\n' "$*"; }
fail() { echo "drill: FAILED: $*" >&2; echo "--- server log" >&2; tail -30 "$work/serve.log" >&2 || true; exit 1; }
expect() { # expect NAME ACTUAL WANTED
    if [ "$2" != "$3" ]; then fail "$1: got $2, wanted $3"; fi
    echo "   ok: $1 = $2"
}

cat > lens.toml <<TOML
listen = "127.0.0.1:$port"
policy = "permissive"
audit_log = "$work/audit.jsonl"
[limits]
requests_per_second = 100000
burst = 100000
[canary]
stages = [5, 25, 100]
soak_seconds = [4, 4, 0]
auto_progress = [false, false, false]
interval_seconds = 2
min_requests = 10
max_error_rate = 0.03
max_p95_ratio = 1.10
failure_limit = 3
[drills]
enabled = true
[validation]
nightly_at = ""
night_minutes = 10
release_notes = "$work/UPGRADE.md"
# A shared CI host at sub-millisecond p95: one descheduled search must not
# fail a night (production keeps the runbook's ratio alone, the default 0).
tail_floor_ms = 5.0
TOML
cat > UPGRADE.md <<'MD'
# Upgrading lens releases (drill)

## 1.0.0-rc.2
The drill's good candidate: the same sources and ranking, rebuilt.

## 1.0.0-rc.3
A candidate cut from sources with a fifth of the files removed (must be blocked).

## 1.0.0-rc.4
A candidate whose ranking config buries definitions (must be blocked).
MD

start_server() {
    lens serve --bundle "$work/bundle" --config lens.toml --model none >> serve.log 2>&1 &
    server=$!
    for _ in $(seq 100); do curl -sf "http://localhost:$port/health" >/dev/null && return; sleep 0.1; done
    fail "server did not start"
}
load() { # load SECONDS OUT
    python3 "$repo/scripts/drill/load.py" --url "http://127.0.0.1:$port" --tree "$repo/lens-core" \
        --seconds "$1" --clients 500 --threads 6 --out "$2"
}
status() { curl -s "http://localhost:$port/canary/status"; }

step "index a real tree (lens-core's source) and serve it; the store registers it as stable"
lens index "$repo/lens-core" --out "$work/bundle" --embed off --quiet --bundle-version 1.0.0-rc.0 >/dev/null
start_server
expect "stable release" "$(status | jq -r '.canary_deployment.stable')" "1.0.0-rc.0"

step "lens cut-rc --version 1.0.0-rc.1"
lens cut-rc --version 1.0.0-rc.1
step "a second cut while the candidate is active is refused"
if lens cut-rc --version 1.0.0-rc.2 2> cut2.err; then fail "second cut accepted"; fi
cat cut2.err

step "lens compat-drill --version 1.0.0-rc.1"
lens compat-drill --version 1.0.0-rc.1

step "# 1. Run immediate quality assessment: curl -X POST http://localhost:3000/validation/quality-gates"
sleep 1.5 # the server notices the new candidate within a second
curl -s -X POST "http://localhost:$port/validation/quality-gates" | jq -c '.quality_gates_report | {release, passed, gates: [.gates[] | {gate, status, value}]}'
step "# Span coverage check: curl http://localhost:3000/validation/quality-gates | jq '.quality_gates_report.gates[] | select(.gate == \"span_coverage\")'"
curl -s "http://localhost:$port/validation/quality-gates" | jq -c '.quality_gates_report.gates[] | select(.gate == "span_coverage") | {gate, status, value, threshold}'
expect "span coverage" "$(curl -s "http://localhost:$port/validation/quality-gates" | jq -r '.quality_gates_report.gates[] | select(.gate == "span_coverage") | .status')" "pass"
step "# 2. Check specific failed gates: ... | jq '.quality_gates_report.blocking_issues'; # 3. ... | jq '.quality_gates_report.recommendations'"
curl -s "http://localhost:$port/validation/quality-gates" | jq -c '.quality_gates_report.blocking_issues'
curl -s "http://localhost:$port/validation/quality-gates" | jq -c '.quality_gates_report.recommendations'

step 'curl "http://localhost:3000/compat/check?api_version=v1&index_version=v1"'
sleep 1.5 # the server notices the new candidate within a second
curl -s "http://localhost:$port/compat/check?api_version=v1&index_version=v1" | jq -c '{compatible, api_version, index_version}'
step 'curl "http://localhost:3000/compat/bundles?allow_compat=false"'
curl -s "http://localhost:$port/compat/bundles?allow_compat=false" | jq -c '{compatible, bundles: [.bundles[] | {arm, release, compatible}]}'
expect "bundles held" "$(curl -s "http://localhost:$port/compat/bundles?allow_compat=false" | jq '.bundles | length')" "2"

step "# Check current status: curl http://localhost:3000/canary/status"
curl -s "http://localhost:$port/canary/status" | jq -c '.canary_deployment | {trafficPercentage, stage, candidate, nextStage}'

step "# Progress to next stage: curl -X POST http://localhost:3000/canary/progress (0 -> 5%)"
curl -s -X POST "http://localhost:$port/canary/progress" | jq -c '.canary_deployment | {trafficPercentage, stage}'
expect "traffic" "$(status | jq '.canary_deployment.trafficPercentage')" "5"

step "progress again at once: refused with every reason"
code=$(curl -s -o refusal.json -w '%{http_code}' -X POST "http://localhost:$port/canary/progress")
jq -c '.error.reasons | map(.code)' refusal.json
expect "refusal status" "$code" "409"

step "replayed load from 500 client ids at 5% (6 s)"
load 6 load5.json
step "# Verify progression success: curl http://localhost:3000/canary/progress; .../canary/status | jq '.canary_deployment.nextStage'"
curl -s -X POST "http://localhost:$port/canary/progress" | jq -c '.canary_deployment | {trafficPercentage, stage, intervals: [.intervals[].verdict]}'
curl -s "http://localhost:$port/canary/status" | jq '.canary_deployment.nextStage'
expect "traffic" "$(status | jq '.canary_deployment.trafficPercentage')" "25"
load 5 load25.json
python3 - load5.json load25.json <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
five, quarter = set(a["candidate_clients"]), set(b["candidate_clients"])
print(f"   candidate clients: {len(five)}/{len(a['clients'])} at 5%, {len(quarter)}/{len(b['clients'])} at 25%; "
      f"switched within a stage: {len(a['switched_clients'])}, {len(b['switched_clients'])}")
assert not a["switched_clients"] and not b["switched_clients"], "a client changed arm within a stage"
assert five <= quarter, "a candidate client at 5% is not one at 25%"
print("   ok: sticky within each stage, 5% clients still on the candidate at 25%")
PY

step "inject a candidate fault (error rate 0.5) and wait for the automatic rollback"
curl -s -X POST "http://localhost:$port/canary/drill" -d '{"arm": "candidate", "error_rate": 0.5, "latency_ms": 5}' | jq -c '.'
load 9 loadfault.json
status | jq -c '.canary_deployment | {trafficPercentage, phase, consecutive_failures, intervals: [.intervals[:4][].verdict], rollbacks: (.rollback_events | length)}'
expect "phase after the fault" "$(status | jq -r '.canary_deployment.phase')" "rolled back"
expect "traffic after rollback" "$(status | jq '.canary_deployment.trafficPercentage')" "0"
curl -s -X POST "http://localhost:$port/canary/drill" -d '{"clear": true}' >/dev/null

step "a new rollout: progress without restart is refused, with restart it goes to 5%"
curl -s -X POST "http://localhost:$port/canary/progress" | jq -c '.error.reasons | map(.code)'
curl -s -X POST "http://localhost:$port/canary/progress" -d '{"restart": true}' | jq -c '.canary_deployment | {trafficPercentage, stage}'
expect "traffic" "$(status | jq '.canary_deployment.trafficPercentage')" "5"

step '# 1. Immediate kill switch activation: curl -X POST http://localhost:3000/canary/killswitch -H "Content-Type: application/json" -d '"'"'{"reason": "..."}'"'"''
t0=$(date +%s%N)
curl -s -X POST "http://localhost:$port/canary/killswitch" \
  -H "Content-Type: application/json" \
  -d '{"reason": "Performance regression - Stage-A p95 exceeds 10ms"}' >/dev/null
step "# 2. Verify traffic rollback: curl http://localhost:3000/canary/status | jq '.canary_deployment.trafficPercentage'"
pct=$(curl -s "http://localhost:$port/canary/status" | jq '.canary_deployment.trafficPercentage')
arm=$(curl -s -D - -o /dev/null -H 'X-Client-Id: client-0001' "http://localhost:$port/search?q=Searcher" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-lens-arm" {print $2}')
t1=$(date +%s%N)
echo "   kill switch to 0% and a stable answer in $(( (t1 - t0) / 1000000 )) ms"
expect "traffic after kill switch" "$pct" "0"
expect "next answer's arm" "$arm" "stable"
[ $(( (t1 - t0) / 1000000 )) -lt 1000 ] || fail "the kill switch took a second or more"
step "# 3. Monitor system recovery: curl http://localhost:3000/monitoring/dashboard | jq '.dashboard_state.health.status'"
curl -s "http://localhost:$port/monitoring/dashboard" | jq '.dashboard_state.health.status'

step "kill -9 the server and start it again: the kill switch holds"
kill -9 "$server"; wait "$server" 2>/dev/null || true
start_server
status | jq -c '.canary_deployment | {trafficPercentage, killSwitch}'
expect "traffic after restart" "$(status | jq '.canary_deployment.trafficPercentage')" "0"
expect "kill switch after restart" "$(status | jq '.canary_deployment.killSwitch.active')" "true"

step "# Emergency form (no Content-Type): curl -X POST http://localhost:3000/canary/killswitch -d '{\"reason\": ...}'"
curl -s -X POST "http://localhost:$port/canary/killswitch" \
  -d '{"reason": "Emergency: Critical performance regression"}' | jq -c '.canary_deployment | {trafficPercentage, killSwitch: .killSwitch.reason}'

step "progress while killed is refused with its reasons"
code=$(curl -s -o refusal2.json -w '%{http_code}' -X POST "http://localhost:$port/canary/progress")
jq -c '.error.reasons' refusal2.json
expect "refusal status" "$code" "409"
expect "reason" "$(jq -r '.error.reasons[0].code' refusal2.json)" "kill_switch_active"

step "a new cut-rc is a new rollout: the killed candidate is abandoned for it, the kill switch cleared"
lens cut-rc --version 1.0.0-rc.2
sleep 1.5
status | jq -c '.canary_deployment | {candidate, trafficPercentage, phase, killSwitch: .killSwitch.active}'
expect "candidate" "$(status | jq -r '.canary_deployment.candidate')" "1.0.0-rc.2"
expect "kill switch" "$(status | jq '.canary_deployment.killSwitch.active')" "false"

step "roll 1.0.0-rc.2 out to 100% under load (5% -> 25% -> 100%)"
curl -s -X POST "http://localhost:$port/canary/progress" | jq -c '.canary_deployment | {trafficPercentage, stage}'
# As an operator would: progress when the stage's last interval passed;
# a refusal (an inconclusive interval on a busy host) means more soak under load.
progress_to() { # progress_to PERCENT TAG
    for attempt in 1 2 3; do
        load 5 "load-$2-$1-$attempt.json"
        curl -s -X POST "http://localhost:$port/canary/progress" \
            | jq -c '.canary_deployment // .error | {trafficPercentage, stage, refused: ([.reasons[]?.code] | select(length > 0))}'
        [ "$(status | jq '.canary_deployment.trafficPercentage')" = "$1" ] && break
    done
    expect "traffic" "$(status | jq '.canary_deployment.trafficPercentage')" "$1"
}
for want in 25 100; do progress_to "$want" rc2; done

step "# Quality gates validation: curl -X POST http://localhost:3000/validation/quality-gates | jq '.'"
curl -s -X POST "http://localhost:$port/validation/quality-gates" > gates-rc2.json
jq -c '.quality_gates_report | {release, passed, duration_ms, gates: [.gates[] | {gate, status}], blocking_issues, not_applicable}' gates-rc2.json
expect "quality gates on rc.2" "$(jq '.quality_gates_report.passed' gates-rc2.json)" "true"

step "# Check sign-off status before any night: lens check-signoff --version 1.0.0-rc.2 (refused)"
if lens check-signoff --version 1.0.0-rc.2; then fail "signed off without nights"; fi
step "promote without sign-off is refused with its reasons"
if lens promote --version 1.0.0-rc.2 2> promote-early.err; then fail "promoted without sign-off"; fi
cat promote-early.err

for n in 1 2 3; do
    step "# Force nightly validation (testing): curl -X POST http://localhost:3000/validation/nightly -d '{\"force_night\": $n, \"duration_minutes\": 60}'"
    curl -s -X POST "http://localhost:$port/validation/nightly" -d "{\"force_night\": $n, \"duration_minutes\": 60}" > "night-$n.json"
    jq -c '{night: .night.night, passed: .night.passed, gates: .night.gates, replay: {requests: .night.replay.requests, p95_ms: .night.replay.p95_ms}, consecutive: .validation_status.consecutive_passes}' "night-$n.json"
    expect "night $n passed" "$(jq '.night.passed' "night-$n.json")" "true"
done
step "a forced night out of order is refused"
code=$(curl -s -o night-skip.json -w '%{http_code}' -X POST "http://localhost:$port/validation/nightly" -d '{"force_night": 9}')
jq -c '.error' night-skip.json
expect "skip status" "$code" "409"

step "# Three-night validation status: curl http://localhost:3000/validation/status | jq '.validation_status.promotion_ready'"
curl -s "http://localhost:$port/validation/status" | jq '.validation_status.promotion_ready'
expect "promotion ready" "$(curl -s "http://localhost:$port/validation/status" | jq '.validation_status.promotion_ready')" "true"
expect "consecutive passes" "$(curl -s "http://localhost:$port/validation/status" | jq '.validation_status.consecutive_passes')" "3"
step "# Sign-off report generation: curl http://localhost:3000/validation/signoff-report | jq '.'"
curl -s "http://localhost:$port/validation/signoff-report" | jq -c '.signoff_report | {release, decision, nights: (.nights | length), history: (.canary_history | length)}'
curl -s "http://localhost:$port/validation/signoff-report?format=md" > signoff.md
head -12 signoff.md
grep -q "Decision: \*\*promotable\*\*" signoff.md || fail "the Markdown report does not say promotable"
curl -s "http://localhost:$port/metrics" | grep -E '^lens_(validation_consecutive_passes|promotion_ready) '
expect "lens_promotion_ready" "$(curl -s "http://localhost:$port/metrics" | awk '$1=="lens_promotion_ready" {print $2}')" "1"
expect "dashboard validation" "$(curl -s "http://localhost:$port/monitoring/dashboard" | jq '.dashboard_state.validation.promotion_ready')" "true"

step "# Check sign-off status: lens check-signoff --version 1.0.0-rc.2"
lens check-signoff --version 1.0.0-rc.2
step "# Promote to production (requires sign-off): lens promote --version 1.0.0-rc.2"
lens promote --version 1.0.0-rc.2
sleep 1.5 # the server follows the new stable within a second
expect "stable after promote" "$(status | jq -r '.canary_deployment.stable')" "1.0.0-rc.2"
expect "candidate after promote" "$(status | jq -r '.canary_deployment.candidate')" "null"
arm_release=$(curl -s -D - -o /dev/null -H 'X-Client-Id: client-0001' "http://localhost:$port/search?q=Searcher" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-lens-release" {print $2}')
expect "answering release" "$arm_release" "1.0.0-rc.2"

step "lens rollback: the previous stable serves again"
lens rollback --reason "drill: rollback procedure"
sleep 1.5
expect "stable after rollback" "$(status | jq -r '.canary_deployment.stable')" "1.0.0-rc.0"
arm_release=$(curl -s -D - -o /dev/null "http://localhost:$port/search?q=Searcher" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-lens-release" {print $2}')
expect "answering release" "$arm_release" "1.0.0-rc.0"

blocked_candidate() { # blocked_candidate VERSION GATE...
    local v=$1; shift
    sleep 1.5
    curl -s -X POST "http://localhost:$port/canary/progress" >/dev/null
    for want in 25 100; do progress_to "$want" "$v"; done
    echo "   rollout: $(status | jq -c '.canary_deployment | {candidate, trafficPercentage}')"
    curl -s -X POST "http://localhost:$port/validation/quality-gates" > "gates-$v.json"
    jq -c '.quality_gates_report | {release: .release.version, passed, failed: [.gates[] | select(.status == "fail") | .gate]}' "gates-$v.json"
    jq -r '.quality_gates_report.blocking_issues[]' "gates-$v.json" | sed 's/^/   blocking: /'
    expect "quality gates on $v" "$(jq '.quality_gates_report.passed' "gates-$v.json")" "false"
    for g in "$@"; do
        expect "$g on $v" "$(jq -r --arg g "$g" '.quality_gates_report.gates[] | select(.gate == $g) | .status' "gates-$v.json")" "fail"
    done
    for n in 1 2 3; do
        curl -s -X POST "http://localhost:$port/validation/nightly" -d "{\"force_night\": $n, \"duration_minutes\": 5}" > "night-$v-$n.json"
        expect "night $n of $v passed" "$(jq '.night.passed' "night-$v-$n.json")" "false"
    done
    if lens check-signoff --version "$v" > "signoff-$v.txt"; then fail "$v signed off"; fi
    cat "signoff-$v.txt"
    if lens promote --version "$v" 2> "promote-$v.err"; then fail "$v promoted"; fi
    cat "promote-$v.err"
    grep -q "passing nights" "promote-$v.err" || fail "the refusal does not name the nights"
    expect "stable still" "$(status | jq -r '.canary_deployment.stable')" "1.0.0-rc.0"
    lens canary kill --reason "drill: $v is blocked" >/dev/null
}

step "bad candidate 1: cut from sources with a fifth of the files removed"
cp -r "$repo/lens-core" lens-core-cut
find lens-core-cut -type f | sort | awk 'NR % 5 == 0' | xargs rm -f
lens cut-rc --version 1.0.0-rc.3 "lens-core=$work/lens-core-cut"
blocked_candidate 1.0.0-rc.3 index_completeness recall_at_50

step "bad candidate 2: a ranking config that buries definitions"
cat > bury.toml <<'TOML'
[weights]
definition = 0.0
match_count = 40.0
TOML
lens cut-rc --version 1.0.0-rc.4 --ranking bury.toml
blocked_candidate 1.0.0-rc.4 definition_first

step "the audit log and the event log have every change"
jq -c 'select(.change != null) | {route, key_id, trace_id, change: {reason: .change.reason, before: .change.before, after: .change.after}}' audit.jsonl | tail -4
jq -r '.event' .lens/events.jsonl | sort | uniq -c
curl -s "http://localhost:$port/metrics" | grep -E '^lens_canary_(traffic_percent|rollbacks_total|killswitch_active|killswitch_activations_total|intervals_total)' || true
echo
echo "drill: passed"
