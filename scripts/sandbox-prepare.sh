#!/usr/bin/env bash
# sandbox-prepare.sh: what odoobot needs around the sandbox host before it
# runs there: the service user, the stand-in Odoo repository, directories
# the service user can traverse.
set -euo pipefail
cd "$(dirname "$0")/.."
id odoo >/dev/null 2>&1 || useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin odoo
mkdir -p /var/lib/odoobot-sandbox
chmod 755 /var/lib/odoobot-sandbox
# The stand-in's repository follows its files: made again when they
# changed (same content, same commit; new content, a new release).
standin=/var/lib/odoobot-sandbox/standin-odoo
if [ -d "$standin/.git" ] && ! diff -rq -x .git -x __pycache__ internal/standin/files "$standin" >/dev/null 2>&1; then
  rm -rf "$standin"
fi
if [ ! -d "$standin/.git" ]; then
  scripts/standin-repo.sh "$standin"
fi
