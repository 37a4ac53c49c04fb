#!/usr/bin/env bash
# The benchmark gate (benches/README.md, "Benchmark gate"): every query class
# of lens-gate, one process each under callgrind, its instruction count
# compared with benches/gate/baseline.json. Fails (exit 1) when a class is
# more than 10% slower than its baseline; exit 2 when it cannot measure.
#
#   bash benches/gate.sh                   compare with the baseline
#   bash benches/gate.sh --update          measure and rewrite the baseline
#   bash benches/gate.sh --self-test       every class planted 25% slower must fail, unplanted pass
#   options: --classes a,b (only these)    --results FILE (keep the counts: "CLASS IR" lines)
set -euo pipefail
cd "$(dirname "$0")/.."

mode=check
classes=""
keep=""
while [ $# -gt 0 ]; do
    case "$1" in
        --update) mode=update ;;
        --self-test) mode=self-test ;;
        --classes) classes="$2"; shift ;;
        --results) keep="$2"; shift ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "gate.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done

command -v valgrind >/dev/null 2>&1 || { echo "gate.sh: needs valgrind (apt-get install valgrind)" >&2; exit 2; }
# lens-gate starts and stops callgrind's instrumentation with amd64 client requests.
[ "$(uname -m)" = x86_64 ] || { echo "gate.sh: the gate measures on x86_64 only" >&2; exit 2; }

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/lens/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
started=$SECONDS
cargo build --release --quiet -p lens-benches --bin lens-gate
gate="$CARGO_TARGET_DIR/release/lens-gate"
baseline=benches/gate/baseline.json

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$gate" prepare --out "$work"
[ -n "$classes" ] || classes="$("$gate" classes | paste -sd, -)"
# One thread in rayon's pool: the same work in the same order on every run.
export RAYON_NUM_THREADS=1

# measure CLASS RESULTS: appends "CLASS IR" (LENS_GATE_PLANT passes through).
measure() {
    local c="$1" out="$2"
    rm -f "$work/$c.cg"
    if ! valgrind --tool=callgrind --instr-atstart=no --log-file="$work/$c.valgrind" \
        --callgrind-out-file="$work/$c.cg" "$gate" run --dir "$work" --class "$c" 2>"$work/$c.log"; then
        cat "$work/$c.log" "$work/$c.valgrind" >&2
        echo "gate.sh: $c did not run" >&2
        exit 2
    fi
    local ir
    ir="$(awk '/^totals:/ { print $2 }' "$work/$c.cg")"
    [ -n "$ir" ] && [ "$ir" -gt 0 ] || { echo "gate.sh: no instruction count for $c" >&2; exit 2; }
    sed 's/^lens-gate: /  /' "$work/$c.log"
    echo "$c $ir" >>"$out"
}

measure_all() {
    local out="$1" c
    : >"$out"
    for c in ${classes//,/ }; do
        measure "$c" "$out"
    done
}

tools="$(valgrind --version), $(rustc --version | cut -d' ' -f1-2)"
case "$mode" in
    update)
        measure_all "$work/results"
        commit="$(git rev-parse --short HEAD)"
        git diff --quiet HEAD -- . ':!benches/gate/baseline.json' || commit="$commit+changes"
        "$gate" compare --baseline "$baseline" --results "$work/results" --classes "$classes" \
            --update --commit "$commit" --tools "$tools"
        cat "$work/results"
        ;;
    check)
        measure_all "$work/results"
        [ -z "$keep" ] || cp "$work/results" "$keep"
        status=0
        "$gate" compare --baseline "$baseline" --results "$work/results" --classes "$classes" \
            --tools "$tools" || status=$?
        echo "gate.sh: $((SECONDS - started)) s"
        exit "$status"
        ;;
    self-test)
        failures=0
        echo "== unplanted: every class must pass"
        measure_all "$work/results"
        [ -z "$keep" ] || cp "$work/results" "$keep"
        if ! "$gate" compare --baseline "$baseline" --results "$work/results" --classes "$classes" --tools "$tools"; then
            echo "self-test: the unplanted tree failed the gate" >&2
            failures=$((failures + 1))
        fi
        for c in ${classes//,/ }; do
            echo "== planted: LENS_GATE_PLANT=$c must fail"
            : >"$work/planted"
            LENS_GATE_PLANT="$c" measure "$c" "$work/planted"
            if "$gate" compare --baseline "$baseline" --results "$work/planted" --classes "$c" --tools "$tools"; then
                echo "self-test: planted $c passed the gate" >&2
                failures=$((failures + 1))
            fi
        done
        echo "gate.sh: $((SECONDS - started)) s"
        if [ "$failures" -gt 0 ]; then
            echo "self-test: FAIL ($failures)"
            exit 1
        fi
        echo "self-test: pass (unplanted passes; each class planted fails)"
        ;;
esac
