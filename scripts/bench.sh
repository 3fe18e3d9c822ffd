#!/usr/bin/env bash
# Runs every benchmark the project has and writes one report: target/bench/report.json and
# target/bench/report.md (with the machine and the date), then puts the table into the
# README's "Performance" section, so the README always shows the last measured figures.
#   scripts/bench.sh            # full runs: 10M events for the analytics (about 25 minutes)
#   scripts/bench.sh --quick    # smaller runs (about 6 minutes)
#   scripts/bench.sh --report   # only rebuild the report and the README from the JSON files
# The figures: ingest (HTTP batches, single events, import), live (event → SSE, rule → alert,
# engine throughput, memory per SSE client), analytics (funnel, breakdown, paths, active
# sessions, timeline, restart, journey map), the browser client's size, the build's time,
# and, when their JSON files are there, the last crash loop, fuzz and soak runs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$WAYLINE_ROOT"
mode="${1:-}"
quick=()
[ "$mode" = "--quick" ] && quick=(-- --quick)
mkdir -p target/bench

if [ "$mode" != "--report" ]; then
  "$WAYLINE_ROOT/scripts/setup.sh"
  # The build's time is written by build.sh itself (target/bench/build.json).
  "$WAYLINE_ROOT/scripts/build.sh"
  for bench in ingest live analytics; do
    log "benchmark: $bench"
    cargo bench -p server --bench "$bench" "${quick[@]}"
  done
fi
python3 "$WAYLINE_ROOT/scripts/bench_report.py" "$WAYLINE_ROOT"
