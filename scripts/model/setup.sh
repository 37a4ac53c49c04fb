#!/usr/bin/env bash
# Python side of lens' semantic stage: a venv with onnxruntime 1.32 and the all-MiniLM-L6-v2 ONNX
# export (model.onnx, model.int8.onnx, vocab.txt, tokenizer.json, MODEL.json).
# Idempotent: the venv is reinstalled only when the requirement files change, the model only when
# MODEL.json's checksums no longer match, so reruns need no network. Last line printed: the path of
# libonnxruntime.so (also MODEL.json's "onnxruntime_lib").
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${LENS_MODEL_VENV:-$HOME/.cache/lens/venv}"
model_dir="${LENS_MODEL_DIR:-$HOME/.cache/lens/models/all-minilm-l6-v2}"
py="$venv/bin/python"
stamp="$venv/.lens-requirements.sha256"
want="$(cat "$here/requirements.txt" "$here/requirements-nodeps.txt" | sha256sum | cut -d' ' -f1)"

if [[ -x "$py" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "venv: up to date in $venv"
else
  [[ -x "$py" ]] || "${PYTHON:-python3}" -m venv "$venv"
  pip=("$py" -m pip install -q --disable-pip-version-check)
  "${pip[@]}" -r "$here/requirements.txt"
  "${pip[@]}" --no-deps -r "$here/requirements-nodeps.txt"
  echo "$want" >"$stamp"
  echo "venv: installed in $venv"
fi

"$py" "$here/export_minilm.py" --out "$model_dir"
"$py" -c 'import json, sys; print(json.load(open(sys.argv[1]))["onnxruntime_lib"])' "$model_dir/MODEL.json"
