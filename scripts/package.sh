#!/usr/bin/env bash
# `npm run package`: the Debian package and the RPM of the plugin, into build/ (or OUT_DIR):
#   build/check-ephemeral-ports_VERSION_all.deb
#   build/nagios-plugins-ephemeral-ports-VERSION-1.noarch.rpm
# Usage: scripts/package.sh [OUT_DIR]   (prints the paths of the two packages)
# Both are made from the files of this tree: the bundle dist/check_ephemeral_ports (its
# `--help` gives the man page, so a new option reaches the page by `npm run build` and
# this), and the files of icinga/ (the Icinga 2 CheckCommands, the Nagios command, the
# NRPE snippet, the systemd units, the sudoers example, the Zabbix agent file and
# template). packaging/ holds only what is the packages' own: control, changelog,
# copyright, lintian overrides, the RPM spec.
#
# Reproducible: every date is SOURCE_DATE_EPOCH (the last commit's, unless set), every
# file gets that mtime and fixed modes, gzip -n, dpkg-deb sorts its members: two runs give
# the same .deb byte for byte (test/consumers/package.test.ts checks it).
# Standard tools only: dpkg-deb (dpkg), gzip, and rpmbuild (Debian's `rpm`) for the RPM;
# without rpmbuild it says so and builds the .deb alone, unless CI=true.
set -euo pipefail
out=$(realpath -m "${1:-build}")
cd "$(dirname "$0")/.."

bundle=dist/check_ephemeral_ports
[ -x "$bundle" ] || { echo "package: $bundle is missing: npm run build" >&2; exit 1; }
version=$(node -p 'require("./package.json").version')
bundle_version=$(node "$bundle" --version || true)
[ "$bundle_version" = "check_ephemeral_ports $version" ] ||
  { echo "package: the bundle says '$bundle_version', package.json $version: npm run build" >&2; exit 1; }
# The changelog's newest entry must be this version: a release bumps both.
deb_version=$(sed -n '1s/^check-ephemeral-ports (\([^)]*\)).*/\1/p' packaging/debian/changelog)
[ "$deb_version" = "$version" ] ||
  { echo "package: packaging/debian/changelog starts with ${deb_version:-nothing}, package.json says $version: add an entry" >&2; exit 1; }
maintainer=$(sed -n 's/^ -- \(.*>\)  .*/\1/p' packaging/debian/changelog | head -1)

export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
export TZ=UTC LC_ALL=C.UTF-8
umask 022
date=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)

mkdir -p "$out"
work=$(mktemp -d "$out/.package.XXXXXX")
trap 'rm -rf "$work"' EXIT

# put SOURCE|- DEST MODE: one file into a staged tree (stdin for -).
put() {
  install -d -m 0755 "$(dirname "$2")"
  if [ "$1" = - ]; then cat >"$2"; else cat "$1" >"$2"; fi
  chmod "$3" "$2"
}

# stage ROOT PLUGINDIR NRPEDIR ZABBIXDIR NAGIOSDIR UNITDIR: the files both packages share,
# with the plugin directory of that family written into every file that names it.
stage() {
  local root=$1 plugindir=$2 nrpedir=$3 zabbixdir=$4 nagiosdir=$5 unitdir=$6
  local paths=(-e "s|/usr/lib/nagios/plugins|$plugindir|g")
  # The bundle, its shebang naming the interpreter the nodejs package installs (Debian's
  # and RHEL's both give /usr/bin/node) instead of looking it up on PATH.
  [ "$(head -n 1 "$bundle")" = '#!/usr/bin/env node' ] || { echo "package: $bundle does not start with #!/usr/bin/env node" >&2; exit 1; }
  { echo '#!/usr/bin/node'; tail -n +2 "$bundle"; } | put - "$root$plugindir/check_ephemeral_ports" 0755

  # Icinga 2: both CheckCommands in one file on the ITL's include path, `include <ephemeral_ports>`.
  {
    echo '/* check_ephemeral_ports: Icinga 2 CheckCommands "ephemeral_ports" and "ephemeral_ports_sudo".'
    echo ' * Installed by the package; load it with   include <ephemeral_ports>   in icinga2.conf'
    echo ' * (after include <plugins>), on every node that runs or configures the check. */'
    echo
    cat icinga/ephemeral_ports.conf
    echo
    cat icinga/ephemeral_ports_sudo.conf
  } | put - "$root/usr/share/icinga2/include/ephemeral_ports" 0644

  # Nagios: the command definition of nagios-local.cfg.example ($USER1$ is the plugin directory).
  {
    echo '# check_ephemeral_ports: Nagios command definition, installed by the package.'
    echo '# Use it in a service of the host Nagios runs on:  check_command  check_ephemeral_ports!-w 70 -c 90'
    echo '# ($ARG1$ holds the options). Other hosts: check_nrpe!check_ephemeral_ports (the NRPE snippet).'
    echo
    awk '/^define command/,/^}/' icinga/nagios-local.cfg.example
  } | put - "$root$nagiosdir/check_ephemeral_ports.cfg" 0644

  sed "${paths[@]}" icinga/nrpe.cfg | put - "$root$nrpedir/check_ephemeral_ports.cfg" 0644
  sed "${paths[@]}" icinga/zabbix/check_ephemeral_ports.conf | put - "$root$zabbixdir/check_ephemeral_ports.conf" 0644
  for unit in ephemeral-ports-textfile.service ephemeral-ports-textfile.timer; do
    sed "${paths[@]}" "icinga/$unit" | put - "$root$unitdir/$unit" 0644
  done
  # Inert until an operator copies it into /etc/sudoers.d (a live rule must be a choice).
  sed "${paths[@]}" icinga/sudoers | put - "$root/usr/share/check-ephemeral-ports/sudoers" 0644
  put icinga/zabbix/template_ephemeral_ports.yaml "$root/usr/share/check-ephemeral-ports/zabbix/template_ephemeral_ports.yaml" 0644

  node scripts/manpage.mjs "$bundle" "$plugindir/check_ephemeral_ports" "$date" | gzip -9n | put - "$root/usr/share/man/man1/check_ephemeral_ports.1.gz" 0644
}

