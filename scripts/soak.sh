#!/usr/bin/env bash
# Soak (not in the test command): the server under the demo's journeys at 10,000 events/s for
# 30 minutes, with 100 SSE clients on each stream and 20 rules on; memory, queue, lags, commit
# and event → SSE latency sampled every 10 s. Writes target/bench/soak.csv, soak.svg (memory
# and latency over time) and soak.json; fails if the server logged an error.
#   scripts/soak.sh                                  # the full run
#   scripts/soak.sh --minutes 5 --rate 2000 --clients 20
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$WAYLINE_ROOT"
cargo bench -p server --bench soak -- "$@"
