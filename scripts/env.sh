# Shared settings for the scripts; source it, do not run it.
# Everything built or downloaded lives outside the clone, under $WAYLINE_CACHE, and is reused.
WAYLINE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WAYLINE_CACHE="${WAYLINE_CACHE:-$HOME/.cache/wayline}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$WAYLINE_CACHE/target}"
WASM_TARGET_DIR="$WAYLINE_CACHE/target-wasm"
DUCKDB_VERSION="1.5.5"
DUCKDB_NPM_PACKAGE="@duckdb/node-bindings-linux-x64@1.5.5-r.5"
export DUCKDB_LIB_DIR="$WAYLINE_CACHE/duckdb"
TOOLS_DIR="$WAYLINE_CACHE/tools"
BINARYEN_VERSION="132.0.0"
BINARYEN_DIR="$WAYLINE_CACHE/binaryen-$BINARYEN_VERSION"
export PATH="$TOOLS_DIR/bin:$PATH"
SITE_ROOT="$WAYLINE_ROOT/target/site"
WAYLINE_BIN="$CARGO_TARGET_DIR/release/wayline"

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

# Runs a command as root (directly, or through sudo when available).
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root to run: $* (install it by hand, or run as root)"
  fi
}

APT_UPDATED=""
apt_install() {
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install these packages by hand: $*"
  if [ -z "$APT_UPDATED" ]; then
    as_root apt-get update -q >&2
    APT_UPDATED=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >&2
}
