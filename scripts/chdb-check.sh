#!/usr/bin/env bash
# Funnel counts against ClickHouse's windowFunnel, run in-process through chdb (PyPI), on the
# same generated events (ties, repeats, window edges). Not part of the test command.
#   scripts/chdb-check.sh                  # 1M events
#   scripts/chdb-check.sh --events 100000
# Writes target/bench/chdb_check.json; exits 1 if any step's count differs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$WAYLINE_ROOT"
VENV="$WAYLINE_CACHE/chdb-venv"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import chdb' 2>/dev/null; then
  log "installing chdb into $VENV (once)"
  python3 -m venv "$VENV" || die "python3 -m venv failed; install Debian's python3-venv"
  "$VENV/bin/pip" install --quiet chdb
fi
[ -x "$WAYLINE_BIN" ] || die "no server binary at $WAYLINE_BIN; run scripts/build.sh first"
exec "$VENV/bin/python" scripts/chdb_check.py --wayline "$WAYLINE_BIN" "$@"
