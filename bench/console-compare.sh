#!/usr/bin/env bash
# Live comparison of the admin console: runs the same SHOW commands against a PgBouncer binary and against pggat,
# and diffs the result layouts (column names, order and PostgreSQL types). Exits 1 when they differ.
#
#   bash bench/console-compare.sh --pgbouncer PATH [--pggat-jar JAR] [--keep]     (from the repository root)
#
# Starts a throw-away PostgreSQL, the given PgBouncer and pggat (both with an admin user), asks each console with
# psycopg's simple-query cursor (bench/console/console_layout.py; \gdesc and pgjdbc cannot be used: both send
# the extended protocol or SET commands that PgBouncer's console refuses) and prints the differences.
#
# Needs: PostgreSQL server binaries (pg_config --bindir, or PG_BIN), python3 with psycopg 3 (Debian:
# apt-get install python3-psycopg), java 17+, the pggat jar (mvn -B -q -DskipTests package). PgBouncer 1.25 needs
# libevent-2.1-7, libc-ares2 and libssl3. As root, PostgreSQL and PgBouncer run as the `postgres` user.

set -euo pipefail

PGBOUNCER_BIN="${PGBOUNCER_BIN:-}"
PGGAT_JAR="${PGGAT_JAR:-pooler/target/pggat.jar}"
KEEP=0
COMMANDS=(POOLS STATS STATS_TOTALS STATS_AVERAGES TOTALS CLIENTS SERVERS DATABASES USERS LISTS CONFIG VERSION MEM STATE)

usage() {
  cat <<USAGE
usage: bash bench/console-compare.sh --pgbouncer PATH [--pggat-jar JAR] [--keep]
  --pgbouncer PATH   the PgBouncer binary to compare with (default: pgbouncer on PATH)
  --pggat-jar JAR    the pggat jar (default ${PGGAT_JAR})
  --keep             keep the temporary work directory and the layouts
USAGE
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --pgbouncer) PGBOUNCER_BIN="$2"; shift 2 ;;
    --pggat-jar) PGGAT_JAR="$2"; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "console-compare.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done

