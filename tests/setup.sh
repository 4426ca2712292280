#!/usr/bin/env bash
# tests/setup.sh — everything `deno task test` needs on a Debian/Ubuntu machine, as root.
# Idempotent; CI (.ci/run) runs it too.
#
#   tests/setup.sh [--deno-prefix DIR]
#
# 1. The Debian packages the end-to-end tests use (below, each with what needs it).
# 2. Deno 2.9.6 when no Deno 2.9 is on PATH: from the npm registry into DIR/lib/deno-2.9.6, linked
#    as DIR/bin/deno (DIR defaults to /usr/local, whose bin is on root's PATH).
# 3. The dependency cache: `deno install --frozen` in the repository.
# 4. tests/deploy's Debian base image, without a registry: Debian's own packages, fetched once by
#    debootstrap into .tmp/deploy/ (the test unpacks them offline; delete the file to refresh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DENO_VERSION=2.9.6
DENO_PREFIX=/usr/local
die() { echo "tests/setup.sh: $*" >&2; exit 1; }
say() { echo "tests/setup.sh: $*"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --deno-prefix) [ $# -ge 2 ] || die "--deno-prefix needs a directory"; DENO_PREFIX=$2; shift 2 ;;
    --deno-prefix=*) DENO_PREFIX=${1#*=}; shift ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
[ "$(id -u)" = 0 ] || die "run me as root (apt-get; the end-to-end tests need root anyway)"

PACKAGES=(
  iproute2 nftables iptables # the oracles: ip, bridge, nft; iptables-save (podman, portmap)
  libssl3                    # libcrypto.so.3: the encrypted path's FFI backend
  tcpdump                    # packet captures (tests/harness/capture.ts, dataplane, attack)
  curl procps                # tests/attack: the status API timed with curl, ps
  openssl                    # the fake API server's throwaway CA (tests/kube)
  podman containernetworking-plugins runc catatonit busybox-static # tests/cni, tests/deploy
  containerd                 # tests/cri: the kubelet's path through containerd's CRI plugin
  debootstrap                # tests/deploy: a Debian base image without a registry
  gcc linux-libc-dev         # net/linux/constants_test.ts: kernel constants checked against C
  python3 python3-cryptography # net/mesh/wire_vectors_test.ts: the wire vectors cross-checked
  ipset                      # tests/weave: the simulated Weave node's ipsets, removed by reset --weave
  iperf3                     # bench/ (deno task bench:dataplane, bench:npc)
)

deno_ok() { command -v deno >/dev/null 2>&1 && deno --version 2>/dev/null | grep -q '^deno 2\.9\.'; }

missing=()
for p in "${PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
deno_ok || command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    die "apt-get install ${missing[*]} failed"
fi

if ! deno_ok; then
  dir=$DENO_PREFIX/lib/deno-$DENO_VERSION
  mkdir -p "$DENO_PREFIX/lib"
  say "installing deno@$DENO_VERSION from the npm registry into $dir"
  rm -rf "$dir.new"
  if ! npm install --no-audit --no-fund --loglevel=error --prefix "$dir.new" "deno@$DENO_VERSION" \
    >"$dir.log" 2>&1; then
    tail -n 20 "$dir.log" >&2
    die "npm install deno@$DENO_VERSION failed (above): is the npm registry reachable (and, behind" \
      "a TLS-intercepting proxy, its CA in NODE_EXTRA_CA_CERTS or npm's cafile)?"
  fi
  rm -f "$dir.log"
  bin=$(find "$dir.new/node_modules" -type f -name deno -perm -u+x | head -n1)
  [ -n "$bin" ] || die "npm installed deno but no binary was found in $dir.new"
  rm -rf "$dir" && mv "$dir.new" "$dir"
  mkdir -p "$DENO_PREFIX/bin"
  ln -sfn "$dir/${bin#"$dir.new/"}" "$DENO_PREFIX/bin/deno"
  export PATH="$DENO_PREFIX/bin:$PATH"
  deno_ok || die "$DENO_PREFIX/bin/deno does not run, or $DENO_PREFIX/bin is not on PATH"
fi
say "$(deno --version | head -n1) at $(command -v deno)"

deno install --frozen >/dev/null 2>&1 || deno install --frozen || die "deno install --frozen failed"

# The suite and packages are tests/deploy/base-image's; the mirror is apt's own (deb.debian.org).
read -r suite include <tests/deploy/base-image
# Named by its package list, so that a changed list is fetched again.
base=.tmp/deploy/$suite-minbase+${include//,/+}.tgz
if [ ! -s "$base" ]; then
  say "fetching Debian $suite (minbase + $include) for tests/deploy into $base"
  mkdir -p .tmp/deploy
  tmp=$(mktemp -d)
  debootstrap --variant=minbase --include="$include" --make-tarball="$base.new" \
    "$suite" "$tmp/root" http://deb.debian.org/debian >"$tmp/log" 2>&1 ||
    { tail -n 20 "$tmp/log" >&2; rm -rf "$tmp" "$base.new"; die "debootstrap --make-tarball failed"; }
  rm -rf "$tmp" && mv "$base.new" "$base"
fi
say "ready: deno task test"
