#!/usr/bin/env bash
# sandbox.sh start|stop|purge|status|pid|exec CMD...
#
# The sandbox host: a real systemd booted as PID 1 of new PID, mount and UTS
# namespaces, sharing the machine's network and file systems, with its own
# tmpfs on /tmp and /run (systemd's boot clean-up would otherwise empty the
# machine's real /tmp). Inside it nginx.service and a dedicated PostgreSQL
# cluster run as ordinary units, so the end-to-end tests can drive systemd
# over D-Bus, reload nginx and create databases exactly as on a server.
#
#   start       boot it (a no-op when it already runs); returns when systemd
#               says running/degraded and nginx and PostgreSQL accept
#               connections, or fails after SANDBOX_START_TIMEOUT seconds.
#   stop        power it off (SIGRTMIN+4 to its systemd) and wait for the exit.
#   purge       stop it, drop its PostgreSQL cluster and remove its state
#               directory: the next start begins from nothing.
#   status      say whether it runs; exit 0 if it does, 3 if not.
#   pid         print the host PID of its systemd (exit 3 if not running).
#   exec CMD    run CMD inside (nsenter -t PID -m -p), keeping the
#               environment, in the current directory when the sandbox sees
#               it (one under the machine's /tmp or /run is hidden by the
#               sandbox's own) and in the state directory otherwise; exits
#               with CMD's status.
#
# PostgreSQL inside the sandbox. The host's default cluster is never
# touched: the first start creates (pg_createcluster) a dedicated cluster
# "$PG_VERSION odoobot", unit postgresql@$PG_VERSION-odoobot.service, which
# listens on 127.0.0.1:$SANDBOX_DB_PORT only (TCP) and on the socket dir
# /run/postgresql inside the sandbox. Every start (re)asserts a login role
# $SANDBOX_DB_USER with CREATEDB, CREATEROLE (each instance gets a role of
# its own) and password $SANDBOX_DB_PASSWORD, checked by
# scram-sha-256 on 127.0.0.1 (Debian's default pg_hba). Other clusters
# configured on the machine (e.g. 15/main on 5432) are masked inside the
# sandbox only (a runtime mask in its private /run): they would otherwise
# start at boot on the machine's shared network and data directories.
#
# nginx inside is Debian's nginx.service with its default site, which
# listens on :80 of the machine's network; instance sites are added next to
# it by the product under test.
#
# Environment (defaults in brackets):
#   SANDBOX_STATE_DIR      [/var/lib/odoobot-sandbox]   holds the pid file
#   SANDBOX_LOG            [/var/log/odoobot-sandbox.log] systemd's console
#   SANDBOX_START_TIMEOUT  [60]  seconds
#   SANDBOX_DB_PORT        [5433]
#   SANDBOX_DB_USER        [odoo]
#   SANDBOX_DB_PASSWORD    [odoo]
#
# It installs nothing: nginx, postgresql, systemd, dbus, python3-venv and git
# come from apt (see the Makefile).
set -euo pipefail

SANDBOX_DIR=${SANDBOX_STATE_DIR:-/var/lib/odoobot-sandbox}
PIDFILE=$SANDBOX_DIR/pid
LOG=${SANDBOX_LOG:-/var/log/odoobot-sandbox.log}
TIMEOUT=${SANDBOX_START_TIMEOUT:-60}
DB_PORT=${SANDBOX_DB_PORT:-5433}
DB_USER=${SANDBOX_DB_USER:-odoo}
DB_PASSWORD=${SANDBOX_DB_PASSWORD:-odoo}
CLUSTER=odoobot
SYSTEMD=/lib/systemd/systemd

die() { echo "sandbox: $*" >&2; exit 1; }

