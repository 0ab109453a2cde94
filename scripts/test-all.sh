#!/usr/bin/env bash
# The whole test suite on a fresh Debian or Ubuntu machine, as root, and what CI runs
# (.ci/run calls this). It does all the set-up itself:
#   1. installs the Debian packages of .ci/debian-packages that are missing (and Node.js
#      with npm when there is none; apt-get update only when something is missing);
#   2. npm ci: the exact dependencies of package-lock.json;
#   3. every test with CI=true, where a test that would skip fails instead, and checks that
#      the run reports no skipped or todo test;
#   4. checks that dist/ (and the Sensu asset definition) is exactly what `npm run build` makes.
# Usage: scripts/test-all.sh   (from anywhere; it works on the clone it is part of)
set -euo pipefail
cd "$(dirname "$0")/.."
export CI=true

if [ "$(id -u)" != 0 ]; then
  echo "scripts/test-all.sh runs the whole suite: run it as root (tests build network namespaces, run daemons, switch users)" >&2
  exit 1
fi

# 1. Debian packages.
mapfile -t packages < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' .ci/debian-packages | sed '/^$/d')
command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)
missing=()
for p in "${packages[@]}"; do
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" = installed ] || missing+=("$p")
done
# Debian's postinst of a daemon (icinga2, nagios-nrpe-server, prometheus, zabbix-agent...)
# enables it and starts it. The tests run their own daemons from private configurations, so
# none may be started here: a policy-rc.d (unless the machine has one) forbids every start
# during the install, and every unit the install enabled is disabled after it
# (`systemctl disable` and `is-enabled` work on the unit files, with or without a running
# systemd).
enabled_units() { systemctl list-unit-files --state=enabled --no-legend 2>/dev/null | awk '{print $1}' | sort; }
if [ "${#missing[@]}" -gt 0 ]; then
  echo "== installing Debian packages: ${missing[*]}"
  before=$(enabled_units)
  policy=/usr/sbin/policy-rc.d
  made_policy=false
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# scripts/test-all.sh: no service starts while it installs packages\nexit 101\n' >"$policy"
    chmod 0755 "$policy"
    made_policy=true
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${missing[@]}"
  if $made_policy; then rm -f "$policy"; trap - EXIT; fi
  for unit in $(comm -13 <(echo "$before") <(enabled_units)); do
    systemctl disable --quiet "$unit" 2>/dev/null || true
    echo "   $unit: installed, now $(systemctl is-enabled "$unit" 2>/dev/null || true)"
  done
fi

# 2. Dependencies from the lock file.
echo "== npm ci"
npm ci --no-audit --no-fund

# 3. Every test; the summary must show none skipped. node --test prints its totals as
# `ℹ skipped N` (spec reporter) or `# skipped N` (TAP, when stdout is not a terminal).
echo "== npm test (CI=true: a test that cannot run fails)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
npm test 2>&1 | tee "$log"
skipped=$(sed -n -E 's/^(ℹ skipped|# skipped) ([0-9]+)$/\2/p' "$log" | tail -1)
todo=$(sed -n -E 's/^(ℹ todo|# todo) ([0-9]+)$/\2/p' "$log" | tail -1)
if [ "${skipped:-x}" != 0 ] || [ "${todo:-x}" != 0 ]; then
  echo "FAIL: the run reported skipped=${skipped:-?} todo=${todo:-?}; every test must run" >&2
  exit 1
fi

# 4. dist/ is what the sources build.
echo "== npm run build: dist/ must not change"
npm run -s build
if [ -n "$(git status --porcelain -- dist icinga/sensu-asset.yaml)" ]; then
  echo "FAIL: dist/ differs from a fresh 'npm run build': rebuild and commit it" >&2
  git status --short -- dist icinga/sensu-asset.yaml >&2
  exit 1
fi
echo "== all tests passed, none skipped; dist/ matches a fresh build"
