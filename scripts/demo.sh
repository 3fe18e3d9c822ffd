#!/usr/bin/env bash
# The one command to see Wayline live: sets up, builds, and runs the server with demo
# traffic on http://127.0.0.1:3000 (the DuckDB file is data/wayline.duckdb).
# Extra arguments go to `wayline serve`, e.g. --addr 0.0.0.0:3000 or --demo-rate 20.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
"$WAYLINE_ROOT/scripts/setup.sh"
"$WAYLINE_ROOT/scripts/build.sh"
cd "$WAYLINE_ROOT"
exec "$WAYLINE_BIN" serve --demo --site-root "$SITE_ROOT" "$@"
