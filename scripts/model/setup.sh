#!/usr/bin/env bash
# Python side of lens' semantic stage: a venv with onnxruntime 1.32 and the all-MiniLM-L6-v2 ONNX
# export (model.onnx, model.int8.onnx, vocab.txt, tokenizer.json, MODEL.json).
# Idempotent: the venv is reinstalled only when the requirement files change (or the venv no longer
# runs), the model only when MODEL.json's checksums no longer match, so reruns need no network.
# Output: progress and a one-line status on stderr; stdout is one line, the path of libonnxruntime.so
# (also MODEL.json's "onnxruntime_lib"), so `ort_lib="$(bash scripts/model/setup.sh)"` works.
# Environment: LENS_MODEL_VENV (default ~/.cache/lens/venv), LENS_MODEL_DIR (default
# ~/.cache/lens/models/all-minilm-l6-v2), PYTHON (the interpreter that makes the venv; python3).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${LENS_MODEL_VENV:-$HOME/.cache/lens/venv}"
model_dir="${LENS_MODEL_DIR:-$HOME/.cache/lens/models/all-minilm-l6-v2}"
py="$venv/bin/python"
stamp="$venv/.lens-requirements.sha256"
want="$(cat "$here/requirements.txt" "$here/requirements-nodeps.txt" | sha256sum | cut -d' ' -f1)"

# Two concurrent runs (test.sh and demo.sh, say) must not install or export over each other.
mkdir -p "$(dirname "$venv")"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$(dirname "$venv")/.lens-model-setup.lock"
  flock 9
fi

if [[ -x "$py" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && "$py" -c '' 2>/dev/null; then
  :
else
  echo "venv: installing scripts/model/requirements*.txt into $venv (needs PyPI)" >&2
  if [[ -x "$py" ]] && "$py" -c '' 2>/dev/null; then :; else
    "${PYTHON:-python3}" -m venv --clear "$venv"  # also replaces a venv whose interpreter is gone
  fi
  pip=("$py" -m pip install -q --disable-pip-version-check)
  "${pip[@]}" -r "$here/requirements.txt" >&2
  "${pip[@]}" --no-deps -r "$here/requirements-nodeps.txt" >&2
  echo "$want" >"$stamp"
fi

"$py" "$here/export_minilm.py" --out "$model_dir" --quiet >&2
"$py" - "$model_dir" "$venv" <<'PY'
import json, os, sys
d, venv = sys.argv[1:]
m = json.load(open(os.path.join(d, "MODEL.json")))
print(f"model: {m['model_id']} ({m['dims']} dims, max_seq_len {m['max_seq_len']}) ready in {d}; "
      f"venv {venv}; onnxruntime {os.path.basename(m['onnxruntime_lib'])}", file=sys.stderr)
print(m["onnxruntime_lib"])
PY
