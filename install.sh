#!/usr/bin/env bash
# install.sh — set up weavets on this machine (Debian/Ubuntu, as root). Idempotent.
#
#   ./install.sh [--prefix DIR] [--cni-bin-dir DIR] [--no-cni]
#
# 1. Installs Deno 2.9.x when none is found (from the npm registry when npm is available,
#    otherwise Deno's documented installer).
# 2. Caches every dependency from deno.lock.
# 3. Produces DIR/bin/weavets: a `deno compile`d binary when a runtime is available (DENORT_BIN
#    or a working download), otherwise an equivalent launcher that runs the same entry point with
#    the same permissions from a private, pre-populated cache with --cached-only. It says which.
# 4. Installs the CNI plugin as CNI_BIN_DIR/weavets (runtimes exec it by its type name).
set -euo pipefail

DENO_VERSION=2.9.6
PREFIX=/usr/local
CNI_BIN_DIR=/opt/cni/bin
WITH_CNI=1

die() { echo "install.sh: $*" >&2; exit 1; }
say() { echo "install.sh: $*"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; PREFIX=$2; shift 2 ;;
    --prefix=*) PREFIX=${1#*=}; shift ;;
    --cni-bin-dir) [ $# -ge 2 ] || die "--cni-bin-dir needs a directory"; CNI_BIN_DIR=$2; shift 2 ;;
    --cni-bin-dir=*) CNI_BIN_DIR=${1#*=}; shift ;;
    --no-cni) WITH_CNI=0; shift ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$PREFIX"
PREFIX=$(cd "$PREFIX" && pwd)
LIB=$PREFIX/lib/weavets

# --- 1. Deno -----------------------------------------------------------------------------
find_deno() {
  local d
  for d in "${DENO:-}" "$(command -v deno 2>/dev/null || true)" "$LIB/deno" "$SRC/node_modules/.bin/deno"; do
    if [ -n "$d" ] && [ -x "$d" ] && "$d" --version 2>/dev/null | grep -q '^deno 2\.'; then
      # npm's .bin/deno is a node wrapper: ask Deno for the real executable.
      "$d" eval --quiet 'console.log(Deno.execPath())' 2>/dev/null && return 0
    fi
  done
  return 1
}

DENO_BIN=$(find_deno || true)
if [ -z "$DENO_BIN" ]; then
  mkdir -p "$LIB"
  if command -v npm >/dev/null 2>&1; then
    say "Deno not found: installing deno@$DENO_VERSION from the npm registry"
    tmp=$(mktemp -d)
    npm install --silent --no-audit --no-fund --prefix "$tmp" "deno@$DENO_VERSION" >&2
    bin=$(find "$tmp/node_modules" -type f -name deno -perm -u+x | head -n1)
    [ -n "$bin" ] || die "npm installed deno but no binary was found in $tmp"
    install -m 0755 "$bin" "$LIB/deno.new" && mv -f "$LIB/deno.new" "$LIB/deno"
    rm -rf "$tmp"
  elif command -v curl >/dev/null 2>&1; then
    say "Deno not found: installing v$DENO_VERSION with Deno's official installer"
    curl -fsSL https://deno.land/install.sh | DENO_INSTALL="$LIB/deno-install" sh -s "v$DENO_VERSION" >&2
    mv -f "$LIB/deno-install/bin/deno" "$LIB/deno"
  else
    die "Deno $DENO_VERSION is needed: install npm (apt-get install npm) or curl, or set DENO=/path/to/deno"
  fi
  DENO_BIN=$LIB/deno
fi
say "using $("$DENO_BIN" --version | head -n1) at $DENO_BIN"

# --- 2. Sources and dependency cache -------------------------------------------------------
mkdir -p "$LIB" "$PREFIX/bin"
# A private copy of the runtime, so the launcher never depends on PATH.
if [ "$DENO_BIN" != "$LIB/deno" ]; then
  install -m 0755 "$DENO_BIN" "$LIB/deno.new" && mv -f "$LIB/deno.new" "$LIB/deno"
fi
rm -rf "$LIB/src.new"
mkdir -p "$LIB/src.new"
parts=()
for p in mod.ts version.ts deno.json deno.lock cli cni net deploy/cni; do
  [ -e "$SRC/$p" ] && parts+=("$p")
done
(cd "$SRC" && tar -cf - --exclude='*_test.ts' --exclude='testing' "${parts[@]}") | tar -xf - -C "$LIB/src.new"
rm -rf "$LIB/src" && mv "$LIB/src.new" "$LIB/src"

export DENO_DIR=$LIB/deno-dir DENO_NO_UPDATE_CHECK=1
say "caching dependencies into $DENO_DIR"
(cd "$LIB/src" && "$LIB/deno" install --frozen --entrypoint mod.ts >&2) ||
  die "could not cache dependencies (is the npm registry reachable?)"

# --- 3. The weavets executable ------------------------------------------------------------
OUT=$PREFIX/bin/weavets
compiled=0
if [ -n "${DENORT_BIN:-}" ] && [ ! -x "$DENORT_BIN" ]; then
  die "DENORT_BIN=$DENORT_BIN is not an executable file"
fi
say "trying deno compile${DENORT_BIN:+ with DENORT_BIN=$DENORT_BIN}"
if (cd "$LIB/src" && timeout 120 "$LIB/deno" compile --allow-all --no-prompt --frozen \
  --include net/dataplane/sleeve/rx_worker.ts --include net/dataplane/sleeve/tx_worker.ts \
  --include cli/demo/tcp_worker.ts \
  --output "$OUT.new" mod.ts >"$LIB/compile.log" 2>&1) &&
  "$OUT.new" version >/dev/null 2>&1; then
  mv -f "$OUT.new" "$OUT"
  compiled=1
  say "produced a compiled binary: $OUT"
else
  rm -f "$OUT.new"
  cat >"$OUT.new" <<LAUNCHER
#!/bin/sh
# weavets launcher, written by install.sh because \`deno compile\` could not get its runtime
# (denort; see $LIB/compile.log). Same entry point and permissions as the compiled binary;
# runs only from the pre-populated cache and never reaches the network.
DENO_DIR='$LIB/deno-dir' DENO_NO_UPDATE_CHECK=1 DENO_NO_PROMPT=1 NO_COLOR=1 \\
  exec '$LIB/deno' run --allow-all --no-prompt --cached-only --frozen \\
  --config '$LIB/src/deno.json' '$LIB/src/mod.ts' "\$@"
LAUNCHER
  chmod 0755 "$OUT.new" && mv -f "$OUT.new" "$OUT"
  say "deno compile is not possible here (no denort runtime; set DENORT_BIN to use one):"
  say "produced an equivalent launcher instead: $OUT"
fi
env -i PATH=/usr/bin:/bin "$OUT" version >/dev/null || die "$OUT does not run in a stripped environment"

# --- 4. CNI plugin -----------------------------------------------------------------------
if [ "$WITH_CNI" = 1 ]; then
  mkdir -p "$CNI_BIN_DIR"
  cp -f "$OUT" "$CNI_BIN_DIR/weavets.new" && mv -f "$CNI_BIN_DIR/weavets.new" "$CNI_BIN_DIR/weavets"
  say "installed the CNI plugin: $CNI_BIN_DIR/weavets"
fi
if [ "$compiled" = 1 ]; then kind=compiled; else kind=launcher; fi
say "done ($kind): $("$OUT" version)"
