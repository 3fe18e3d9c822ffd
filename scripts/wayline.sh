#!/usr/bin/env bash
# Runs the built `wayline` binary (scripts/build.sh builds it), e.g.
#   scripts/wayline.sh source add "Web shop"
#   scripts/wayline.sh import events.ndjson.gz --write-key wl_…
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
[ -x "$WAYLINE_BIN" ] || die "wayline is not built yet; run scripts/build.sh (or scripts/demo.sh) first"
cd "$WAYLINE_ROOT"
exec "$WAYLINE_BIN" "$@"
