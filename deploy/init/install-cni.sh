#!/bin/sh
# Installs the weavets CNI plugin on a node (also under Weave Net's names weave-net and
# weave-ipam); run by the DaemonSet's init container on every start.
# Idempotent. POSIX sh.
#
#   CNI_BIN_DIR   where the runtime finds plugins          (default /host/opt/cni/bin)
#   CNI_CONF_DIR  where the runtime finds network configs  (default /host/etc/cni/net.d)
#   WEAVETS_BIN   the binary to install                    (default /usr/local/bin/weavets)
#   WEAVETS_LIB   a launcher's runtime and cache (install.sh) (default /usr/local/lib/weavets)
#   CONFLIST_SRC  the network config to install            (default /usr/local/share/weavets/10-weavets.conflist)
#   HAIRPIN_MODE  "true" or "false": hairpinMode in a newly written conflist (default true)
#
# The binary is always replaced, atomically (copy to a temporary name in the same directory, then
# rename), so a runtime exec'ing the plugin at that moment sees the old or the new file, never a
# half-written one, and the copy never fails with "text file busy". The conflist is written only
# when absent, so an operator's edits survive restarts and upgrades.
#
# The image carries either a compiled binary or, where it was built without Deno's compile runtime,
# install.sh's launcher with its runtime, source and dependency cache in WEAVETS_LIB. Nothing on the
# node may point into the image, so a launcher is installed with its own copy of WEAVETS_LIB beside
# it, in CNI_BIN_DIR/weavets.d/<build id>/ (written under a temporary name, then renamed; the
# previous one is kept for plugins still running from it, older ones are removed).
set -eu

CNI_BIN_DIR=${CNI_BIN_DIR:-/host/opt/cni/bin}
CNI_CONF_DIR=${CNI_CONF_DIR:-/host/etc/cni/net.d}
WEAVETS_BIN=${WEAVETS_BIN:-/usr/local/bin/weavets}
WEAVETS_LIB=${WEAVETS_LIB:-/usr/local/lib/weavets}
CONFLIST_SRC=${CONFLIST_SRC:-/usr/local/share/weavets/10-weavets.conflist}
HAIRPIN_MODE=${HAIRPIN_MODE:-true}
CONFLIST_NAME=10-weavets.conflist

say() { echo "install-cni: $*"; }
die() { echo "install-cni: $*" >&2; exit 1; }

case "$HAIRPIN_MODE" in
  true | false) ;;
  *) die "HAIRPIN_MODE must be \"true\" or \"false\", not \"$HAIRPIN_MODE\"" ;;
esac
[ -f "$WEAVETS_BIN" ] || die "binary $WEAVETS_BIN not found (WEAVETS_BIN)"
[ -f "$CONFLIST_SRC" ] || die "network config $CONFLIST_SRC not found (CONFLIST_SRC)"
grep -q '"hairpinMode"' "$CONFLIST_SRC" ||
  say "WARNING: $CONFLIST_SRC has no hairpinMode key; HAIRPIN_MODE=$HAIRPIN_MODE has no effect"
mkdir -p "$CNI_BIN_DIR" "$CNI_CONF_DIR"

# Leftovers of an interrupted earlier run (this script's own temporary names only).
rm -f "$CNI_BIN_DIR"/.weavets.install.* "$CNI_CONF_DIR"/.$CONFLIST_NAME.install.*

tmp="$CNI_BIN_DIR/.weavets.install.$$"
# The build of weavets.d the installed launcher runs from, if it is one.
previous=$(sed -n 's|^lib=.*/weavets\.d/\([0-9a-f]*\)$|\1|p' "$CNI_BIN_DIR/weavets" 2>/dev/null || true)
if [ "$(sed -n 2p "$WEAVETS_BIN" | cut -c1-19)" = "# weavets launcher," ]; then
  id=$(cat "$WEAVETS_LIB/build-id" 2>/dev/null || true)
  case "$id" in
    "" | *[!0-9a-f]*) die "$WEAVETS_BIN is a launcher but $WEAVETS_LIB/build-id is missing or invalid (WEAVETS_LIB)" ;;
  esac
  payloads="$CNI_BIN_DIR/weavets.d"
  mkdir -p "$payloads"
  rm -rf "$payloads"/.*.install.*
  if [ ! -d "$payloads/$id" ]; then
    cp -a "$WEAVETS_LIB" "$payloads/.$id.install.$$"
    mv "$payloads/.$id.install.$$" "$payloads/$id"
    say "installed the launcher's runtime and cache in $payloads/$id"
  fi
  sed "s|^lib=.*|lib=\${self%/*}/weavets.d/$id|" "$WEAVETS_BIN" >"$tmp"
  kind="a launcher with its runtime in weavets.d/$id"
else
  cp "$WEAVETS_BIN" "$tmp"
  kind="a compiled binary"
fi
chmod 0755 "$tmp"
mv -f "$tmp" "$CNI_BIN_DIR/weavets"
say "installed $CNI_BIN_DIR/weavets ($kind)"
# Runtimes still running the previous plugin may need its files: keep those, remove older ones.
for d in "$CNI_BIN_DIR"/weavets.d/*; do
  [ -d "$d" ] || continue
  name=${d##*/}
  [ "$name" = "${id:-}" ] || [ "$name" = "${previous:-}" ] || rm -rf "$d"
done

# Weave Net's plugin names, so that its conflist entry ("type": "weave-net") and configs naming
# its IPAM-only plugin ("ipam": {"type": "weave-ipam"}) run weavets. Hard links (a copy where the
# file system refuses): the plugin tells the two apart by the name it was exec'd by, which a
# symbolic link would hide.
for name in weave-net weave-ipam; do
  ln -f "$CNI_BIN_DIR/weavets" "$tmp" 2>/dev/null || cp "$CNI_BIN_DIR/weavets" "$tmp"
  mv -f "$tmp" "$CNI_BIN_DIR/$name"
done
say "installed $CNI_BIN_DIR/weave-net and $CNI_BIN_DIR/weave-ipam (the same plugin)"

dest="$CNI_CONF_DIR/$CONFLIST_NAME"
if [ -e "$dest" ]; then
  say "kept existing $dest"
else
  tmp="$CNI_CONF_DIR/.$CONFLIST_NAME.install.$$"
  sed "s/\"hairpinMode\"[[:space:]]*:[[:space:]]*[a-z]*/\"hairpinMode\": $HAIRPIN_MODE/" \
    "$CONFLIST_SRC" >"$tmp"
  chmod 0644 "$tmp"
  mv -f "$tmp" "$dest"
  say "wrote $dest (hairpinMode $HAIRPIN_MODE)"
fi

# The runtime uses the config whose file name sorts first: say so when another one wins.
for f in "$CNI_CONF_DIR"/*.conflist "$CNI_CONF_DIR"/*.conf "$CNI_CONF_DIR"/*.json; do
  [ -e "$f" ] || continue
  name=${f##*/}
  if [ "$name" != "$CONFLIST_NAME" ] && [ "$(printf '%s\n%s\n' "$name" "$CONFLIST_NAME" | LC_ALL=C sort | head -n1)" = "$name" ]; then
    case "$name" in
      *weave.conflist | *weave.conf | *weave.json)
        say "NOTE: $f (Weave Net's) sorts before $CONFLIST_NAME; the next init container (weavets reset --weave) renames it out of the way once Weave Net is gone (docs/MIGRATING.md)" ;;
      *)
        say "WARNING: $f sorts before $CONFLIST_NAME, so the container runtime uses it instead of weavets; remove it or rename it to sort after" ;;
    esac
  fi
done
