#!/usr/bin/env bash
# Build the Stage-B precise-intel fixtures with real indexers (offline; run
# install.sh once first):
#
#   OUT_DIR/src-ts/          redux 5.0.1 (npm tarball: src/, package.json, LICENSE.md)
#                            + tsconfig.json written by this script (not upstream)
#   OUT_DIR/ts/index.scip    scip-typescript 0.4.0 over src-ts
#   OUT_DIR/ts/dump.lsif     lsif-tsc 0.5.6 (patched, TypeScript 4.1.3) over src-ts
#   OUT_DIR/src-py/          pluggy 1.5.0 (PyPI wheel: pluggy/*.py, LICENSE)
#   OUT_DIR/py/index.scip    scip-python 0.6.6 over src-py
#   OUT_DIR/expectations.json  ground truth extracted by expect.mjs
#
# Usage: scripts/precise/make-fixtures.sh OUT_DIR
#
# The indexers run in a fixed staging directory (default /tmp/lens-precise-fixtures,
# override with LENS_PRECISE_STAGE) and the results are then copied to OUT_DIR, so
# the absolute roots recorded in the outputs (SCIP Metadata.project_root, LSIF
# document URIs) do not depend on OUT_DIR and regenerated fixtures are
# byte-identical. Consumers must therefore resolve documents relative to the
# recorded root, never assume the root is where the files are now.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DIR="${LENS_PRECISE_DIR:-$HOME/.cache/lens/precise}"
STAGE="${LENS_PRECISE_STAGE:-/tmp/lens-precise-fixtures}"
# shellcheck source=versions.sh
source "$HERE/versions.sh"

die() { echo "make-fixtures.sh: $*" >&2; exit 1; }
[[ $# -eq 1 ]] || die "usage: $0 OUT_DIR"
mkdir -p "$1"
OUT="$(cd "$1" && pwd)"

for f in node_modules/.bin/scip-typescript node_modules/.bin/scip-python \
         node_modules/lsif-tsc/lib/main.js pyenv/bin/python \
         "sources/$TS_PKG_FILE" "sources/$PY_PKG_FILE"; do
  [[ -e "$DIR/$f" ]] || die "$DIR/$f missing: run scripts/precise/install.sh first"
done
grep -q 'getOutliningSpans(sourceFile.fileName)' "$DIR/node_modules/lsif-tsc/lib/lsif.js" ||
  die "lsif-tsc is not patched: run scripts/precise/install.sh"
for pair in "$TS_PKG_FILE:$TS_PKG_SHA256" "$PY_PKG_FILE:$PY_PKG_SHA256"; do
  [[ "$(sha256sum "$DIR/sources/${pair%%:*}" | cut -d' ' -f1)" == "${pair#*:}" ]] ||
    die "sources/${pair%%:*}: sha256 mismatch"
done

case "$STAGE" in /*) ;; *) die "LENS_PRECISE_STAGE must be absolute" ;; esac
[[ "$STAGE" != "$OUT" ]] || die "LENS_PRECISE_STAGE must differ from OUT_DIR"
rm -rf "$STAGE"
mkdir -p "$STAGE/src-ts" "$STAGE/src-py" "$STAGE/ts" "$STAGE/py"

# Deterministic, offline, quiet tools.
export NO_UPDATE_NOTIFIER=1 npm_config_update_notifier=false TZ=UTC LC_ALL=C.UTF-8

# ---------------------------------------------------------------- TypeScript
echo "==> src-ts: $TS_PKG_SPEC"
tar -xzf "$DIR/sources/$TS_PKG_FILE" -C "$STAGE/src-ts" --strip-components=1 \
  package/src package/package.json package/LICENSE.md
# redux does not publish its tsconfig.json; this one is valid for both
# TypeScript 5.9 (scip-typescript) and 4.1.3 (lsif-tsc). No @types/node on
# purpose: `process` (process.env.NODE_ENV) stays unresolved, a realistic
# reference without a definition.
cat >"$STAGE/src-ts/tsconfig.json" <<'JSON'
{
  "compilerOptions": {
    "target": "ES2020",
    "module": "ESNext",
    "moduleResolution": "node",
    "lib": ["ES2020", "DOM"],
    "strict": true,
    "noEmit": true,
    "skipLibCheck": true
  },
  "include": ["src"]
}
JSON

echo "==> scip-typescript -> ts/index.scip"
( cd "$STAGE/src-ts" &&
  nice -n 10 node "$DIR/node_modules/@sourcegraph/scip-typescript/dist/src/main.js" \
    index --no-progress-bar --output "$STAGE/ts/index.scip" tsconfig.json )

echo "==> lsif-tsc -> ts/dump.lsif"
# --noContents: do not embed base64 file contents (the lib.*.d.ts documents
# alone would add ~1.5 MB); documents are read from src-ts instead.
( cd "$STAGE/src-ts" &&
  nice -n 10 node "$DIR/node_modules/lsif-tsc/lib/main.js" \
    -p tsconfig.json --projectName redux --noContents --outputFormat line \
    --out "$STAGE/ts/dump.lsif" >"$STAGE/ts/lsif-tsc.log" 2>&1 ) ||
  { cat "$STAGE/ts/lsif-tsc.log" >&2; die "lsif-tsc failed"; }
tail -n 1 "$STAGE/ts/dump.lsif" | grep -q '"label":"\$event","scope":"group","kind":"end"' ||
  die "ts/dump.lsif does not end with the group end event (truncated dump?)"
rm -f "$STAGE/ts/lsif-tsc.log"

# -------------------------------------------------------------------- Python
echo "==> src-py: $PY_PKG_NAME $PY_PKG_VERSION"
"$DIR/pyenv/bin/python" - "$DIR/sources/$PY_PKG_FILE" "$STAGE/src-py" "$PY_PKG_NAME" <<'PY'
import sys, zipfile, pathlib
whl, dest, pkg = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3]
with zipfile.ZipFile(whl) as z:
    for name in sorted(z.namelist()):
        if name.startswith(pkg + "/"):
            out = dest / name
        elif name.endswith(".dist-info/LICENSE"):
            out = dest / "LICENSE"
        else:
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(z.read(name))
PY

echo "==> scip-python -> py/index.scip"
# PATH: scip-python shells out to python/pip to learn the environment; use the
# empty venv so host site-packages do not leak into the index.
( cd "$STAGE/src-py" &&
  PATH="$DIR/pyenv/bin:$PATH" nice -n 10 node "$DIR/node_modules/@sourcegraph/scip-python/index.js" \
    index --quiet --project-name "$PY_PKG_NAME" --project-version "$PY_PKG_VERSION" \
    --output "$STAGE/py/index.scip" )

# -------------------------------------------------------------- expectations
echo "==> expectations.json"
LENS_PRECISE_DIR="$DIR" node "$HERE/expect.mjs" "$STAGE" >"$STAGE/expectations.json"

# ------------------------------------------------------------------- publish
for d in src-ts src-py ts py; do
  rm -rf "${OUT:?}/$d"
  cp -R "$STAGE/$d" "$OUT/$d"
done
cp "$STAGE/expectations.json" "$OUT/expectations.json"

echo "==> wrote $OUT"
( cd "$OUT" && du -ab ts/index.scip ts/dump.lsif py/index.scip expectations.json src-ts src-py | sort -k2 |
  awk '$2 ~ /(index.scip|dump.lsif|expectations.json)$/ || $2 == "src-ts" || $2 == "src-py"' )
echo "    total: $(cd "$OUT" && du -cb ts py src-ts src-py expectations.json | tail -n 1 | cut -f1) bytes"
