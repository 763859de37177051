#!/usr/bin/env bash
# bench.sh: the benchmarks. Creation timings and database copy against
# initialisation run inside the sandbox host with the stand-in Odoo; the
# Slack ack latency runs against the fake Socket Mode server. Medians and
# per-step times are printed by the benchmarks themselves (b.ReportMetric).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/sandbox-prepare.sh
. scripts/sandbox-bin.sh
started=0
if ! scripts/sandbox.sh status >/dev/null 2>&1; then scripts/sandbox.sh start; started=1; fi
trap '[ "$started" = 1 ] && scripts/sandbox.sh stop' EXIT
set -a; . scripts/sandbox.env; set +a
echo "== creation and database benchmarks (sandbox host: stand-in Odoo, and real Odoo 17.0 and 19.0)"
bench() { # REGEXP BENCHTIME
  scripts/sandbox.sh exec env ODOOBOT_IN_SANDBOX=1 ODOOBOT_REQUIRE_ALL=1 ODOOBOT_BENCH_LOG="${ODOOBOT_BENCH_LOG:-}" ODOOBOT_BIN="$SANDBOX_BIN/odoobot" $ODOOBOT_REAL_ODOO_ENV \
    "$SANDBOX_BIN/e2e.test" -test.run '^$' -test.bench "$1" -test.benchtime "$2" -test.count=1 -test.timeout 60m
}
if [ -n "${BENCH:-}" ]; then
  bench "$BENCH" "${BENCHTIME:-5x}"
else
  bench '^Benchmark(CreateWarm|CreateCold|CloneTemplate150MB|StandinInit|RealOdooWarm|RealOdooStart|CloneWarm|RealOdooClone|Upgrade|RealOdooOffsite|RealOdooRestoreAt|CreateAfterRelease)$' "${BENCHTIME:-5x}"
  # The first creation after a release change, with and without the
  # ahead-of-need template build: real Odoo builds a template in minutes.
  bench '^BenchmarkRealOdooCreateAfterRelease$' 2x
  # A real cold creation takes one to two minutes, and Odoo's own -i as
  # long again: two of each per version.
  bench '^BenchmarkRealOdooCold$' 2x
  # A real upgrade builds a release and updates twice: a one-module release
  # and a core one (-u all), three of each per version.
  bench '^BenchmarkRealOdooUpgrade$' 3x
  # A clone of a big instance (up to a 1 GB filestore and a 300 MB
  # database), the serial and the parallel way: three of each per size.
  bench '^BenchmarkCloneBig$' 3x
  # Costs as instances grow: one run builds 500 stand-in instances
  # (ODOOBOT_BENCH_SCALE=1,100,250,500), measures at each size, removes them.
  bench '^BenchmarkScale$' 1x
fi
if [ -d bot/slack ]; then
  echo "== Slack ack latency (fake Socket Mode server)"
  go test -run '^$' -bench AckLatency -benchtime 1x ./bot/slack
fi
