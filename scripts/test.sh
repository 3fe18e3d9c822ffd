#!/usr/bin/env bash
# The one command that runs every test: formatting and lints, Rust unit, HTTP and fault tests
# (the crash loop, a full disk; once today, once with the clock 400 days ahead), a 60-second
# fuzzing run of each parser, and the browser tests in Chromium against the real server.
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

log "fuzzing each parser for 60 s"
FUZZ_PARALLEL=1 "$WAYLINE_ROOT/scripts/fuzz.sh" 60

log "running the browser tests"
(cd end2end && WAYLINE_BIN="$WAYLINE_BIN" WAYLINE_SITE_ROOT="$SITE_ROOT" npm test)
log "all tests passed"
