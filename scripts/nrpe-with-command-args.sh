#!/usr/bin/env bash
# Builds Debian's own NRPE source with --enable-command-args into OUT_DIR/nrpe.
#
# Debian's nagios-nrpe-server is built without command arguments, so `dont_blame_nrpe=1`
# has no effect there (README.Debian). test/consumers/nrpe.test.ts and nagios.test.ts use
# this build to run the $ARG1$ variant of icinga/nrpe.cfg on a real NRPE that honours it, as
# upstream's and EPEL's builds do. SSL is left out (check_nrpe -n) so that no -dev package is needed.
#
# The source comes through apt from the same Debian archive as this machine's packages:
# a private deb-src list made from /etc/apt's own entries, in a private state directory.
set -euo pipefail
out=${1:?usage: $0 OUT_DIR}
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

{
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -e "$f" ] && sed -e 's/^Types:.*/Types: deb-src/' "$f" && echo
  done
} > "$work/src.sources"
if [ -e /etc/apt/sources.list ]; then sed -n 's/^deb /deb-src /p' /etc/apt/sources.list > "$work/src.list"; else : > "$work/src.list"; fi
mkdir -p "$work/sources.list.d" "$work/lists/partial" "$work/cache/archives/partial"
mv "$work/src.sources" "$work/sources.list.d/src.sources"
apt_opts=(-q -o "Dir::Etc::SourceList=$work/src.list" -o "Dir::Etc::SourceParts=$work/sources.list.d"
  -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o "APT::Sandbox::User=root")
apt-get "${apt_opts[@]}" update >/dev/null
(cd "$work" && apt-get "${apt_opts[@]}" source --download-only nagios-nrpe >/dev/null)
dpkg-source --no-check -x "$work"/nagios-nrpe_*.dsc "$work/nrpe" >/dev/null
cd "$work/nrpe"
./configure --enable-command-args --disable-ssl >"$work/configure.log" 2>&1 || { tail -20 "$work/configure.log" >&2; exit 1; }
make nrpe >"$work/make.log" 2>&1 || { tail -20 "$work/make.log" >&2; exit 1; }
install -m 0755 src/nrpe "$out/nrpe"
echo "$out/nrpe"
