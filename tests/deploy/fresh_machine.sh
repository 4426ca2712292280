#!/usr/bin/env bash
# tests/deploy/fresh_machine.sh — README's quick start on a fresh Debian 12, timed. By hand, as
# root (not in `deno task test`: it needs the Debian mirror and the npm registry, which the suite
# must not).
#
#   tests/deploy/fresh_machine.sh [--tests]
#
# A Debian 12 minbase root file system (debootstrap; its packages fetched once into .tmp/deploy)
# runs as a privileged podman container on the host network with a copy of this checkout (git archive HEAD) and nothing else:
# no Deno, nftables, npm or weavets. In it: `./install.sh`, then `weavets demo --once`; it prints
# the time from the start of ./install.sh to the demo's "every pod reaches every other pod".
# --tests then runs README's test set-up (tests/setup.sh) and checks that Deno is on PATH and every
# tool a test skips without is installed (the suite itself is too long to run here).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
[ "$(id -u)" = 0 ] || { echo "fresh_machine.sh: run me as root" >&2; exit 1; }
WITH_TESTS=0
[ "${1:-}" = --tests ] && WITH_TESTS=1

read -r suite _include <tests/deploy/base-image
# Debian's minbase alone (tests/deploy's base image has nftables already): fetched once.
tgz=.tmp/deploy/$suite-fresh.tgz
if [ ! -s "$tgz" ]; then
  mkdir -p .tmp/deploy
  tmp=$(mktemp -d)
  debootstrap --variant=minbase --make-tarball="$tgz.new" "$suite" "$tmp/root" \
    http://deb.debian.org/debian >"$tmp/log" 2>&1 || { tail -n 20 "$tmp/log" >&2; exit 1; }
  rm -rf "$tmp" && mv "$tgz.new" "$tgz"
fi
id=$(head -c 3 /dev/urandom | od -An -tx1 | tr -d ' \n')
run=/run/wtf-$id
store=/var/tmp/wtf-$id
mkdir -p "$run/tmp" "$store/root" "$store/src"
cleanup() {
  podman rm -f -t 0 "wtf-$id" >/dev/null 2>&1 || true
  podman system reset -f >/dev/null 2>&1 || true
  grep -o " $store/[^ ]*\| $run/[^ ]*" /proc/self/mounts | sort -r | xargs -r -n1 umount -l || true
  rm -rf "$run" "$store"
}
trap cleanup EXIT
export CONTAINERS_CONF=$run/containers.conf CONTAINERS_STORAGE_CONF=$run/storage.conf
cat >"$CONTAINERS_CONF" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$run/tmp"
EOF
cat >"$CONTAINERS_STORAGE_CONF" <<EOF
[storage]
driver = "overlay"
runroot = "$run/rr"
graphroot = "$store/graph"
EOF

echo "fresh_machine.sh: unpacking Debian $suite minbase (offline)"
unshare -n debootstrap --variant=minbase --unpack-tarball="$(pwd)/$tgz" "$suite" "$store/root" \
  >"$store/debootstrap.log" 2>&1 || { tail -n 20 "$store/debootstrap.log" >&2; exit 1; }
tar -C "$store/root" --numeric-owner -cf - . | podman import - localhost/wtf-debian:12 >/dev/null
rm -rf "$store/root"
git archive HEAD | tar -x -C "$store/src"

# Inside: the README's two commands, each line of the demo stamped with the seconds since
# ./install.sh started.
script=$(cat <<'EOS'
set -e
cd /src
for t in deno nft npm weavets; do
  if command -v "$t"; then echo "not a fresh machine: $t is installed" >&2; exit 1; fi
done
start=$(date +%s.%N)
./install.sh >/tmp/install.log 2>&1 || { tail -n 30 /tmp/install.log; exit 1; }
installed=$(date +%s.%N)
grep "^install.sh:" /tmp/install.log
weavets demo --once 2>&1 | while IFS= read -r line; do
  awk -v s="$start" -v n="$(date +%s.%N)" -v l="$line" 'BEGIN { printf "%7.1fs  %s\n", n - s, l }'
done
awk -v s="$start" -v i="$installed" 'BEGIN { printf "install.sh took %.1f s\n", i - s }'
EOS
)
if [ "$WITH_TESTS" = 1 ]; then
  script+=$(cat <<'EOS'

tests/setup.sh
command -v deno
python3 -c "import cryptography"
ls /usr/lib/cni/host-local /usr/lib/cni/bridge /usr/lib/cni/portmap
for t in podman runc catatonit busybox iptables-save nsenter tcpdump curl openssl containerd \
  debootstrap gcc python3 iperf3; do command -v "$t" >/dev/null || { echo "missing $t"; exit 1; }; done
echo "every tool the tests need is installed"
EOS
)
fi
# What this machine's image adds for its network: the CAs of a TLS-intercepting egress proxy
# (installed into the bundle by ca-certificates when apt-get installs it) and the variables that
# point TLS clients at the bundle. Nothing else of this machine is passed in.
tls=()
[ -d /usr/local/share/ca-certificates ] &&
  tls+=(-v /usr/local/share/ca-certificates:/usr/local/share/ca-certificates:ro)
for v in NODE_EXTRA_CA_CERTS SSL_CERT_FILE SSL_CERT_DIR CURL_CA_BUNDLE; do
  [ -n "${!v:-}" ] && tls+=(--env "$v=${!v}")
done
podman run --name "wtf-$id" --rm --privileged --network=host --pull=never "${tls[@]}" \
  -v "$store/src:/src" localhost/wtf-debian:12 /bin/bash -c "$script"
