#!/usr/bin/env bash
# Runs every test lens has. Installs what the tests need (ripgrep, chromium,
# chromium-driver, prometheus) when missing and we are root.
set -euo pipefail
cd "$(dirname "$0")/.."

# ripgrep: the differential test against rg. chromium + chromium-driver: the web
# page test. prometheus: promtool, which checks dashboards/ alert rules.
# universal-ctags: the Stage-B agreement test.
missing=()
command -v rg >/dev/null 2>&1 || missing+=(ripgrep)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
[ -x /usr/bin/promtool ] || missing+=(prometheus)
command -v ctags >/dev/null 2>&1 || missing+=(universal-ctags)
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

cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace
