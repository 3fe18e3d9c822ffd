#!/usr/bin/env bash
# Installs, once and idempotently, what building Wayline needs on a fresh machine:
# the prebuilt DuckDB library, a wasm32 toolchain, wasm-bindgen matching Cargo.lock,
# and with --test also Chromium, faketime and the browser-test packages.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

with_tests=""
[ "${1:-}" = "--test" ] && with_tests=1

command -v cargo >/dev/null 2>&1 || die "cargo not found; install Rust from https://rustup.rs"
command -v npm >/dev/null 2>&1 || die "npm not found; install Node.js 20 or newer"

# 1. DuckDB: the official release library from DuckDB's npm package (seconds, instead of a
#    47-minute build from source; `--features bundled` still builds it in for releases).
if [ "$(cat "$DUCKDB_LIB_DIR/VERSION" 2>/dev/null)" != "$DUCKDB_VERSION" ]; then
  log "fetching libduckdb $DUCKDB_VERSION"
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "$DUCKDB_NPM_PACKAGE" >/dev/null && tar xzf ./*.tgz)
  mkdir -p "$DUCKDB_LIB_DIR"
  cp "$tmp/package/libduckdb.so" "$DUCKDB_LIB_DIR/"
  echo "$DUCKDB_VERSION" > "$DUCKDB_LIB_DIR/VERSION"
  rm -rf "$tmp"
fi

# 2. A wasm32 toolchain: rustup's target if it can be had, else Debian's rustc-web with the
#    standard library built from source (-Zbuild-std).
route_file="$WAYLINE_CACHE/wasm-route"
mkdir -p "$WAYLINE_CACHE"
# WAYLINE_WASM_ROUTE=build-std forces the offline route even where rustup could work.
if [ "${WAYLINE_WASM_ROUTE:-}" != build-std ] && rustup target list --installed 2>/dev/null | grep -q '^wasm32-unknown-unknown$'; then
  echo rustup > "$route_file"
elif [ "${WAYLINE_WASM_ROUTE:-}" != build-std ] && timeout 120 rustup target add wasm32-unknown-unknown >/dev/null 2>&1; then
  echo rustup > "$route_file"
else
  if [ ! -x /usr/bin/rustc ] || [ ! -d /usr/lib/rustlib/src/rust/library ]; then
    log "installing Debian's rustc-web and rust-web-src (wasm32 standard library from source)"
    apt_install rustc-web rust-web-src
  fi
  echo build-std > "$route_file"
fi

# 3. wasm-bindgen, exactly the version of the crate in Cargo.lock.
bindgen_version="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$WAYLINE_ROOT/Cargo.lock")"
[ -n "$bindgen_version" ] || die "could not read the wasm-bindgen version from Cargo.lock"
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$bindgen_version" ]; then
  log "installing wasm-bindgen-cli $bindgen_version (about 2 minutes, once)"
  # Not --locked: one locked dependency is missing from some registry mirrors.
  CARGO_TARGET_DIR="$WAYLINE_CACHE/target-tools" \
    cargo install wasm-bindgen-cli --version "$bindgen_version" --root "$TOOLS_DIR" >&2
fi

# 4. wasm-opt (binaryen's npm package runs on Node) to shrink the client.
if [ ! -x "$BINARYEN_DIR/node_modules/.bin/wasm-opt" ]; then
  log "installing binaryen's wasm-opt $BINARYEN_VERSION"
  mkdir -p "$BINARYEN_DIR"
  npm install --silent --no-audit --no-fund --prefix "$BINARYEN_DIR" "binaryen@$BINARYEN_VERSION" >&2
fi

# 5. For the browser tests: Chromium and playwright-core.
if [ -n "$with_tests" ]; then
  if [ ! -x /usr/bin/chromium ]; then
    log "installing Debian's chromium for the browser tests"
    apt_install chromium
  fi
  # libfaketime runs the Rust tests a second time 400 days ahead (scripts/test.sh).
  if ! command -v faketime >/dev/null 2>&1; then
    log "installing Debian's faketime for the shifted-clock test run"
    apt_install faketime
  fi
  if [ ! -d "$WAYLINE_ROOT/end2end/node_modules/playwright-core" ]; then
    log "installing the browser-test packages"
    (cd "$WAYLINE_ROOT/end2end" && npm ci --no-audit --no-fund >&2)
  fi
fi
log "toolchain ready ($(cat "$route_file") wasm route)"
