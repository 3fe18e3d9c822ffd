#!/usr/bin/env bash
# Builds the hydrating client (wasm) into target/site and the `wayline` server binary.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$WAYLINE_ROOT"

route="$(cat "$WAYLINE_CACHE/wasm-route" 2>/dev/null || true)"
[ -n "$route" ] || die "run scripts/setup.sh first"

started=$SECONDS
log "building the client (wasm32, $route route)"
if [ "$route" = rustup ]; then
  CARGO_TARGET_DIR="$WASM_TARGET_DIR" cargo build -p app --lib --target wasm32-unknown-unknown \
    --no-default-features --features hydrate --profile wasm-release
else
  # Debian's newer compiler builds the wasm32 standard library from source. rustup's
  # rust-lld links it.
  rust_lld="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | awk '/^host:/ {print $2}')/bin/rust-lld"
  RUSTC_BOOTSTRAP=1 RUSTC=/usr/bin/rustc CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER="$rust_lld" \
    CARGO_TARGET_DIR="$WASM_TARGET_DIR" /usr/bin/cargo build -p app --lib --target wasm32-unknown-unknown \
    --no-default-features --features hydrate --profile wasm-release -Zbuild-std=std,panic_abort
fi

log "generating the JS bindings into target/site/pkg"
mkdir -p "$SITE_ROOT/pkg"
wasm-bindgen --target web --no-typescript --out-dir "$SITE_ROOT/pkg" --out-name app \
  "$WASM_TARGET_DIR/wasm32-unknown-unknown/wasm-release/app.wasm"
log "optimising the wasm for size"
"$BINARYEN_DIR/node_modules/.bin/wasm-opt" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
  --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
  -o "$SITE_ROOT/pkg/app_bg.wasm" "$SITE_ROOT/pkg/app_bg.wasm"
cp style/main.css "$SITE_ROOT/pkg/app.css"
cp -r public/. "$SITE_ROOT/"

client_seconds=$((SECONDS - started))
log "building the server"
cargo build --release -p server --bin wayline
server_seconds=$((SECONDS - started - client_seconds))
# The build's time for the benchmark report (scripts/bench.sh): what this run took, warm or cold.
mkdir -p target/bench
printf '{"client_seconds": %s, "server_seconds": %s, "finished_at": "%s"}\n' \
  "$client_seconds" "$server_seconds" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > target/bench/build.json
log "built $WAYLINE_BIN and $SITE_ROOT in $((SECONDS - started)) s"