pg_version() {
  local v
  v=$(ls -d /usr/lib/postgresql/*/bin/postgres 2>/dev/null | sed 's|/usr/lib/postgresql/||; s|/bin/postgres||' | sort -V | tail -n 1)
  [ -n "$v" ] || die "PostgreSQL server binaries not found (apt-get install postgresql)"
  echo "$v"
}

# running_pid prints the recorded PID when it is a live systemd in another
# PID namespace; it removes a stale pid file and prints nothing otherwise.
running_pid() {
  [ -f "$PIDFILE" ] || return 0
  local pid
  pid=$(cat "$PIDFILE" 2>/dev/null || true)
  if [[ "$pid" =~ ^[0-9]+$ ]] && [ -d "/proc/$pid" ] &&
     [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = systemd ] &&
     [ "$(readlink "/proc/$pid/ns/pid")" != "$(readlink /proc/self/ns/pid)" ]; then
    echo "$pid"
    return 0
  fi
  rm -f "$PIDFILE"
}

inside() { nsenter -t "$1" -m -p -- "${@:2}"; }

# configure prepares, on the host, what the sandbox boots with. Idempotent.
#
# The cluster's own settings go into a conf.d file written here, never
# through `pg_createcluster -o`: Debian 12's postgresql-common mangles the
# quoting of values given that way (listen_addresses becomes '''127.0.0.1''').
configure() {
  local v=$1 dir=/etc/postgresql/$1/$CLUSTER
  if ! grep -qs "^data_directory" "$dir/postgresql.conf" || [ ! -f "/var/lib/postgresql/$v/$CLUSTER/PG_VERSION" ]; then
    # Not a whole cluster: what a dropped or half-made one left.
    pg_dropcluster "$v" "$CLUSTER" >/dev/null 2>&1 || true
    rm -rf "$dir" "/var/lib/postgresql/$v/$CLUSTER"
    echo "sandbox: creating PostgreSQL cluster $v/$CLUSTER on 127.0.0.1:$DB_PORT" >&2
    pg_createcluster "$v" "$CLUSTER" -p "$DB_PORT" -e UTF8 --locale C.UTF-8 >/dev/null
  fi
  mkdir -p "$dir/conf.d"
  cat >"$dir/conf.d/odoobot-sandbox.conf" <<CONF
# written by odoobot's scripts/sandbox.sh: a throwaway test cluster
listen_addresses = '127.0.0.1'
port = $DB_PORT
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
  grep -Eq "^[[:space:]]*include_dir[[:space:]]*=[[:space:]]*'conf.d'" "$dir/postgresql.conf" ||
    echo "include_dir = 'conf.d'" >>"$dir/postgresql.conf"
  echo auto >"$dir/start.conf"
}

# purge removes everything earlier runs left: the PostgreSQL cluster with
# its data, and the state directory (release caches, templates'
# filestores, instance directories, Odoo sources). The sandbox is stopped.
purge() {
  local conf dir ver
  for conf in /etc/postgresql/*/"$CLUSTER"/postgresql.conf; do
    [ -e "$conf" ] || continue
    dir=${conf%/*}; ver=${dir%/*}; ver=${ver##*/}
    echo "sandbox: dropping PostgreSQL cluster $ver/$CLUSTER" >&2
    pg_dropcluster --stop "$ver" "$CLUSTER" >/dev/null 2>&1 || pg_dropcluster "$ver" "$CLUSTER" >/dev/null 2>&1 || true
    # pg_dropcluster leaves the conf.d file it did not write, and cannot
    # drop a half-made cluster: remove what is left either way.
    rm -rf "$dir" "/var/lib/postgresql/$ver/$CLUSTER"
  done
  # Instance units and nginx sites that a killed test run left on the
  # machine's directories: only those pointing into the sandbox's state.
  local f
  for f in /etc/systemd/system/*.service /etc/systemd/system/*.timer /etc/nginx/sites-enabled/* /etc/nginx/sites-available/* /etc/logrotate.d/odoobot-*; do
    [ -e "$f" ] || [ -L "$f" ] || continue
    if grep -qs "$SANDBOX_DIR/" "$f" || { [ "${f%/*}" = /etc/nginx/sites-enabled ] && [ ! -e "$f" ]; }; then
      echo "sandbox: removing $f, left by an earlier run" >&2
      rm -f "$f"
    fi
  done
  # odoobot's own part of nginx's configuration (its default server, that
  # server's certificate, the Cloudflare snippet): made again by the next
  # serve, as on a new server.
  for f in /etc/nginx/sites-enabled/odoobot-default /etc/nginx/sites-available/odoobot-default \
    /etc/nginx/snippets/odoobot-cloudflare.conf /etc/nginx/odoobot; do
    if [ -e "$f" ] || [ -L "$f" ]; then
      echo "sandbox: removing $f, left by an earlier run" >&2
      rm -rf "$f"
    fi
  done
  # Debian's stock default site, which odoobot disables when it installs
  # its own default server (the sandbox shares the machine's /etc/nginx):
  # enabled again, as the nginx package left it, unless another site
  # claims the default server.
  if [ -e /etc/nginx/sites-available/default ] && [ ! -e /etc/nginx/sites-enabled/default ] &&
     ! grep -qs default_server /etc/nginx/sites-enabled/*; then
    echo "sandbox: enabling Debian's default nginx site again" >&2
    ln -s /etc/nginx/sites-available/default /etc/nginx/sites-enabled/default
  fi
  # Instance system users a killed run left: those whose home is in the
  # sandbox's state (odoobot makes each with its instance directory as home).
  local u home
  while IFS=: read -r u _ _ _ _ home _; do
    case $home in "$SANDBOX_DIR"/*)
      echo "sandbox: removing system user $u, left by an earlier run" >&2
      userdel "$u" >/dev/null 2>&1 || true ;;
    esac
  done < <(cat /etc/passwd)
  rm -rf "$SANDBOX_DIR"
  echo "sandbox: purged" >&2
}

# HOST_UNITS are masked inside the sandbox (runtime masks in its private
# /run): they would act on the shared machine (sysctl, kernel modules,
# binfmt, remounting /, the clock, the console, apt and dpkg, /var/tmp
# clean-up, fstrim) rather than on the sandbox.
HOST_UNITS="systemd-sysctl.service systemd-modules-load.service
  systemd-binfmt.service proc-sys-fs-binfmt_misc.automount
  proc-sys-fs-binfmt_misc.mount systemd-remount-fs.service
  systemd-timesyncd.service systemd-pstore.service e2scrub_reap.service
  console-getty.service getty@tty1.service serial-getty@ttyS0.service
  apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer man-db.timer
  e2scrub_all.timer fstrim.timer systemd-tmpfiles-clean.timer"

# masks prints the units that must not start inside: HOST_UNITS and every
# PostgreSQL cluster other than ours.
masks() {
  local conf dir ver name
  echo $HOST_UNITS
  for conf in /etc/postgresql/*/*/postgresql.conf; do
    [ -e "$conf" ] || continue
    dir=${conf%/*}; name=${dir##*/}; ver=${dir%/*}; ver=${ver##*/}
    [ "$name" = "$CLUSTER" ] && continue
    echo "postgresql@$ver-$name.service"
  done
}

boot() {
  local v=$1 u mk=""
  for u in $(masks); do mk="$mk ln -sf /dev/null /run/systemd/system/$u &&"; done
  mkdir -p "$SANDBOX_DIR" "$(dirname "$LOG")"
  echo "=== sandbox boot $(date -Is)" >>"$LOG"
  # The tmpfs mounts come before anything else and are not optional.
  setsid unshare --fork --pid --mount --mount-proc --uts --propagation private \
    sh -c "mount -t tmpfs tmpfs /tmp && mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/system &&$mk exec $SYSTEMD --system" \
    >>"$LOG" 2>&1 </dev/null 9>&- &
  local upid=$! pid="" i
  for i in $(seq 1 100); do
    pid=$(cat "/proc/$upid/task/$upid/children" 2>/dev/null | awk '{print $1}')
    [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = systemd ] && break
    kill -0 "$upid" 2>/dev/null || die "boot failed, see $LOG"
    pid=""
    sleep 0.05
  done
  [ -n "$pid" ] || die "systemd did not start, see $LOG"
  echo "$pid" >"$PIDFILE"
}

wait_ready() {
  local pid=$1 v=$2 deadline=$((SECONDS + TIMEOUT)) state=""
  while :; do
    kill -0 "$pid" 2>/dev/null || die "systemd exited during boot, see $LOG"
    state=$(inside "$pid" systemctl is-system-running 2>/dev/null || true)
    case $state in running|degraded) break ;; esac
    [ $SECONDS -lt $deadline ] || die "timeout: system state '$state' after ${TIMEOUT}s, see $LOG"
    sleep 0.2
  done
  local unit="postgresql@$v-$CLUSTER.service"
  while :; do
    if inside "$pid" systemctl is-active --quiet nginx.service "$unit" &&
       (exec 3<>/dev/tcp/127.0.0.1/80) 2>/dev/null &&
       pg_isready -q -h 127.0.0.1 -p "$DB_PORT" -t 1; then
      break
    fi
    if [ $SECONDS -ge $deadline ] || inside "$pid" systemctl is-failed --quiet nginx.service "$unit"; then
      inside "$pid" systemctl --no-pager status nginx.service "$unit" >&2 || true
      die "timeout: nginx or PostgreSQL not ready after ${TIMEOUT}s"
    fi
    sleep 0.2
  done
  if [ "$state" = degraded ]; then
    echo "sandbox: degraded; failed units: $(inside "$pid" systemctl list-units --failed --plain --no-legend | awk '{print $1}' | tr '\n' ' ')" >&2
  fi
}

