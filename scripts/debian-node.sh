#!/usr/bin/env bash
# Unpacks Debian's own Node.js (the `nodejs` package of the release this machine runs,
# Node 18 on Debian 12) into OUT_DIR without installing it, and prints two lines:
#   the node binary, and the directory to put on LD_LIBRARY_PATH (libnode.so lives there).
# test/consumers/debian-node.test.ts runs the bundle with it: the check must work with the
# Node.js that `apt install nodejs` gives, not only with a newer one from elsewhere.
# What libnode needs besides itself (libc-ares2, libuv1, ... and the builtins it loads from
# node-acorn, node-cjs-module-lexer, node-undici) is installed from .ci/debian-packages.
# With --missing instead of OUT_DIR it only prints the Debian packages that Debian's node
# needs and that are not installed, one a line (nothing when it can run): the test skips
# on that outside CI, and .ci/debian-packages lists them for CI.
set -euo pipefail
usage="usage: $0 OUT_DIR|--missing [MAJOR]"
out=${1:?$usage}
major=${2:-18}

sandbox=()
[ "$(id -u)" = 0 ] && sandbox=(-o APT::Sandbox::User=root)

pick() {
  # The newest nodejs $major.x that an apt source offers (not a locally installed other build).
  apt-cache madison nodejs | awk -F'|' -v m="^$major\\\\." '{gsub(/ /,"",$2); gsub(/^ +| +$/,"",$3)} $2 ~ m && $3 !~ /dpkg\/status/ {print $2}' | sort -V | tail -1
}
version=$(pick)
if [ -z "$version" ] && [ "$(id -u)" = 0 ] && [ "$out" != --missing ]; then apt-get -q update >/dev/null; version=$(pick); fi
[ -n "$version" ] || { echo "no nodejs $major.x in the apt sources" >&2; exit 1; }
libnode=$(apt-cache show "nodejs=$version" | sed -n 's/^Depends:.*\(libnode[0-9]*\) (= [^)]*).*/\1/p' | head -1)
[ -n "$libnode" ] || { echo "nodejs $version: no libnode dependency found" >&2; exit 1; }

if [ "$out" = --missing ]; then
  # libnode's Depends, without versions or alternatives (the first one is what apt picks).
  apt-cache show "$libnode=$version" | sed -n 's/^Depends: //p' | head -1 | tr ',' '\n' |
    sed -E 's/\|.*//; s/\(.*\)//; s/[[:space:]]//g; /^$/d' | while read -r p; do
      [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" = installed ] || echo "$p"
    done
  exit 0
fi

mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

download() { (cd "$work" && apt-get -q "${sandbox[@]}" download "nodejs=$version" "$libnode=$version" >/dev/null); }
if ! download; then
  # Stale package lists name a version the archive no longer has: refresh once.
  [ "$(id -u)" = 0 ] || exit 1
  apt-get -q update >/dev/null
  version=$(pick)
  download
fi
for deb in "$work"/*.deb; do dpkg -x "$deb" "$out"; done
lib=$(dirname "$(find "$out" -name 'libnode.so.*' | head -1)")
# Debian's libnode loads some builtins from fixed paths of other Debian packages
# (node-acorn, node-cjs-module-lexer, node-undici): without them node aborts at start.
missing=$(grep -aoE 'NODE_SHARED_BUILTIN_[A-Z_]+_PATH=[^"]+' "$lib"/libnode.so.* | sort -u | cut -d= -f2 |
  while read -r f; do [ -e "$f" ] || echo "$f"; done)
if [ -n "$missing" ]; then
  echo "Debian's node needs these files of other Debian packages (see .ci/debian-packages):" >&2
  echo "$missing" >&2
  exit 1
fi
echo "$out/usr/bin/node"
echo "$lib"
