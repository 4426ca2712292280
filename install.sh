#!/usr/bin/env bash
# install.sh — set up weavets on this machine (Debian/Ubuntu, as root). Idempotent.
#
#   ./install.sh [--prefix DIR] [--cni-bin-dir DIR] [--no-cni] [--no-packages]
#
# 1. Installs the system packages weavets uses at run time, with apt-get: nftables (the daemon
#    runs `nft` and loads libnftables), iptables (the daemon runs iptables-legacy where legacy
#    tables are in use, to let pod traffic past their FORWARD policy), OpenSSL's libcrypto (the
#    encrypted path; optional), and npm when Deno must be installed. --no-packages installs and checks none of them (for
#    image builds: the run-time packages belong in the image that runs weavets).
# 2. Installs Deno 2.9.x when none is found: deno@2.9.6 from the npm registry.
# 3. Caches every dependency from deno.lock.
# 4. Produces DIR/bin/weavets: a `deno compile`d binary when a runtime is available (DENORT_BIN
#    or a working download), otherwise an equivalent launcher that runs the same entry point with
#    the same permissions from a private, pre-populated cache with --cached-only, and runs the
#    CNI plugin's path from one bundled file (lib/weavets/plugin.js) when it can. It says which.
# 5. Installs the CNI plugin as CNI_BIN_DIR/weavets (runtimes exec it by its type name).
set -euo pipefail

DENO_VERSION=2.9.6
PREFIX=/usr/local
CNI_BIN_DIR=/opt/cni/bin
WITH_CNI=1
WITH_PACKAGES=1

die() { echo "install.sh: $*" >&2; exit 1; }
say() { echo "install.sh: $*"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; PREFIX=$2; shift 2 ;;
    --prefix=*) PREFIX=${1#*=}; shift ;;
    --cni-bin-dir) [ $# -ge 2 ] || die "--cni-bin-dir needs a directory"; CNI_BIN_DIR=$2; shift 2 ;;
    --cni-bin-dir=*) CNI_BIN_DIR=${1#*=}; shift ;;
    --no-cni) WITH_CNI=0; shift ;;
    --no-packages) WITH_PACKAGES=0; shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$PREFIX"