ensure_role() {
  local pid=$1 pw=${DB_PASSWORD//\'/\'\'}
  inside "$pid" runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -h /run/postgresql -p "$DB_PORT" -d postgres >/dev/null <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$DB_USER') THEN
    CREATE ROLE "$DB_USER" LOGIN CREATEDB CREATEROLE;
  END IF;
END \$\$;
ALTER ROLE "$DB_USER" WITH LOGIN CREATEDB CREATEROLE PASSWORD '$pw';
SQL
}

# lock serialises start and stop, so that two callers never boot two.
lock() {
  mkdir -p "$SANDBOX_DIR"
  exec 9>"$SANDBOX_DIR/lock"
  flock -w "$((TIMEOUT + 30))" 9 || die "another start or stop holds $SANDBOX_DIR/lock"
}

cmd=${1:-}
case $cmd in
start)
  [ "$(id -u)" = 0 ] || die "must run as root"
  lock
  [ -x "$SYSTEMD" ] || die "$SYSTEMD not found (apt-get install systemd)"
  pid=$(running_pid)
  v=$(pg_version)
  if [ -n "$pid" ]; then
    echo "sandbox: already running (pid $pid)" >&2
    exit 0
  fi
  # The sandbox shares the machine's network: its nginx needs :80 and its
  # PostgreSQL :$DB_PORT. Say so plainly when something else holds them.
  for port in 80 "$DB_PORT"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      die "port $port on this machine is already taken ($(ss -ltnpH "sport = :$port" 2>/dev/null | sed 's/.*users:((//; s/))$//' | head -n 1)): the sandbox needs it; stop what holds it (e.g. systemctl stop nginx) and start again"
    fi
  done
  t0=$SECONDS
  configure "$v"
  boot "$v"
  pid=$(cat "$PIDFILE")
  wait_ready "$pid" "$v"
  ensure_role "$pid"
  echo "sandbox: running (pid $pid) in $((SECONDS - t0))s; PostgreSQL $DB_USER@127.0.0.1:$DB_PORT" >&2
  ;;
