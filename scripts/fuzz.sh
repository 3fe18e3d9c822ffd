#!/usr/bin/env bash
# Fuzzes Wayline's parsers with libFuzzer (cargo-fuzz): the Segment body parser, the step
# grammar, rule and journey documents, the analytics query strings and SSE Last-Event-ID.
#   scripts/fuzz.sh                 # every target for 60 s (the test command runs this)
#   scripts/fuzz.sh 600             # every target for 10 minutes
#   scripts/fuzz.sh 600 steps rule  # some targets
#   FUZZ_PARALLEL=1 scripts/fuzz.sh 600  # every target at once
# Seeds are committed in server/fuzz/corpus/<target>/; what a run learns is kept outside the
# clone (under $WAYLINE_CACHE/fuzz-corpus) and reused by the next run. A finding stops the
# script with the input that caused it and the command that replays it; each finding becomes
# a regression test. Prints each target's executions, executions per second and coverage, and
# writes them as JSON to target/bench/fuzz.json.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$WAYLINE_ROOT/server/fuzz"

seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(segment steps rule journey analytics_query last_event_id)

if ! cargo fuzz --version >/dev/null 2>&1; then
  log "installing cargo-fuzz (about a minute, once)"
  CARGO_TARGET_DIR="$WAYLINE_CACHE/target-tools" cargo install cargo-fuzz --version 0.13.2 --locked --root "$TOOLS_DIR" >&2
fi

# cargo-fuzz passes nightly flags; the stable toolchain takes them with RUSTC_BOOTSTRAP, as
# the wasm build does. No sanitizer: the code under test is safe Rust, and coverage-guided
# inputs find its panics (the findings that matter here) at several times the speed.
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="$WAYLINE_CACHE/target-fuzz"
# The prebuilt libduckdb the server links, found at run time.
export LD_LIBRARY_PATH="$DUCKDB_LIB_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fuzz_flags=(--sanitizer none --release --debug-assertions)

log "building the fuzz targets"
cargo fuzz build "${fuzz_flags[@]}" >&2

report_dir="$WAYLINE_ROOT/target/bench"
mkdir -p "$report_dir"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# One target: libFuzzer's output into $work/<target>.out, its exit status into .status.
run_target() {
  local target="$1"
  local learned="$WAYLINE_CACHE/fuzz-corpus/$target"
  local artifacts="$WAYLINE_ROOT/target/fuzz-findings/$target/"
  mkdir -p "$learned" "$artifacts"
  set +e
  cargo fuzz run "${fuzz_flags[@]}" "$target" "$learned" "corpus/$target" -- \
    -max_total_time="$seconds" -dict="dictionaries/$target.dict" -artifact_prefix="$artifacts" \
    -max_len=16384 -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 >"$work/$target.out" 2>&1
  echo $? > "$work/$target.status"
  set -e
}

# FUZZ_PARALLEL=1 runs the targets side by side (each then gets a share of the cores).
if [ "${FUZZ_PARALLEL:-}" = 1 ]; then
  log "fuzzing ${targets[*]} side by side for $seconds s"
  for target in "${targets[@]}"; do run_target "$target" & done
  wait
else
  for target in "${targets[@]}"; do
    log "fuzzing $target for $seconds s"
    run_target "$target"
  done
fi

results="$work/results.jsonl"
for target in "${targets[@]}"; do
  output="$work/$target.out"
  artifacts="$WAYLINE_ROOT/target/fuzz-findings/$target/"
  if [ "$(cat "$work/$target.status")" != 0 ]; then
    tail -n 60 "$output" >&2
    finding="$(ls -t "$artifacts" 2>/dev/null | head -n 1)"
    die "fuzz target $target found a problem (input: $artifacts$finding); replay it with: (cd server/fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none --release --debug-assertions $target $artifacts$finding), then add it as a regression test"
  fi
  # libFuzzer's final statistics: executions, their rate, and the coverage reached.
  runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$output" | grep -o '[0-9]*$' | tail -n 1)"
  rate="$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$output" | grep -o '[0-9]*$' | tail -n 1)"
  coverage="$(grep -o 'cov: [0-9]*' "$output" | tail -n 1 | grep -o '[0-9]*')"
  features="$(grep -o 'ft: [0-9]*' "$output" | tail -n 1 | grep -o '[0-9]*')"
  corpus="$(ls "$WAYLINE_CACHE/fuzz-corpus/$target" | wc -l)"
  printf '%-16s %12s runs %9s exec/s  coverage %6s edges %7s features  corpus %6s  no findings\n' \
    "$target" "${runs:-0}" "${rate:-0}" "${coverage:-0}" "${features:-0}" "$corpus"
  printf '{"target":"%s","seconds":%s,"runs":%s,"exec_per_second":%s,"coverage_edges":%s,"features":%s,"corpus":%s,"findings":0}\n' \
    "$target" "$seconds" "${runs:-0}" "${rate:-0}" "${coverage:-0}" "${features:-0}" "$corpus" >> "$results"
done
python3 - "$results" "$report_dir/fuzz.json" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
json.dump({"targets": rows}, open(sys.argv[2], "w"), indent=2)
PY
log "fuzzing found nothing; figures in target/bench/fuzz.json"