PREFIX=$(cd "$PREFIX" && pwd)
LIB=$PREFIX/lib/weavets
case "$LIB" in *[\'\|]*) die "the prefix must not contain ' or |: $PREFIX" ;; esac

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

# --- 1. System packages ------------------------------------------------------------------------
LDCONFIG=$(command -v ldconfig || echo /sbin/ldconfig)
have_lib() { "$LDCONFIG" -p 2>/dev/null | grep -q "^[[:space:]]*$1 "; }
DENO_BIN=$(find_deno || true)
if [ "$WITH_PACKAGES" = 1 ]; then
  wanted=()
  command -v nft >/dev/null 2>&1 && have_lib libnftables.so.1 || wanted+=(nftables)
  command -v iptables-legacy >/dev/null 2>&1 || wanted+=(iptables)
  have_lib libcrypto.so.3 || wanted+=(libcrypto)
  [ -n "$DENO_BIN" ] || command -v npm >/dev/null 2>&1 || wanted+=(npm)
  if [ ${#wanted[@]} -gt 0 ]; then
    command -v apt-get >/dev/null 2>&1 ||
      die "missing ${wanted[*]} and no apt-get: install them, or pass --no-packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 || die "apt-get update failed"
    # libcrypto.so.3 is libssl3 on Debian 12 and Ubuntu 22.04, libssl3t64 on Debian 13.
    crypto=libssl3
    apt-cache show libssl3t64 >/dev/null 2>&1 && crypto=libssl3t64
    wanted=("${wanted[@]/#libcrypto/$crypto}")
    say "installing ${wanted[*]} (apt-get)"
    apt-get install -y -qq --no-install-recommends "${wanted[@]}" >&2 ||
      die "apt-get install ${wanted[*]} failed"
  fi
fi

# --- 2. Deno -----------------------------------------------------------------------------
if [ -z "$DENO_BIN" ]; then
  command -v npm >/dev/null 2>&1 ||
    die "Deno $DENO_VERSION is needed: install npm (apt-get install npm), or set DENO=/path/to/deno"
  mkdir -p "$LIB"
  say "Deno not found: installing deno@$DENO_VERSION from the npm registry"
  tmp=$(mktemp -d)
  # npm's own words on failure (--silent hid them: a proxy's certificate error read as nothing).
  if ! npm install --no-audit --no-fund --loglevel=error --prefix "$tmp" "deno@$DENO_VERSION" \
    >"$tmp/npm.log" 2>&1; then
    tail -n 20 "$tmp/npm.log" >&2
    rm -rf "$tmp"
    die "npm install deno@$DENO_VERSION failed (above). Is the npm registry reachable? Behind a" \
      "TLS-intercepting proxy, its CA must be in NODE_EXTRA_CA_CERTS or npm's cafile. Or set" \
      "DENO=/path/to/deno"
  fi
  bin=$(find "$tmp/node_modules" -type f -name deno -perm -u+x | head -n1)
  [ -n "$bin" ] || die "npm installed deno but no binary was found in $tmp"
  install -m 0755 "$bin" "$LIB/deno.new" && mv -f "$LIB/deno.new" "$LIB/deno"
  rm -rf "$tmp"
  DENO_BIN=$LIB/deno
fi
say "using $("$DENO_BIN" --version | head -n1) at $DENO_BIN"

# --- 3. Sources and dependency cache -------------------------------------------------------
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

# --- 4. The weavets executable ------------------------------------------------------------
OUT=$PREFIX/bin/weavets
compiled=0
if [ -n "${DENORT_BIN:-}" ] && [ ! -x "$DENORT_BIN" ]; then
  die "DENORT_BIN=$DENORT_BIN is not an executable file"
fi
say "trying deno compile${DENORT_BIN:+ with DENORT_BIN=$DENORT_BIN}"
# No type check here: that is the developers' and CI's job, and it would double the install time.
if (cd "$LIB/src" && timeout 120 "$LIB/deno" compile --allow-all --no-prompt --frozen --no-check \
  --include net/dataplane/sleeve/rx_worker.ts --include net/dataplane/sleeve/tx_worker.ts \
  --include cli/demo/tcp_worker.ts \
  --output "$OUT.new" mod.ts >"$LIB/compile.log" 2>&1) &&
  "$OUT.new" version >/dev/null 2>&1; then
  mv -f "$OUT.new" "$OUT"
  rm -f "$LIB/build-id"
  compiled=1
  say "produced a compiled binary: $OUT"
else
  rm -f "$OUT.new"
  # The plugin's path in one JavaScript file: a runtime execs the plugin once per pod event, and
  # `deno run --config deno.json mod.ts` costs ~14 ms CPU more per exec than this file run with
  # --no-config --no-lock (the config's npm resolver and the TypeScript module graph; measured in
  # cni/plugin_main.ts). Optional: without it the launcher runs mod.ts for the plugin as well.
  rm -f "$LIB/plugin.js" "$LIB/plugin.js.new"
  if (cd "$LIB/src" && timeout 120 "$LIB/deno" bundle --frozen --platform deno \
    --output "$LIB/plugin.js.new" cni/plugin_main.ts >"$LIB/bundle.log" 2>&1) &&
    env -i CNI_COMMAND=VERSION DENO_DIR="$LIB/deno-dir" DENO_NO_UPDATE_CHECK=1 "$LIB/deno" run \
      --allow-all --no-prompt --cached-only --no-config --no-lock "$LIB/plugin.js.new" \
      </dev/null 2>>"$LIB/bundle.log" | grep -q '"supportedVersions"'; then
    mv -f "$LIB/plugin.js.new" "$LIB/plugin.js"
    say "bundled the CNI plugin's path: $LIB/plugin.js"
  else
    rm -f "$LIB/plugin.js.new"
    # Offline, `deno bundle` works only when its esbuild is already in DENO_DIR/dl (Deno fetches
    # it from the npm registry once).
    say "could not bundle the CNI plugin's path (see $LIB/bundle.log; offline, deno bundle needs" \
      "esbuild in $DENO_DIR/dl): the plugin runs mod.ts, ~14 ms more CPU per pod event"
  fi
  # Names this runtime, source and cache, so that copies of them (the DaemonSet's init container
  # puts one beside the node's CNI plugin) are replaced only when they change.
  hashed="deno src deno-dir/npm"
  [ -f "$LIB/plugin.js" ] && hashed="$hashed plugin.js"
  # shellcheck disable=SC2086 # a list of names without spaces
  (cd "$LIB" && find $hashed -type f -print0 2>/dev/null | LC_ALL=C sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-16 >"$LIB/build-id"
  # The runtime and cache are found relative to the launcher (../lib/weavets), so the two can
  # move together; install-cni.sh rewrites the `lib=` line for the copy it puts on a node.
  cat >"$OUT.new" <<'LAUNCHER'
#!/bin/sh
# weavets launcher, written by install.sh because `deno compile` could not get its runtime
# (denort; see compile.log in $lib). Same entry point and permissions as the compiled binary;
# runs only from its own runtime and pre-populated cache in $lib and never reaches the network.
# Through a symbolic link, the directory is the target's (readlink forks: only then).
self=$0
[ -L "$self" ] && { self=$(readlink -f -- "$self" 2>/dev/null) || self=$0; }
lib=${self%/*}/../lib/weavets
# A runtime execs the plugin by its type name with no arguments (mod.ts's plugin branch): the
# same code, bundled into one file that needs no config, lockfile or module graph (install.sh).
if [ -n "${CNI_COMMAND:-}" ] && [ $# -eq 0 ] && [ -f "$lib/plugin.js" ]; then
  DENO_DIR="$lib/deno-dir" DENO_NO_UPDATE_CHECK=1 DENO_NO_PROMPT=1 NO_COLOR=1 \
    exec "$lib/deno" run --allow-all --no-prompt --cached-only --no-config --no-lock "$lib/plugin.js"
fi
DENO_DIR="$lib/deno-dir" DENO_NO_UPDATE_CHECK=1 DENO_NO_PROMPT=1 NO_COLOR=1 \
  exec "$lib/deno" run --allow-all --no-prompt --cached-only --frozen \
  --config "$lib/src/deno.json" "$lib/src/mod.ts" "$@"
LAUNCHER
  chmod 0755 "$OUT.new" && mv -f "$OUT.new" "$OUT"
  say "deno compile is not possible here (no denort runtime; set DENORT_BIN to use one):"
  say "produced an equivalent launcher instead: $OUT"
fi
env -i PATH=/usr/bin:/bin "$OUT" version >/dev/null || die "$OUT does not run in a stripped environment"

# --- 5. CNI plugin -----------------------------------------------------------------------
if [ "$WITH_CNI" = 1 ]; then
  mkdir -p "$CNI_BIN_DIR"
  if [ "$compiled" = 1 ]; then
    cp -f "$OUT" "$CNI_BIN_DIR/weavets.new"
  else
    # The plugin's copy of the launcher names this installation's runtime and cache directly.
    sed "s|^lib=.*|lib='$LIB'|" "$OUT" >"$CNI_BIN_DIR/weavets.new"
    chmod 0755 "$CNI_BIN_DIR/weavets.new"
  fi
  mv -f "$CNI_BIN_DIR/weavets.new" "$CNI_BIN_DIR/weavets"
  say "installed the CNI plugin: $CNI_BIN_DIR/weavets"
fi
if [ "$compiled" = 1 ]; then kind=compiled; else kind=launcher; fi
say "done ($kind): $("$OUT" version)"