die() { echo "console-compare.sh: $*" >&2; exit 2; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

[[ -n "$PGBOUNCER_BIN" ]] || PGBOUNCER_BIN="$(command -v pgbouncer || true)"
[[ -x "$PGBOUNCER_BIN" ]] || die "no PgBouncer binary: give one with --pgbouncer PATH (or apt-get install pgbouncer)"
[[ -f "$PGGAT_JAR" ]] || die "no pggat jar at $PGGAT_JAR: build it with 'mvn -B -q -DskipTests package' or give --pggat-jar"
PG_BIN="${PG_BIN:-$(pg_config --bindir 2>/dev/null || true)}"
[[ -x "$PG_BIN/initdb" ]] || die "no PostgreSQL server binaries (initdb) in '$PG_BIN': set PG_BIN or apt-get install postgresql"
PYTHON="${PGGAT_PYTHON:-/usr/bin/python3}"
"$PYTHON" -c 'import psycopg' 2>/dev/null || die "$PYTHON cannot import psycopg: apt-get install python3-psycopg (or set PGGAT_PYTHON)"
LAYOUT="$(cd "$(dirname "$0")" && pwd)/console/console_layout.py"
missing="$(ldd "$PGBOUNCER_BIN" 2>/dev/null | awk '/not found/ {print $1}' | tr '\n' ' ')"
[[ -z "$missing" ]] || die "$PGBOUNCER_BIN needs shared libraries that are missing: $missing(Debian: apt-get install libevent-2.1-7 libc-ares2 libssl3)"

free_port() { "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
as_service_user() { if [[ $EUID -eq 0 ]]; then (cd "$WORK" && runuser -u postgres -- "$@"); else (cd "$WORK" && "$@"); fi; }

WORK="$(mktemp -d -t pggat-console.XXXXXX)"
chmod 755 "$WORK"
PG_PORT="$(free_port)"; PGB_PORT="$(free_port)"; PGGAT_PORT="$(free_port)"
PGGAT_PID=""

cleanup() {
  [[ -z "$PGGAT_PID" ]] || kill -TERM "$PGGAT_PID" 2>/dev/null || true
  [[ ! -f "$WORK/pgbouncer.pid" ]] || kill -TERM "$(cat "$WORK/pgbouncer.pid")" 2>/dev/null || true
  [[ ! -d "$WORK/pgdata" ]] || as_service_user "$PG_BIN/pg_ctl" -D "$WORK/pgdata" -m immediate stop >/dev/null 2>&1 || true
  if [[ $KEEP -eq 0 ]]; then rm -rf "$WORK"; else log "work directory kept: $WORK"; fi
}
trap cleanup EXIT

[[ $EUID -ne 0 ]] || chown postgres: "$WORK"
log "PostgreSQL on port $PG_PORT"
as_service_user "$PG_BIN/initdb" -D "$WORK/pgdata" -U postgres -A trust >"$WORK/initdb.log" 2>&1
as_service_user "$PG_BIN/pg_ctl" -D "$WORK/pgdata" -l "$WORK/pg.log" -w \
  -o "-p $PG_PORT -k $WORK -c listen_addresses=127.0.0.1" start >/dev/null

log "PgBouncer ($("$PGBOUNCER_BIN" --version | head -1)) on port $PGB_PORT"
cat >"$WORK/userlist.txt" <<USERS
"admin" ""
"app" ""
USERS
cat >"$WORK/pgbouncer.ini" <<INI
[databases]
app = host=127.0.0.1 port=$PG_PORT dbname=postgres user=postgres
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGB_PORT
unix_socket_dir =
auth_type = trust
auth_file = $WORK/userlist.txt
admin_users = admin
pool_mode = transaction
ignore_startup_parameters = extra_float_digits,options
logfile = $WORK/pgbouncer.log
pidfile = $WORK/pgbouncer.pid
INI
[[ $EUID -ne 0 ]] || chown postgres: "$WORK"/*
as_service_user "$PGBOUNCER_BIN" -d "$WORK/pgbouncer.ini"

log "pggat ($PGGAT_JAR) on port $PGGAT_PORT"
cat >"$WORK/pggat.yaml" <<YAML
listen:
  host: 127.0.0.1
  port: $PGGAT_PORT
admin:
  host: 127.0.0.1
  port: 0
  users: [admin]
databases:
  app:
    serverDatabase: postgres
    endpoints:
      - host: 127.0.0.1
        port: $PG_PORT
    users:
      admin:
        auth: trust
        serverUser: postgres
      app:
        auth: trust
        serverUser: postgres
YAML
java -Xmx256m -jar "$PGGAT_JAR" pooler -c "$WORK/pggat.yaml" >"$WORK/pggat.log" 2>&1 &
PGGAT_PID=$!

wait_port() {
  local port="$1" i
  for i in $(seq 300); do
    "$PYTHON" -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && return 0
    sleep 0.1
  done
  die "nothing listens on port $port (logs in $WORK; rerun with --keep)"
}
wait_port "$PGB_PORT"
wait_port "$PGGAT_PORT"

# One transaction through each pooler, so that pools, servers and statistics have rows.
for port in "$PGB_PORT" "$PGGAT_PORT"; do
  "$PYTHON" - "$port" <<'PY'
import sys, psycopg
with psycopg.connect(f"host=127.0.0.1 port={sys.argv[1]} dbname=app user=app sslmode=disable", autocommit=True) as c:
    c.execute("select 1").fetchall()
PY
done

args=()
for c in "${COMMANDS[@]}"; do args+=("SHOW $c"); done
layout() {
  "$PYTHON" "$LAYOUT" "host=127.0.0.1 port=$1 dbname=pgbouncer user=admin sslmode=disable application_name=compare" \
    "${args[@]}" | awk -F'\t' '{print $1 "\t" $2 "\t" $3 "\t" $5}'
}
psql_rows() {
  "$PYTHON" - "$1" "$2" <<'PY'
import sys, psycopg
with psycopg.connect(f"host=127.0.0.1 port={sys.argv[1]} dbname=pgbouncer user=admin sslmode=disable",
                     autocommit=True, cursor_factory=psycopg.ClientCursor) as c:
    for row in c.execute(sys.argv[2]).fetchall():
        print(row[0])
PY
}
layout "$PGB_PORT" >"$WORK/pgbouncer.tsv"
layout "$PGGAT_PORT" >"$WORK/pggat.tsv"

echo
echo "| command | columns (PgBouncer) | columns (pggat) | names and types |"
echo "|---|---|---|---|"
status=0
for c in "${COMMANDS[@]}"; do
  a="$(grep -P "^SHOW $c\t" "$WORK/pgbouncer.tsv" || true)"
  b="$(grep -P "^SHOW $c\t" "$WORK/pggat.tsv" || true)"
  na="$(printf '%s\n' "$a" | grep -c . || true)"; nb="$(printf '%s\n' "$b" | grep -c . || true)"
  if [[ "$a" == "$b" ]]; then verdict="same"; else verdict="**differ**"; status=1; fi
  echo "| SHOW $c | $na | $nb | $verdict |"
done
if [[ $status -ne 0 ]]; then
  echo
  echo "Differences (< PgBouncer, > pggat; command, position, name, type):"
  diff "$WORK/pgbouncer.tsv" "$WORK/pggat.tsv" || true
fi

# Commands whose rows are fixed names (key/value lists): the names must match too.
echo
echo "| command | row names |"
echo "|---|---|"
for c in TOTALS LISTS STATE; do
  rows() { psql_rows "$1" "SHOW $c"; }
  a="$(rows "$PGB_PORT")"; b="$(rows "$PGGAT_PORT")"
  if [[ "$a" == "$b" ]]; then echo "| SHOW $c | same ($(printf '%s\n' "$a" | grep -c .) rows) |"
  else echo "| SHOW $c | **differ**: PgBouncer [$(echo $a)] pggat [$(echo $b)] |"; status=1; fi
done
[[ $KEEP -eq 0 ]] || cp "$WORK/pgbouncer.tsv" "$WORK/pggat.tsv" bench/console/ 2>/dev/null || true
exit $status