# Every directory 0755, every mtime SOURCE_DATE_EPOCH.
normalize() {
  find "$1" -type d -exec chmod 0755 {} +
  find "$1" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
}

# --- Debian ---
deb=$work/deb
stage "$deb" /usr/lib/nagios/plugins /etc/nagios/nrpe.d /etc/zabbix/zabbix_agentd.conf.d /etc/nagios-plugins/config /lib/systemd/system
doc=$deb/usr/share/doc/check-ephemeral-ports
gzip -9n <packaging/debian/changelog | put - "$doc/changelog.gz" 0644
put packaging/debian/copyright "$doc/copyright" 0644
put packaging/debian/lintian-overrides "$deb/usr/share/lintian/overrides/check-ephemeral-ports" 0644
install -d -m 0755 "$deb/DEBIAN"
# Everything under /etc is a conffile: dpkg keeps an operator's edits.
(cd "$deb" && find etc -type f | sort | sed 's|^|/|') >"$deb/DEBIAN/conffiles"
(cd "$deb" && find . -path ./DEBIAN -prune -o -type f -printf '%P\n' | sort | xargs md5sum) >"$deb/DEBIAN/md5sums"
# Installed-Size as dpkg-gencontrol counts it: KiB per file rounded up, 1 per directory and link.
size=$(cd "$deb" && find . -path ./DEBIAN -prune -o \( -type f -printf '%s\n' -o -printf '1024\n' \) | awk '{ s += int(($1 + 1023) / 1024) } END { print s }')
sed -e "s|@VERSION@|$version|" -e "s|@MAINTAINER@|$maintainer|" -e "s|@INSTALLED_SIZE@|$size|" packaging/debian/control.in >"$deb/DEBIAN/control"
chmod 0644 "$deb/DEBIAN/"*
normalize "$deb"
debfile=$out/check-ephemeral-ports_${version}_all.deb
dpkg-deb --root-owner-group -Zxz --build "$deb" "$debfile" >/dev/null
echo "$debfile"

# --- RPM ---
if ! command -v rpmbuild >/dev/null; then
  [ "${CI:-}" = true ] && { echo "package: rpmbuild is missing (Debian: apt-get install rpm)" >&2; exit 1; }
  echo "package: rpmbuild is missing (Debian: apt-get install rpm): no RPM" >&2
  exit 0
fi
rpmroot=$work/rpm-stage
stage "$rpmroot" /usr/lib64/nagios/plugins /etc/nrpe.d /etc/zabbix/zabbix_agentd.d /etc/nagios/conf.d /usr/lib/systemd/system
normalize "$rpmroot"
top=$work/rpmbuild
mkdir -p "$top"/{BUILD,BUILDROOT,RPMS,SOURCES,SPECS,SRPMS}
rpmbuild -bb --quiet \
  --define "_topdir $top" \
  --define "_stage $rpmroot" \
  --define "_version $version" \
  --define "_doc_source $PWD/packaging/debian" \
  --define "_buildhost reproducible" \
  --define "packager $maintainer" \
  --define "use_source_date_epoch_as_buildtime 1" \
  --define "clamp_mtime_to_source_date_epoch 1" \
  --define "_dbpath $work/rpmdb" \
  packaging/rpm/check_ephemeral_ports.spec
rpmfile=$(find "$top/RPMS" -name '*.noarch.rpm' | head -1)
[ -n "$rpmfile" ] || { echo "package: rpmbuild made no noarch RPM" >&2; exit 1; }
cp "$rpmfile" "$out/"
echo "$out/$(basename "$rpmfile")"
