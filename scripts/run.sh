#!/usr/bin/env bash
# run.sh: the main job on a fresh machine: boots the sandbox host and runs
# the bot inside it with the terminal adapter. Type /odoo create demo http.
# With SLACK_* or DISCORD_* tokens in the environment, those adapters run.
#
# The Odoo it runs: ODOO_REPO (and ODOO_BRANCH, ODOO_VERSION) when set in
# the environment; otherwise real Odoo 19.0 when a source is at hand
# (scripts/odoo-sources.sh); otherwise the stand-in Odoo, a test double.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/sandbox-prepare.sh
user_repo=${ODOO_REPO:-}
. scripts/sandbox-bin.sh
scripts/sandbox.sh start
set -a; . scripts/sandbox.env; set +a
if [ -n "$user_repo" ]; then
  export ODOO_REPO=$user_repo
  echo "odoobot: Odoo from ODOO_REPO $(echo "$ODOO_REPO" | sed -E 's#//[^/@]*@#//[redacted]@#'), branch ${ODOO_BRANCH:-$ODOO_VERSION}"
elif [[ " $ODOOBOT_REAL_ODOO_ENV" == *" ODOOBOT_ODOO_REPO_19_0="* ]]; then
  repo=${ODOOBOT_REAL_ODOO_ENV##*ODOOBOT_ODOO_REPO_19_0=}; repo=${repo%% *}
  export ODOO_REPO=$repo ODOO_BRANCH=19.0 ODOO_VERSION=19.0 ODOO_EDITION=c ODOO_MODULES=base,web,contacts,l10n_ar
  echo "odoobot: real Odoo 19.0 community from $ODOO_REPO (the first creation builds the release and the template: about a minute)"
else
  echo "odoobot: no Odoo source at hand: running the stand-in Odoo (a test double); set ODOO_REPO to an Odoo git repository for real Odoo"
fi
# serve installs no Debian package: setup builds the configured release
# and installs what it still lacks, as on a real server.
scripts/sandbox.sh exec "$SANDBOX_BIN/odoobot" --env-file /dev/null setup
echo "sandbox host running; the bot's instances answer on http://127.0.0.1 with Host: NAME.$CF_ZONE_NAME"
echo "stop the sandbox with: scripts/sandbox.sh stop"
exec scripts/sandbox.sh exec "$SANDBOX_BIN/odoobot" --env-file /dev/null serve
