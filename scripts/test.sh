#!/usr/bin/env bash
# The one command that runs every test: formatting and lints, Rust unit and HTTP tests (once today,
# once with the clock 400 days ahead), and the browser tests in Chromium against the real server.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$WAYLINE_ROOT"
"$WAYLINE_ROOT/scripts/setup.sh" --test
"$WAYLINE_ROOT/scripts/build.sh"

log "checking formatting and lints"
cargo fmt --all -- --check
cargo clippy --release --all-targets --workspace -- -D warnings

log "running the Rust tests"
cargo test --release --workspace

log "running the Rust tests again 400 days ahead (no answer may depend on the date)"
"$WAYLINE_ROOT/scripts/shifted-tests.sh" +400d

log "running the browser tests"
(cd end2end && WAYLINE_BIN="$WAYLINE_BIN" WAYLINE_SITE_ROOT="$SITE_ROOT" npm test)
log "all tests passed"
