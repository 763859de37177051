#!/usr/bin/env bash
# e2e.sh: the end-to-end tests, inside the sandbox host (a real systemd
# with nginx and PostgreSQL), against the stand-in Odoo. Starts the
# sandbox if it is not running and stops it again if it started it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/sandbox-prepare.sh
mkdir -p bin
go test -c -o bin/e2e.test ./e2e
go build -o bin/odoobot ./cmd/odoobot
started=0
if ! scripts/sandbox.sh status >/dev/null 2>&1; then
  scripts/sandbox.sh start
  started=1
fi
set -a; . scripts/sandbox.env; set +a
set +e
scripts/sandbox.sh exec env ODOOBOT_IN_SANDBOX=1 ODOOBOT_REQUIRE_ALL=1 ODOOBOT_BIN="$PWD/bin/odoobot" \
  bin/e2e.test -test.v -test.count=1 -test.timeout=25m "$@" 2>&1 | tee bin/e2e.log
rc=${PIPESTATUS[0]}
set -e
if [ "$started" = 1 ]; then scripts/sandbox.sh stop; fi
exit $rc
