#!/usr/bin/env bash
# sandbox-prepare.sh: what odoobot needs around the sandbox host before it
# runs there: the service user, the stand-in Odoo repository, directories
# the service user can traverse.
set -euo pipefail
cd "$(dirname "$0")/.."
id odoo >/dev/null 2>&1 || useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin odoo
mkdir -p /var/lib/odoobot-sandbox
chmod 755 /var/lib/odoobot-sandbox
if [ ! -d /var/lib/odoobot-sandbox/standin-odoo/.git ]; then
  scripts/standin-repo.sh /var/lib/odoobot-sandbox/standin-odoo
fi
