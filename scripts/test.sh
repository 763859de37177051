#!/usr/bin/env bash
# test.sh: every test, on real services. Installs what is missing, starts
# a throwaway PostgreSQL cluster for the unit and store tests, runs them,
# then runs the end-to-end tests inside the sandbox host. Under this
# script a test that lacks a service fails; it never skips quietly.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh

port=55440
while (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null; do port=$((port + 1)); done
pgdir=$(mktemp -d /var/tmp/odoobot-testpg.XXXXXX)
cleanup() { scripts/testdb.sh stop "$pgdir" || true; rm -rf "$pgdir"; }
trap cleanup EXIT
ODOOBOT_TEST_DATABASE_URL=$(scripts/testdb.sh start "$pgdir" "$port")
export ODOOBOT_TEST_DATABASE_URL ODOOBOT_REQUIRE_ALL=1
# The real Odoo trees the release and database tests build from; missing,
# those tests fail and say how to provide them.
if tarballs=$(scripts/odoo-sources.sh --where); then export ODOO_TEST_TARBALLS=$tarballs; fi

echo "== unit and integration tests (PostgreSQL on 127.0.0.1:$port)"
go test -count=1 -timeout 30m $(go list ./... | grep -v '/e2e$')

if [ -d e2e ]; then
  echo "== end-to-end tests in the sandbox host"
  scripts/e2e.sh
fi
