#!/usr/bin/env bash
# Install the precise-intel producers used to build lens Stage-B fixtures:
#   * @sourcegraph/scip-typescript  (SCIP, TypeScript)
#   * @sourcegraph/scip-python      (SCIP, Python)
#   * lsif-tsc 0.5.6 (microsoft/lsif-node) + lsif-tsc-0.5.6.patch (LSIF, TypeScript)
# plus a package-free Python venv that scip-python runs against (so the host's
# site-packages cannot leak into the index), and the two fixture source
# packages pinned in versions.sh (npm tarball + PyPI wheel, sha256-checked).
#
# Everything goes into ${LENS_PRECISE_DIR:-$HOME/.cache/lens/precise}. Network is
# needed only here (npm registry + PyPI); make-fixtures.sh runs offline afterwards.
# Versions are pinned by package.json + package-lock.json in this directory
# (installed with `npm ci`). Idempotent: a stamp over the pinned inputs skips
# re-installation when nothing changed; pass --force to reinstall.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DIR="${LENS_PRECISE_DIR:-$HOME/.cache/lens/precise}"
FORCE=0
[[ "${1:-}" == "--force" ]] && FORCE=1

die() { echo "install.sh: $*" >&2; exit 1; }
for tool in node npm python3 patch sha256sum; do
  command -v "$tool" >/dev/null 2>&1 || die "required tool '$tool' not found in PATH"
done
node_major="$(node -p 'process.versions.node.split(".")[0]')"
(( node_major >= 18 )) || die "node >= 18 required (found $(node --version))"

PATCH="$HERE/lsif-tsc-0.5.6.patch"
# shellcheck source=versions.sh
source "$HERE/versions.sh"
stamp_of() {
  cat "$HERE/package.json" "$HERE/package-lock.json" "$PATCH" "$HERE/versions.sh" | sha256sum | cut -d' ' -f1
}
sha_ok() { [[ -f "$1" ]] && [[ "$(sha256sum "$1" | cut -d' ' -f1)" == "$2" ]]; }
STAMP="$(stamp_of)"
STAMP_FILE="$DIR/.install-stamp"

check_installed() {
  [[ -x "$DIR/node_modules/.bin/scip-typescript" ]] &&
  [[ -x "$DIR/node_modules/.bin/scip-python" ]] &&
  [[ -f "$DIR/node_modules/lsif-tsc/lib/main.js" ]] &&
  [[ -x "$DIR/pyenv/bin/python" ]] &&
  sha_ok "$DIR/sources/$TS_PKG_FILE" "$TS_PKG_SHA256" &&
  sha_ok "$DIR/sources/$PY_PKG_FILE" "$PY_PKG_SHA256" &&
  grep -q 'getOutliningSpans(sourceFile.fileName)' "$DIR/node_modules/lsif-tsc/lib/lsif.js"
}

if (( ! FORCE )) && [[ -f "$STAMP_FILE" && "$(cat "$STAMP_FILE")" == "$STAMP" ]] && check_installed; then
  echo "precise producers already installed in $DIR"
  exit 0
fi

mkdir -p "$DIR"
cp "$HERE/package.json" "$HERE/package-lock.json" "$DIR/"
rm -f "$STAMP_FILE"

echo "==> npm ci into $DIR"
# No package in the lock has install scripts; --ignore-scripts keeps it that way.
( cd "$DIR" && nice -n 10 npm ci --no-audit --no-fund --ignore-scripts --loglevel=error )

# The override in package.json must have replaced lsif-tsc's fork URL.
lsif_ts_version="$(node -p "require('$DIR/node_modules/lsif-tsc/node_modules/typescript/package.json').version")"
[[ "$lsif_ts_version" == "4.1.3" ]] || die "lsif-tsc got typescript $lsif_ts_version, expected 4.1.3 (override not applied?)"

echo "==> patching lsif-tsc ($(basename "$PATCH"))"
LSIF_PKG="$DIR/node_modules/lsif-tsc"
if patch -p1 -R --dry-run --silent -d "$LSIF_PKG" <"$PATCH" >/dev/null 2>&1; then
  echo "    already applied"
else
  patch -p1 --forward --silent -d "$LSIF_PKG" <"$PATCH" || die "lsif-tsc patch did not apply"
fi

echo "==> python venv for scip-python ($DIR/pyenv)"
if [[ ! -x "$DIR/pyenv/bin/python" ]]; then
  python3 -m venv "$DIR/pyenv"
fi

echo "==> fixture sources ($DIR/sources)"
mkdir -p "$DIR/sources"
if ! sha_ok "$DIR/sources/$TS_PKG_FILE" "$TS_PKG_SHA256"; then
  ( cd "$DIR/sources" && npm pack "$TS_PKG_SPEC" --loglevel=error >/dev/null )
  sha_ok "$DIR/sources/$TS_PKG_FILE" "$TS_PKG_SHA256" || die "$TS_PKG_FILE: sha256 mismatch"
fi
if ! sha_ok "$DIR/sources/$PY_PKG_FILE" "$PY_PKG_SHA256"; then
  "$DIR/pyenv/bin/python" -m pip download --quiet --no-deps --only-binary=:all: \
    --dest "$DIR/sources" "$PY_PKG_NAME==$PY_PKG_VERSION"
  sha_ok "$DIR/sources/$PY_PKG_FILE" "$PY_PKG_SHA256" || die "$PY_PKG_FILE: sha256 mismatch"
fi

check_installed || die "post-install check failed"
echo "$STAMP" >"$STAMP_FILE"

echo "==> installed:"
echo "    scip-typescript $("$DIR/node_modules/.bin/scip-typescript" --version 2>/dev/null || echo '?')" \
     "(typescript $(node -p "require('$DIR/node_modules/typescript/package.json').version"))"
echo "    scip-python     $(node -p "require('$DIR/node_modules/@sourcegraph/scip-python/package.json').version")"
echo "    lsif-tsc        $(node -p "require('$LSIF_PKG/package.json').version") (typescript $lsif_ts_version, patched)"
echo "    python (venv)   $("$DIR/pyenv/bin/python" --version 2>&1)"
