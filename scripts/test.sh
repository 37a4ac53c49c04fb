#!/usr/bin/env bash
# Runs every test lens has. Installs what the tests need (ripgrep, for the
# differential test against rg) when it is missing and we are root.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v rg >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ripgrep >/dev/null
    else
        echo "scripts/test.sh: the tests need ripgrep (rg); install it (Debian: apt-get install ripgrep)" >&2
        exit 1
    fi
fi

# Builds outside the clone are reused by later runs on the same machine.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/lens/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace
