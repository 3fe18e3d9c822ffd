#!/usr/bin/env bash
# The crash loop (server/tests/crash_loop.rs): the real server on a DuckDB file, killed with
# SIGKILL at random moments under concurrent senders and SSE listeners, started again, over
# and over; then every promise is checked with SQL on the file (see the test's header).
#   scripts/crash.sh           # quick mode, 20 kills (also part of the test command)
#   scripts/crash.sh --long    # 200 kills
#   scripts/crash.sh 500       # any number of kills
# Prints the figures and writes them to target/bench/crash.json.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$WAYLINE_ROOT"
case "${1:-}" in
  "") kills=20 ;;
  --long) kills=200 ;;
  *[!0-9]*) die "usage: scripts/crash.sh [--long | number of kills]" ;;
  *) kills="$1" ;;
esac
log "crash loop: $kills kills"
WAYLINE_CRASH_KILLS="$kills" WAYLINE_CRASH_OUT="$WAYLINE_ROOT/target/bench/crash.json" \
  cargo test --release -p server --test crash_loop -- --nocapture