stop)
  lock
  pid=$(running_pid)
  if [ -z "$pid" ]; then echo "sandbox: not running" >&2; exit 0; fi
  kill -s SIGRTMIN+4 "$pid"
  for i in $(seq 1 $((TIMEOUT * 10))); do
    [ -d "/proc/$pid" ] || break
    sleep 0.1
  done
  if [ -d "/proc/$pid" ]; then
    echo "sandbox: poweroff timed out, killing pid $pid" >&2
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
  fi
  rm -f "$PIDFILE"
  echo "sandbox: stopped" >&2
  ;;
purge)
  [ "$(id -u)" = 0 ] || die "must run as root"
  "$0" stop
  purge
  ;;
status)
  pid=$(running_pid)
  if [ -n "$pid" ]; then
    echo "running (pid $pid, $(inside "$pid" systemctl is-system-running 2>/dev/null || true))"
  else
    echo "not running"; exit 3
  fi
  ;;
pid)
  pid=$(running_pid)
  [ -n "$pid" ] || { echo "sandbox: not running" >&2; exit 3; }
  echo "$pid"
  ;;
exec)
  shift
  [ $# -gt 0 ] || die "usage: sandbox.sh exec CMD [ARGS...]"
  pid=$(running_pid)
  [ -n "$pid" ] || die "not running (scripts/sandbox.sh start)"
  wd=$PWD
  case $wd/ in /tmp/*|/run/*) wd=$SANDBOX_DIR ;; esac
  exec nsenter -t "$pid" -m -p --wd="$wd" -- "$@"
  ;;
*)
  echo "usage: sandbox.sh start|stop|purge|status|pid|exec CMD..." >&2
  exit 2
  ;;
esac
