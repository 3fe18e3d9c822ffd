#!/usr/bin/env bash
# Runs every Rust test binary again with the clock moved ahead (default 400 days), so that a
# test whose answer depends on the day it runs fails the day it is written, not weeks later.
# The binaries run directly under libfaketime: cargo itself hangs under it.
#   scripts/shifted-tests.sh [+400d]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$WAYLINE_ROOT"
offset="${1:-+400d}"
command -v faketime >/dev/null 2>&1 || die "faketime not found; run scripts/setup.sh --test (Debian package faketime)"

# Each test binary with the package directory cargo would run it in.
list="$(mktemp)"
trap 'rm -f "$list"' EXIT
cargo test --release --workspace --no-run --message-format=json | python3 -c '
import json, os, sys
for line in sys.stdin:
    try:
        message = json.loads(line)
    except ValueError:
        continue
    if message.get("reason") == "compiler-artifact" and message.get("profile", {}).get("test") and message.get("executable"):
        print(os.path.dirname(message["manifest_path"]) + "\t" + message["executable"])
' > "$list"
[ -s "$list" ] || die "cargo listed no test binaries"

failed=""
while IFS=$'\t' read -r dir binary; do
  log "faketime $offset: $(basename "$binary")"
  if ! (cd "$dir" && faketime -f "$offset" "$binary" -q); then
    failed="$failed $(basename "$binary")"
  fi
done < "$list"
[ -z "$failed" ] || die "tests failed with the clock at $offset:$failed"
log "every test passed with the clock at $offset"
