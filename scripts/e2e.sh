#!/usr/bin/env bash
# e2e.sh: the end-to-end tests, inside the sandbox host (a real systemd
# with nginx and PostgreSQL): the fast lane against the stand-in Odoo, and
# the real-Odoo lane against real Odoo 17.0 and 19.0 (sources from
# scripts/odoo-sources.sh). Starts the sandbox if it is not running and
# stops it again if it started it. The test binaries are built into the
# sandbox's state directory, so a checkout in any directory works.
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
set +e
scripts/sandbox.sh exec env ODOOBOT_IN_SANDBOX=1 ODOOBOT_REQUIRE_ALL=1 ODOOBOT_BIN="$SANDBOX_BIN/odoobot" \
  $ODOOBOT_REAL_ODOO_ENV "$SANDBOX_BIN/e2e.test" -test.v -test.count=1 -test.timeout=40m "$@" 2>&1 | tee bin/e2e.log
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" != 0 ]; then scripts/e2e-recap.sh bin/e2e.log || true; fi
if [ "$started" = 1 ]; then scripts/sandbox.sh stop; fi
exit $rc
