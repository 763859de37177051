#!/usr/bin/env bash
# bench.sh: the benchmarks. Creation timings and database copy against
# initialisation run inside the sandbox host with the stand-in Odoo; the
# Slack ack latency runs against the fake Socket Mode server. Medians and
# per-step times are printed by the benchmarks themselves (b.ReportMetric).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/sandbox-prepare.sh
mkdir -p bin
go test -c -o bin/e2e.test ./e2e
go build -o bin/odoobot ./cmd/odoobot
started=0
if ! scripts/sandbox.sh status >/dev/null 2>&1; then scripts/sandbox.sh start; started=1; fi
trap '[ "$started" = 1 ] && scripts/sandbox.sh stop' EXIT
set -a; . scripts/sandbox.env; set +a
echo "== creation and database benchmarks (sandbox host, stand-in Odoo)"
scripts/sandbox.sh exec env ODOOBOT_IN_SANDBOX=1 ODOOBOT_REQUIRE_ALL=1 \
  bin/e2e.test -test.run '^$' -test.bench "${BENCH:-.}" -test.benchtime "${BENCHTIME:-5x}" -test.count=1
if [ -d bot/slack ]; then
  echo "== Slack ack latency (fake Socket Mode server)"
  go test -run '^$' -bench AckLatency -benchtime 1x ./bot/slack
fi
