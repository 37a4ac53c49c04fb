#!/usr/bin/env bash
# End-to-end retrieval quality of lens on a set in the CoSQA layout: one file per function,
# indexed by `lens index --embed on`, every query run through `lens search --batch` with
# stages a (BM25), ab (+ symbols) and abc (+ embeddings), scored by score_batch.py.
#
#   bash validation/run_semantic_eval.sh DATA_DIR WORK_DIR
#   e.g. bash validation/run_semantic_eval.sh ../shared/data/cosqa-dev ~/eval/cosqa
#        bash validation/run_semantic_eval.sh validation/data/docstring-set ~/eval/docset
#
# Needs a release build (CARGO_TARGET_DIR, default ~/.cache/lens/target) and the model
# (scripts/model/setup.sh). The bundle is rebuilt only when WORK_DIR has none.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
data="$(cd "$1" && pwd)"
work="$2"
mkdir -p "$work"
target="${CARGO_TARGET_DIR:-$HOME/.cache/lens/target}"
lens="$target/release/lens"
lib="$(bash "$here/../scripts/model/setup.sh")"
export LENS_ORT_LIB="${LENS_ORT_LIB:-$lib}"
export LENS_MODEL_DIR="${LENS_MODEL_DIR:-$HOME/.cache/lens/models/all-minilm-l6-v2}"
py="${LENS_MODEL_VENV:-$HOME/.cache/lens/venv}/bin/python"

"$py" "$here/python/cosqa_layout.py" "$data" "$work" --force >&2
if [ ! -f "$work/bundle/manifest.json" ]; then
    "$lens" index "set=$work/tree" --out "$work/bundle" --embed on --json >"$work/index.json"
fi
for stages in a ab abc; do
    "$py" - "$work/queries.batch.jsonl" "$stages" >"$work/q-$stages.jsonl" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    d = json.loads(line)
    d["stages"] = sys.argv[2]
    print(json.dumps(d))
EOF
    # A query that fails (e.g. judged code-like, then not valid query language) scores 0.
    "$lens" search --bundle "$work/bundle" --batch "$work/q-$stages.jsonl" >"$work/out-$stages.jsonl" ||
        echo "($stages: some queries failed and score 0)" >&2
    printf '%-4s ' "$stages"
    "$py" "$here/python/score_batch.py" "$work/out-$stages.jsonl" --data "$data"
done
# Stage-C latency per query (its own timer; the query embedding is never cached in this run).
"$py" - "$work/out-abc.jsonl" <<'EOF'
import json, sys
ms = sorted(d["stats"]["stage_c_ms"] for d in map(json.loads, open(sys.argv[1]))
            if d.get("stats", {}).get("stage_c_ms") is not None)
cut = [(d["stats"].get("cut_off", 0), d["stats"].get("scored", 0)) for d in map(json.loads, open(sys.argv[1])) if "stats" in d]
pct = lambda q: ms[min(len(ms) - 1, int(q * len(ms)))] if ms else float("nan")
print(f"stage_c ran on {len(ms)} queries: p50 {pct(0.5):.1f} ms, p95 {pct(0.95):.1f} ms; "
      f"confidence cutoff dropped {sum(c for c, _ in cut)} of {sum(s for _, s in cut)} candidates "
      f"({sum(c for c, _ in cut) / max(1, sum(s for _, s in cut)):.1%})")
EOF
