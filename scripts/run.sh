#!/usr/bin/env bash
# run.sh: the main job on a fresh machine: boots the sandbox host and runs
# the bot inside it with the terminal adapter. Type /odoo create demo http.
# With SLACK_* or DISCORD_* tokens in the environment, those adapters run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/sandbox-prepare.sh
scripts/sandbox.sh start
set -a; . scripts/sandbox.env; set +a
echo "sandbox host running; the bot's instances answer on http://127.0.0.1 with Host: NAME.$CF_ZONE_NAME"
echo "stop the sandbox with: scripts/sandbox.sh stop"
exec scripts/sandbox.sh exec bin/odoobot --env-file /dev/null serve
