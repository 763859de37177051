#!/usr/bin/env bash
# e2e.sh [TEST FLAGS]: the end-to-end tests, inside the sandbox host (a
# real systemd with nginx and PostgreSQL): the fast lane against the
# stand-in Odoo, and the real-Odoo lane against real Odoo 17.0 and 19.0
# (sources from scripts/odoo-sources.sh). Starts the sandbox if it is not
# running and stops it again if it started it. The test binaries are
# built into the sandbox's state directory, so a checkout in any
# directory works.
#
# With no arguments, after every other test it runs the purge lane
# (TestPurgedHostRecovery): an instance backed up offsite, the sandbox
# purged and booted empty, the instance recovered from offsite alone.
# The offsite repository (an S3 test double), its password and the real
# Odoo sources (a remote, for a server) are kept outside the sandbox's
# state across the purge. With arguments (e.g. -test.run X) only what
# they select runs, without the purge; --purge-lane runs the purge lane
# alone.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/sandbox-prepare.sh
. scripts/sandbox-bin.sh
started=0
if ! scripts/sandbox.sh status >/dev/null 2>&1; then
  scripts/sandbox.sh start
  started=1
fi
set -a; . scripts/sandbox.env; set +a
mkdir -p bin

# run_e2e [ENV=VALUE...] -- [TEST FLAGS]: the e2e test binary in the
# sandbox, its output added to bin/e2e.log.
run_e2e() {
  local vars=()
  while [ "$1" != -- ]; do vars+=("$1"); shift; done
  shift
  scripts/sandbox.sh exec env ODOOBOT_IN_SANDBOX=1 ODOOBOT_REQUIRE_ALL=1 ODOOBOT_BIN="$SANDBOX_BIN/odoobot" \
    $ODOOBOT_REAL_ODOO_ENV "${vars[@]}" "$SANDBOX_BIN/e2e.test" -test.v -test.count=1 -test.timeout=40m "$@" 2>&1 | tee -a bin/e2e.log
  return "${PIPESTATUS[0]}"
}

# purge_lane: TestPurgedHostRecovery's two halves, the sandbox purged
# between them.
purge_lane() {
  local dir s3pid repo src=/var/lib/odoobot-sandbox/odoo-src rc=0
  dir=$(mktemp -d /var/tmp/odoobot-purge-lane.XXXXXX)
  go build -trimpath -o "$dir/s3double" ./cmd/odoobot-s3double
  "$dir/s3double" >"$dir/repository" &
  s3pid=$!
  for _ in $(seq 50); do [ -s "$dir/repository" ] && break; sleep 0.1; done
  repo=$(head -n 1 "$dir/repository")
  local lane=(ODOOBOT_PURGE_DIR="$dir" ODOOBOT_PURGE_REPOSITORY="$repo")
  echo "== purge lane: an instance backed up offsite to $repo"
  run_e2e ODOOBOT_PURGE_LANE=before "${lane[@]}" -- -test.run '^TestPurgedHostRecovery$' || rc=$?
  if [ "$rc" = 0 ]; then
    echo "== purge lane: the sandbox purged (cluster, state, files) and booted empty"
    [ -d "$src" ] && mv "$src" "$dir/odoo-src"
    scripts/sandbox.sh purge
    scripts/sandbox-prepare.sh
    [ -d "$dir/odoo-src" ] && mv "$dir/odoo-src" "$src"
    . scripts/sandbox-bin.sh
    scripts/sandbox.sh start
    echo "== purge lane: recovered from offsite alone"
    run_e2e ODOOBOT_PURGE_LANE=after "${lane[@]}" -- -test.run '^TestPurgedHostRecovery$' || rc=$?
  fi
  kill "$s3pid" 2>/dev/null || true
  wait "$s3pid" 2>/dev/null || true
  rm -rf "$dir"
  return "$rc"
}

: >bin/e2e.log
rc=0
if [ "${1:-}" = --purge-lane ]; then
  purge_lane || rc=$?
elif [ $# = 0 ]; then
  run_e2e -- -test.skip '^TestPurgedHostRecovery$' || rc=$?
  if [ "$rc" = 0 ]; then
    purge_lane || rc=$?
  else
    echo "== purge lane not run: the tests before it failed (the purge would remove what they left for a look)"
  fi
else
  run_e2e -- "$@" || rc=$?
fi
if [ "$rc" != 0 ]; then scripts/e2e-recap.sh bin/e2e.log || true; fi
if [ "$started" = 1 ]; then scripts/sandbox.sh stop; fi
exit $rc
