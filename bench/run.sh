#!/usr/bin/env bash
# Side-by-side benchmark: direct PostgreSQL vs PgBouncer vs pggat, all on this machine in one run.
#
#   bash bench/run.sh [--quick] [options]        (from the repository root; --help lists the options)
#
# Starts a throw-away PostgreSQL, a PgBouncer and pggat with equivalent settings, runs the same pgbench
# workloads against each, then holds many idle logged-in clients against each pooler to measure memory.
# Prints a markdown table and writes it to bench/out/results-<date>.md; raw pgbench output and the
# service logs land next to it in bench/out/raw-<date>/. See docs/benchmarks.md for the method.
#
# Needs: PostgreSQL server binaries + pgbench (found via pg_config --bindir), pgbouncer, python3, java 17+.
# Installs nothing. As root, PostgreSQL and PgBouncer run as the `postgres` user (they refuse root).
#
# Extending: a workload is one `add_workload` line in define_workloads. A new target (for example a
# TLS listener or a replica endpoint) needs a start_/stop_ pair, an entry in target_port/target_pid and
# its settings in the write_*_config functions; client() is where client TLS settings go.

set -euo pipefail

# ----------------------------------------------------------------------------------------------------
# Settings (environment variables override the ports and the pggat jar / JVM flags)
# ----------------------------------------------------------------------------------------------------

DURATION=20          # seconds per measured pgbench run; --quick makes it 5
WARMUP=5             # seconds of unrecorded load after a target starts (JIT, caches); --quick makes it 2
THREADS=2            # pgbench -j
SCALE=10             # pgbench -i -s
POOL_SIZE=20         # server connections per (database, user) pool, same for both poolers
MAX_CLIENT_CONN=12000
PG_MAX_CONNECTIONS=1100   # direct runs go up to 1000 clients
QUERY_WAIT=120s      # PgBouncer's default query_wait_timeout; pggat gets the same so session-mode waits match
IDLE_CLIENTS=10000
IDLE_SETTLE=5        # seconds between the last idle login and the memory reading
IDLE_DEADLINE=300    # seconds for all idle logins; logins still pending then count as failed
TARGETS="direct,pgbouncer,pggat"
RUN_IDLE=1
RUN_TLS=0            # --tls: also measure TLS handshakes per second (pgbench -S -C, PGSSLMODE=require, SCRAM)
TLS_CLIENTS=8
TLS_ON=0             # set while the TLS run's poolers are configured and started
KEEP_WORKDIR=0
RUN_REPLICAS=0       # --replicas: read-only run over primary + 2 streaming replicas, and promotion timings
RUN_THROUGHPUT=1
FAILOVERS=10         # promotions timed by --replicas
RUN_SYNC=1           # session-state sync cost: distinct vs same application_name/search_path per client
SYNC_PROCS=10        # pgbench processes in the sync workload (each has its own startup parameters)
SYNC_CLIENTS=5       # clients per pgbench process
SYNC_MAX_DURATION=10 # the sync workload's runs are at most this long (4 runs: 2 variants x 2 poolers)
PGBOUNCER_OPT=""     # --pgbouncer PATH: the PgBouncer binary to compare with (default: Debian's, on PATH)
ODYSSEY_BIN=""       # --odyssey PATH: also measure Odyssey in the throughput workloads
ODYSSEY_WORKERS=2    # Odyssey worker threads: one per core of the benchmark machine, like pggat's event loops
PROFILE=0            # --profile: an extra JFR-recorded run of workload 1 through pggat
PROFILE_WORKLOAD=1   # --profile-workload ID: the workload --profile records
WORKLOAD_FILTER=""   # --workloads LIST: run only these workload ids
TARGETS_GIVEN=0

PGGAT_JAR="${PGGAT_JAR:-pooler/target/pggat.jar}"
PGGAT_JAVA_OPTS="${PGGAT_JAVA_OPTS:--Xmx512m}"
PGGAT_BUILD_CMD=(mvn -B -q -DskipTests package)

usage() {
  cat <<EOF
usage: bash bench/run.sh [--quick] [--duration S] [--warmup S] [--targets LIST] [--idle-clients N]
                         [--no-idle] [--keep] [--replicas | --replicas-only] [--failovers N]
                         [--no-state-sync | --state-sync-only]
                         [--tls | --tls-only] [--pgbouncer PATH] [--odyssey PATH] [--profile]
                         [--profile-workload ID] [--scale N] [--workloads LIST]
  --quick            5 s per run, 2 s warm-up (default: ${DURATION} s, ${WARMUP} s)
  --duration S       seconds per measured run
  --warmup S         seconds of unrecorded load after each target starts (0 = none)
  --targets LIST     comma-separated subset of: direct,pgbouncer,pggat,odyssey (default: all; odyssey
                     only with --odyssey)
  --idle-clients N   idle connections per pooler in the memory test (default ${IDLE_CLIENTS})
  --no-idle          skip the idle-connections memory test
  --replicas         also run the replica workload: pggat over a primary and 2 streaming replicas
                     (share of queries per node, TPS next to primary-only routing) and time promotions
  --replicas-only    only the replica workload and the promotion timings (pggat only)
  --failovers N      promotions timed by the replica workload (default ${FAILOVERS})
  --no-state-sync    skip the session-state sync workload (on by default): ${SYNC_PROCS} pgbench processes x
                     ${SYNC_CLIENTS} clients whose application_name and search_path differ, vs all the same
  --state-sync-only  only the session-state sync workload (PgBouncer and pggat)
  --tls              also run the TLS workload: pgbench -S -C (a TLS handshake and SCRAM login per
                     transaction) with PGSSLMODE=require against PgBouncer and pggat, both with TLS
  --tls-only         only the TLS workload (no throughput or idle runs)
  --pgbouncer PATH   the PgBouncer binary to measure (default: pgbouncer on PATH, Debian's package)
  --odyssey PATH     also measure Odyssey (this binary) in the throughput workloads, same pool and auth
  --profile          after workload 1, run it once more through pggat under a JFR recording and print the
                     hot methods, allocated bytes and context switches per transaction
  --profile-workload ID  as --profile, recording workload ID instead of 1
  --scale N          pgbench -i scale (default ${SCALE}); smaller loads faster, for quick A/B runs
  --workloads LIST   comma-separated workload ids to run (default: all; see define_workloads)
  --keep             keep the temporary work directory (holds the generated password)
environment: PGGAT_JAR (default ${PGGAT_JAR}), PGGAT_JAVA_OPTS (default "${PGGAT_JAVA_OPTS}"),
             PG_PORT, PGBOUNCER_PORT, PGGAT_PORT, PGGAT_ADMIN_PORT, ODYSSEY_PORT (default: free ports)
EOF
}

parse_args() {
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --quick) DURATION=5; WARMUP=2 ;;
      --duration) DURATION="${2:?--duration needs seconds}"; shift ;;
      --warmup) WARMUP="${2:?--warmup needs seconds}"; shift ;;
      --targets) TARGETS="${2:?--targets needs a list}"; TARGETS_GIVEN=1; shift ;;
      --pgbouncer) PGBOUNCER_OPT="${2:?--pgbouncer needs a path}"; shift ;;
      --odyssey) ODYSSEY_BIN="${2:?--odyssey needs a path}"; shift ;;
      --profile) PROFILE=1 ;;
      --profile-workload) PROFILE=1; PROFILE_WORKLOAD="${2:?--profile-workload needs a workload id}"; shift ;;
      --scale) SCALE="${2:?--scale needs a number}"; shift ;;
      --workloads) WORKLOAD_FILTER="${2:?--workloads needs a list of ids}"; shift ;;
      --idle-clients) IDLE_CLIENTS="${2:?--idle-clients needs a number}"; shift ;;
      --no-idle) RUN_IDLE=0 ;;
      --replicas) RUN_REPLICAS=1 ;;
      --replicas-only) RUN_REPLICAS=1; RUN_THROUGHPUT=0; RUN_IDLE=0; RUN_SYNC=0; TARGETS="pggat" ;;
      --failovers) FAILOVERS="${2:?--failovers needs a number}"; shift ;;
      --no-state-sync) RUN_SYNC=0 ;;
      --state-sync-only) RUN_SYNC=1; RUN_THROUGHPUT=0; RUN_IDLE=0 ;;
      --tls) RUN_TLS=1 ;;
      --tls-only) RUN_TLS=1; RUN_THROUGHPUT=0; RUN_IDLE=0; RUN_SYNC=0 ;;
      --keep) KEEP_WORKDIR=1 ;;
      -h|--help) usage; exit 0 ;;
      *) echo "run.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
    shift
  done
  if [[ -n "$ODYSSEY_BIN" ]] && ((TARGETS_GIVEN == 0)); then TARGETS+=",odyssey"; fi
  local t
  for t in ${TARGETS//,/ }; do
    case "$t" in direct|pgbouncer|pggat|odyssey) ;; *)
      echo "run.sh: --targets: unknown target '$t' (accepted: direct, pgbouncer, pggat, odyssey)" >&2; exit 2 ;;
    esac
  done
  if wants odyssey && [[ -z "$ODYSSEY_BIN" ]]; then
    echo "run.sh: --targets names odyssey but no binary was given: add --odyssey PATH" >&2; exit 2
  fi
  if ((PROFILE)) && ! wants pggat; then
    echo "run.sh: --profile records pggat: include pggat in --targets" >&2; exit 2
  fi
}

wants() { [[ ",${TARGETS}," == *",$1,"* ]]; }
log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ----------------------------------------------------------------------------------------------------
# Workloads: id | pool mode | pgbench arguments | description | seconds allowed for connecting
# ----------------------------------------------------------------------------------------------------

# pgbench's -T clock starts before its clients connect, while its TPS leaves the connection time out.
# Workloads with many clients get extra seconds so that about DURATION seconds are actually measured
# (1000 SCRAM logins take ~7 s on 2 cores).
W_IDS=(); W_MODE=(); W_ARGS=(); W_LABEL=(); W_CONNECT=()
add_workload() {
  [[ -z "$WORKLOAD_FILTER" || ",$WORKLOAD_FILTER," == *",$1,"* ]] || return 0
  W_IDS+=("$1"); W_MODE+=("$2"); W_ARGS+=("$3"); W_LABEL+=("$4"); W_CONNECT+=("${5:-0}"); }

define_workloads() {
  add_workload 1 transaction "-S -M simple -c 50"    "select-only, simple protocol, 50 clients"
  add_workload 2 transaction "-S -M extended -c 50"  "select-only, extended protocol, 50 clients"
  # 50 clients on a pool of 20 in session mode: 30 clients queue for a server the whole run.
  add_workload 3 session     "-S -M simple -c 50"    "select-only, simple, 50 clients (30 queue)"
  add_workload 4 transaction "-S -M simple -c 50 -C" "select-only, simple, new connection per tx"
  add_workload 5 transaction "-S -M simple -c 1000"  "select-only, simple protocol, 1000 clients" 15
  # Named prepared statements in transaction mode: pggat maps them across servers. PgBouncer 1.18 cannot
  # (its column shows the failure); compare pggat here with PgBouncer's -M extended in workload 2.
  add_workload 6 transaction "-S -M prepared -c 50"  "select-only, prepared statements, 50 clients"
}

# ----------------------------------------------------------------------------------------------------
# Prerequisites, privileges, work directory
# ----------------------------------------------------------------------------------------------------

APT_LINE="apt-get install -y pgbouncer postgresql"

check_prerequisites() {
  local missing=0
  if ! command -v pg_config >/dev/null; then
    echo "run.sh: pg_config not found (needed to locate the PostgreSQL binaries). Install with: $APT_LINE" >&2
    exit 2
  fi
  PG_BIN="$(pg_config --bindir)"
  local b
  for b in initdb pg_ctl postgres psql pg_isready pgbench pg_basebackup; do
    if [[ ! -x "$PG_BIN/$b" ]]; then
      echo "run.sh: $PG_BIN/$b not found. Install with: $APT_LINE" >&2
      missing=1
    fi
  done
  if wants pgbouncer; then
    if [[ -n "$PGBOUNCER_OPT" ]]; then
      PGBOUNCER_BIN="$(realpath "$PGBOUNCER_OPT" 2>/dev/null || true)"
      if [[ ! -x "$PGBOUNCER_BIN" ]]; then
        echo "run.sh: --pgbouncer $PGBOUNCER_OPT: not an executable file" >&2
        missing=1
      fi
    else
      PGBOUNCER_BIN="$(command -v pgbouncer || true)"
      [[ -z "$PGBOUNCER_BIN" && -x /usr/sbin/pgbouncer ]] && PGBOUNCER_BIN=/usr/sbin/pgbouncer
      if [[ -z "$PGBOUNCER_BIN" ]]; then
        echo "run.sh: pgbouncer not found. Install with: $APT_LINE (or pass --pgbouncer PATH)" >&2
        missing=1
      fi
    fi
  fi
  if wants odyssey; then
    ODYSSEY_BIN="$(realpath "$ODYSSEY_BIN" 2>/dev/null || echo "$ODYSSEY_BIN")"
    if [[ ! -x "$ODYSSEY_BIN" ]]; then
      echo "run.sh: --odyssey $ODYSSEY_BIN: not an executable file" >&2
      missing=1
    fi
  fi
  if ((PROFILE)) && ! command -v jcmd >/dev/null; then
    echo "run.sh: --profile needs jcmd (part of a JDK 17+, not of a JRE)" >&2
    missing=1
  fi
  if ! command -v python3 >/dev/null; then
    echo "run.sh: python3 not found (needed for free ports and the idle-client test)" >&2
    missing=1
  fi
  if wants pggat && ! command -v java >/dev/null; then
    echo "run.sh: java not found (pggat needs Java 17+)" >&2
    missing=1
  fi
  if [[ $EUID -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
    echo "run.sh: running as root needs a 'postgres' OS user to run PostgreSQL and PgBouncer" >&2
    missing=1
  fi
  [[ $missing -eq 0 ]] || exit 2
}

# PostgreSQL and PgBouncer refuse to run as root; as root they run as `postgres`, otherwise as us.
# runuser's PAM session (pam_limits) drops the open-files soft limit back to 1024, which would cap
# PgBouncer at ~1000 clients, so the command re-raises it to ours before exec.
if [[ $EUID -eq 0 ]]; then
  # shellcheck disable=SC2016 # expanded by the inner sh
  SERVICE_USER_CMD=(runuser -u postgres -- sh -c 'ulimit -n "$1" 2>/dev/null || :; shift; exec "$@"' sh)
else
  SERVICE_USER_CMD=()
fi
as_service_user() {
  if [[ $EUID -eq 0 ]]; then
    (cd "$WORK" && "${SERVICE_USER_CMD[@]}" "$(ulimit -n)" "$@")
  else
    (cd "$WORK" && "$@")
  fi
}
give_to_service_user() { [[ $EUID -ne 0 ]] || chown -R postgres: "$@"; }

# 10k idle clients need 10k descriptors in the client and in the pooler (PgBouncer: plus server side).
raise_fd_limit() {
  local want=$((IDLE_CLIENTS + MAX_CLIENT_CONN / 2 + 4096))
  if [[ $(ulimit -Hn) != unlimited && $(ulimit -Hn) -lt $want ]]; then
    ulimit -Hn "$want" 2>/dev/null || true   # only works with CAP_SYS_RESOURCE
  fi
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  if [[ $(ulimit -n) != unlimited && $(ulimit -n) -lt $((IDLE_CLIENTS + 1024)) ]]; then
    log "warning: open-files limit is $(ulimit -n); ${IDLE_CLIENTS} idle clients may fail (raise the hard limit)"
  fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

make_workdir() {
  WORK="$(mktemp -d -t pggat-bench.XXXXXX)"
  chmod 700 "$WORK"
  mkdir -p "$WORK/pgdata" "$WORK/sock" "$WORK/logs" "$WORK/pgbouncer" "$WORK/pggat" "$WORK/odyssey"
  give_to_service_user "$WORK"
  STAMP="$(date +%Y%m%d-%H%M%S)"
  OUT_DIR="bench/out"
  RAW_DIR="$OUT_DIR/raw-$STAMP"
  RESULTS_FILE="$OUT_DIR/results-$STAMP.md"
  mkdir -p "$RAW_DIR"
  PG_PORT="${PG_PORT:-$(free_port)}"
  PGBOUNCER_PORT="${PGBOUNCER_PORT:-$(free_port)}"
  PGGAT_PORT="${PGGAT_PORT:-$(free_port)}"
  PGGAT_ADMIN_PORT="${PGGAT_ADMIN_PORT:-$(free_port)}"
  ODYSSEY_PORT="${ODYSSEY_PORT:-$(free_port)}"
  BENCH_PASSWORD="$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')"
  set_client_env
}

# ----------------------------------------------------------------------------------------------------
# Targets. Each has start_X / stop_X; target_port / target_pid map a target name to its listener/process.
# ----------------------------------------------------------------------------------------------------

PG_PID=""; PGBOUNCER_PID=""; PGGAT_PID=""; ODYSSEY_PID=""; IDLE_PID=""
declare -A TARGET_DOWN=()   # target -> why it could not be measured

target_port() {
  case "$1" in
    direct) echo "$PG_PORT" ;; pgbouncer) echo "$PGBOUNCER_PORT" ;; pggat) echo "$PGGAT_PORT" ;;
    odyssey) echo "$ODYSSEY_PORT" ;;
  esac
}
target_pid() {
  case "$1" in
    direct) echo "$PG_PID" ;; pgbouncer) echo "$PGBOUNCER_PID" ;; pggat) echo "$PGGAT_PID" ;;
    odyssey) echo "$ODYSSEY_PID" ;;
  esac
}
target_title() {
  case "$1" in direct) echo "direct" ;; pgbouncer) echo "PgBouncer" ;; pggat) echo "pggat" ;; odyssey) echo "Odyssey" ;; esac
}

# Client settings shared by pgbench, psql and the idle clients; TLS runs would set sslmode here.
set_client_env() { CLIENT_ENV=(PGPASSWORD="$BENCH_PASSWORD" PGSSLMODE=disable PGCONNECT_TIMEOUT=30); }
client() { env "${CLIENT_ENV[@]}" "$@"; }

# Ready means: the listener answers and user bench can run a query with its password.
wait_ready() {
  local target="$1" timeout="$2" port pid deadline err
  port="$(target_port "$target")"; pid="$(target_pid "$target")"
  deadline=$((SECONDS + timeout))
  while ((SECONDS < deadline)); do
    if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
      TARGET_DOWN[$target]="process exited during startup (see raw logs)"
      return 1
    fi
    if "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -d bench -U bench -t 1; then
      if err="$(client "$PG_BIN/psql" -X -At -h 127.0.0.1 -p "$port" -U bench -d bench -c 'SELECT 1' 2>&1)"; then
        return 0
      fi
      TARGET_DOWN[$target]="listening but 'SELECT 1' as bench failed: ${err//$'\n'/ }"
      return 1
    fi
    sleep 0.5
  done
  TARGET_DOWN[$target]="not accepting connections on port $port after ${timeout}s"
  return 1
}

# fsync/full_page_writes/synchronous_commit are off: after init every workload is read-only, and
# durability only matters for the one-time pgbench -i load.
start_postgres() {
  log "initdb + start PostgreSQL on port $PG_PORT"
  as_service_user "$PG_BIN/initdb" -D "$WORK/pgdata" -U postgres -E UTF8 --locale=C \
    --auth-local=trust --auth-host=scram-sha-256 >"$WORK/logs/initdb.log" 2>&1
  cat >>"$WORK/pgdata/postgresql.conf" <<EOF

# pggat benchmark settings
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$WORK/sock'
max_connections = $PG_MAX_CONNECTIONS
shared_buffers = 256MB
password_encryption = scram-sha-256
fsync = off
full_page_writes = off
synchronous_commit = off
EOF
  as_service_user "$PG_BIN/pg_ctl" -D "$WORK/pgdata" -l "$WORK/logs/postgres.log" -w -t 120 start >/dev/null
  PG_PID="$(head -1 "$WORK/pgdata/postmaster.pid")"
}

stop_postgres() {
  [[ -n "$PG_PID" ]] || return 0
  as_service_user "$PG_BIN/pg_ctl" -D "$WORK/pgdata" -m fast -w -t 60 stop >/dev/null 2>&1 || kill -9 "$PG_PID" 2>/dev/null || true
  PG_PID=""
}

psql_superuser() {
  as_service_user "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$WORK/sock" -p "$PG_PORT" -U postgres -d postgres "$@"
}

# User bench with a SCRAM password (the generated one), database bench, pgbench tables at scale $SCALE.
setup_database() {
  log "create user/database bench, pgbench -i -s $SCALE"
  # The password goes through stdin so that it never appears in a process listing.
  printf "CREATE ROLE bench LOGIN PASSWORD '%s';\n" "$BENCH_PASSWORD" | psql_superuser
  psql_superuser -c "CREATE DATABASE bench OWNER bench"
  client "$PG_BIN/pgbench" -i -q -s "$SCALE" -h 127.0.0.1 -p "$PG_PORT" -U bench bench >"$RAW_DIR/pgbench-init.txt" 2>&1
  BENCH_VERIFIER="$(psql_superuser -c "SELECT rolpassword FROM pg_authid WHERE rolname = 'bench'")"
  [[ "$BENCH_VERIFIER" == SCRAM-SHA-256\$* ]] || { echo "run.sh: bench's password is not stored as SCRAM" >&2; exit 1; }
}

# PgBouncer keeps only the SCRAM verifier; it can log in to PostgreSQL with it because the verifier
# is PostgreSQL's own (same salt), using the key the client proved during its SCRAM login.
write_pgbouncer_config() {
  local mode="$1" dir="$WORK/pgbouncer"
  printf '"bench" "%s"\n' "$BENCH_VERIFIER" >"$dir/userlist.txt"
  cat >"$dir/pgbouncer.ini" <<EOF
[databases]
bench = host=127.0.0.1 port=$PG_PORT dbname=bench

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGBOUNCER_PORT
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $dir/userlist.txt
pool_mode = $mode
default_pool_size = $POOL_SIZE
max_client_conn = $MAX_CLIENT_CONN
ignore_startup_parameters = extra_float_digits,options
server_reset_query = DISCARD ALL
query_wait_timeout = ${QUERY_WAIT%s}
logfile = $WORK/logs/pgbouncer-$mode.log
pidfile = $dir/pgbouncer.pid
EOF
  if ((TLS_ON)); then
    cat >>"$dir/pgbouncer.ini" <<EOF
client_tls_sslmode = require
client_tls_cert_file = $WORK/tls/server.crt
client_tls_key_file = $WORK/tls/server.key
EOF
  fi
  chmod 600 "$dir/userlist.txt" "$dir/pgbouncer.ini"
  give_to_service_user "$dir"
}

start_pgbouncer() {
  local mode="$1"
  log "start PgBouncer ($mode mode) on port $PGBOUNCER_PORT"
  write_pgbouncer_config "$mode"
  rm -f "$WORK/pgbouncer/pgbouncer.pid"
  if ! as_service_user "$PGBOUNCER_BIN" -d "$WORK/pgbouncer/pgbouncer.ini" >>"$WORK/logs/pgbouncer-start.log" 2>&1; then
    TARGET_DOWN[pgbouncer]="pgbouncer -d failed (see pgbouncer-start.log)"
    return 1
  fi
  local i
  for i in $(seq 50); do [[ -s "$WORK/pgbouncer/pgbouncer.pid" ]] && break; sleep 0.1; done
  PGBOUNCER_PID="$(cat "$WORK/pgbouncer/pgbouncer.pid" 2>/dev/null || true)"
  wait_ready pgbouncer 30
}

stop_pgbouncer() {
  [[ -n "$PGBOUNCER_PID" ]] || return 0
  kill -TERM "$PGBOUNCER_PID" 2>/dev/null || true
  wait_gone "$PGBOUNCER_PID"
  PGBOUNCER_PID=""
}

# Same pool as PgBouncer: pool of 20, same mode, same user and password (client side checked against
# the SCRAM verifier; the plain password, passed by environment, is for logging in to PostgreSQL).
write_pggat_config() {
  local mode="$1"
  cat >"$WORK/pggat/pggat.yaml" <<EOF
listen:
  host: 127.0.0.1
  port: $PGGAT_PORT
admin:
  enabled: true
  host: 127.0.0.1
  port: $PGGAT_ADMIN_PORT
limits:
  maxClientConnections: $MAX_CLIENT_CONN
timeouts:
  queryWait: $QUERY_WAIT
pools:
  mode: $mode
  maxServerConnections: $POOL_SIZE
  minServerConnections: 0
  resetQuery: DISCARD ALL
databases:
  bench:
    serverDatabase: bench
    endpoints:
      - host: 127.0.0.1
        port: ${PGGAT_PRIMARY_PORT:-$PG_PORT}
        role: primary
${PGGAT_REPLICA_ENDPOINTS:-}
    users:
      bench:
        password: "$BENCH_VERIFIER"
        auth: scram-sha-256
        serverUser: bench
        serverPassword: \${PGGAT_BENCH_SERVER_PASSWORD}
EOF
  if ((TLS_ON)); then
    cat >>"$WORK/pggat/pggat.yaml" <<EOF
tls:
  mode: require
  certFile: $WORK/tls/server.crt
  keyFile: $WORK/tls/server.key
EOF
  fi
  chmod 600 "$WORK/pggat/pggat.yaml"
}

# -XX:+PrintCommandLineFlags makes the JVM log the flags it settled on (heap, GC), for the report.
set_pggat_cmd() {
  # shellcheck disable=SC2206 # the options are a space-separated list on purpose
  local opts=($PGGAT_JAVA_OPTS)
  PGGAT_CMD=(java "${opts[@]}" -XX:+PrintCommandLineFlags -jar "$PGGAT_JAR" pooler --config "$WORK/pggat/pggat.yaml")
}

ensure_pggat_jar() {
  [[ -f "$PGGAT_JAR" ]] && return 0
  if command -v mvn >/dev/null; then
    log "$PGGAT_JAR missing; building it: ${PGGAT_BUILD_CMD[*]}"
    "${PGGAT_BUILD_CMD[@]}" >"$RAW_DIR/pggat-build.log" 2>&1 || true
  fi
  if [[ ! -f "$PGGAT_JAR" ]]; then
    TARGET_DOWN[pggat]="$PGGAT_JAR not found (build it with: ${PGGAT_BUILD_CMD[*]}; log in raw dir)"
    return 1
  fi
}

start_pggat() {
  local mode="$1"
  [[ -z "${TARGET_DOWN[pggat]:-}" ]] || return 1
  ensure_pggat_jar || return 1
  set_pggat_cmd
  log "start pggat ($mode mode) on port $PGGAT_PORT: ${PGGAT_CMD[*]}"
  write_pggat_config "$mode"
  PGGAT_BENCH_SERVER_PASSWORD="$BENCH_PASSWORD" "${PGGAT_CMD[@]}" >"$WORK/logs/pggat-$mode.log" 2>&1 &
  PGGAT_PID=$!
  if ! wait_ready pggat 60; then
    stop_pggat
    return 1
  fi
  PGGAT_JVM_FLAGS="$(grep -m1 -- '-XX:' "$WORK/logs/pggat-$mode.log" || true)"
}

stop_pggat() {
  [[ -n "$PGGAT_PID" ]] || return 0
  kill -TERM "$PGGAT_PID" 2>/dev/null || true
  wait_gone "$PGGAT_PID" 40   # pggat drains on SIGTERM (timeouts.shutdown); no clients remain here
  PGGAT_PID=""
}

wait_gone() {
  local pid="$1" limit="${2:-20}" i
  for i in $(seq $((limit * 10))); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}

# Odyssey with the same pool as the others: pool_size per (database, user) route, the same mode, SCRAM
# checked against the same stored verifier, the plain password for its own logins to PostgreSQL. Only
# the throughput workloads use it (no TLS listener is configured).
write_odyssey_config() {
  local mode="$1" dir="$WORK/odyssey"
  cat >"$dir/odyssey.conf" <<EOF
daemonize no
pid_file "$dir/odyssey.pid"
log_file "$WORK/logs/odyssey-$mode.log"
log_format "%p %t %l [%i %s] (%c) %m\n"
log_to_stdout no
log_session no
log_query no
log_stats no
workers $ODYSSEY_WORKERS
resolvers 1

listen {
	host "127.0.0.1"
	port $ODYSSEY_PORT
	backlog 4096
}

storage "postgres" {
	type "remote"
	host "127.0.0.1"
	port $PG_PORT
}

database "bench" {
	user "bench" {
		authentication "scram-sha-256"
		password "$BENCH_VERIFIER"
		storage "postgres"
		storage_db "bench"
		storage_user "bench"
		storage_password "$BENCH_PASSWORD"
		pool "$mode"
		pool_size $POOL_SIZE
		pool_timeout ${QUERY_WAIT%s}000
		pool_discard yes
		client_fwd_error yes
	}
}
EOF
  chmod 600 "$dir/odyssey.conf"
  give_to_service_user "$dir"
}

start_odyssey() {
  local mode="$1" i
  [[ -z "${TARGET_DOWN[odyssey]:-}" ]] || return 1
  log "start Odyssey ($mode mode) on port $ODYSSEY_PORT"
  write_odyssey_config "$mode"
  rm -f "$WORK/odyssey/odyssey.pid"
  as_service_user "$ODYSSEY_BIN" "$WORK/odyssey/odyssey.conf" >>"$WORK/logs/odyssey-start.log" 2>&1 &
  for i in $(seq 100); do [[ -s "$WORK/odyssey/odyssey.pid" ]] && break; sleep 0.1; done
  ODYSSEY_PID="$(cat "$WORK/odyssey/odyssey.pid" 2>/dev/null || true)"
  if [[ -z "$ODYSSEY_PID" ]]; then
    TARGET_DOWN[odyssey]="no pid file after 10 s (see odyssey-start.log)"
    return 1
  fi
  wait_ready odyssey 30
}

stop_odyssey() {
  [[ -n "$ODYSSEY_PID" ]] || return 0
  kill -TERM "$ODYSSEY_PID" 2>/dev/null || true
  wait_gone "$ODYSSEY_PID"
  ODYSSEY_PID=""
}

start_poolers() {
  local mode="$1"
  if wants pgbouncer; then start_pgbouncer "$mode" || log "PgBouncer unavailable: ${TARGET_DOWN[pgbouncer]}"; fi
  if wants pggat; then start_pggat "$mode" || log "pggat unavailable: ${TARGET_DOWN[pggat]}"; fi
}
# Odyssey takes part in the throughput workloads only (started by run_throughput).
stop_poolers() { stop_pggat; stop_pgbouncer; stop_odyssey; }


target_up() { wants "$1" && [[ -z "${TARGET_DOWN[$1]:-}" ]] && [[ -n "$(target_pid "$1")" ]]; }

# ----------------------------------------------------------------------------------------------------
# Measurements
# ----------------------------------------------------------------------------------------------------

declare -A TPS=() TPS_BASIS=() LAT=() ERRS=() CPU_US=() CSW=() XACTS=()

CLK_TCK="$(getconf CLK_TCK)"
# CPU time (user + system, in clock ticks) of a whole process, all its threads included: fields 14 and 15
# of /proc/PID/stat, counted after the command name, which may hold spaces.
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $12 + $13}'; }
# Context switches (voluntary + involuntary) summed over the live threads of a process.
ctx_switches() {
  cat /proc/"$1"/task/*/status 2>/dev/null | awk '/^(non)?voluntary_ctxt_switches:/{n += $2} END{print n + 0}'
}

# Runs pgbench against one target and records TPS, average latency and errors under "<id>.<target>";
# for a pooler also its CPU time per transaction (us) and context switches per transaction.
run_pgbench() {
  local id="$1" target="$2" seconds="$3" args="$4" out="${5:-}" port rc=0 pid="" t0="" t1="" c0="" c1=""
  port="$(target_port "$target")"
  out="${out:-$RAW_DIR/w${id}-${target}.txt}"
  [[ "$target" == direct ]] || pid="$(target_pid "$target")"
  if [[ -n "$pid" ]]; then t0="$(cpu_ticks "$pid")"; c0="$(ctx_switches "$pid")"; fi
  # shellcheck disable=SC2086 # $args is a list of pgbench options
  client timeout --signal=INT $((seconds + 180)) "$PG_BIN/pgbench" -n -j "$THREADS" -T "$seconds" $args \
    -h 127.0.0.1 -p "$port" -U bench bench >"$out" 2>&1 || rc=$?
  if [[ -n "$pid" ]]; then t1="$(cpu_ticks "$pid")"; c1="$(ctx_switches "$pid")"; fi
  [[ "$id" == warmup ]] && return 0

  local key="$id.$target" failed aborted xacts
  xacts="$(awk '/^number of transactions actually processed: /{print $6; exit}' "$out")"
  XACTS[$key]="${xacts:-}"
  if [[ -n "$t0" && -n "$t1" && "${xacts:-0}" -gt 0 ]]; then
    CPU_US[$key]="$(awk -v a="$t0" -v b="$t1" -v hz="$CLK_TCK" -v n="$xacts" 'BEGIN{printf "%.2f", (b - a) * 1e6 / hz / n}')"
    CSW[$key]="$(awk -v a="$c0" -v b="$c1" -v n="$xacts" 'BEGIN{printf "%.3f", (b - a) / n}')"
  fi
  TPS[$key]="$(awk '/^tps = /{print $3; exit}' "$out")"
  TPS_BASIS[$key]="$(sed -n 's/^tps = [0-9.]* (\(.*\))$/\1/p' "$out" | head -1)"
  LAT[$key]="$(awk '/^latency average = /{print $4; exit}' "$out")"
  failed="$(awk '/^number of failed transactions: /{print $5; exit}' "$out")"
  aborted="$(grep -cE '^(pgbench: error: )?client [0-9]+ aborted' "$out" || true)"
  ERRS[$key]="$(( ${failed:-0} + aborted ))"
  if [[ $rc -eq 124 ]]; then ERRS[$key]+=" (timed out)"
  elif [[ $rc -ne 0 ]]; then ERRS[$key]+=" (exit $rc)"; fi
  log "  w$id $target: tps=${TPS[$key]:-n/a} lat=${LAT[$key]:-n/a}ms errors=${ERRS[$key]}" \
    "cpu=${CPU_US[$key]:-n/a}us/txn ctxsw=${CSW[$key]:-n/a}/txn"
}

warm_up() {
  local target="$1" args="${2:--S -M simple -c 50}"
  ((WARMUP > 0)) || return 0
  log "  warm-up $target (${WARMUP}s, $args)"
  run_pgbench warmup "$target" "$WARMUP" "$args" "$RAW_DIR/warmup-${target}-$(date +%s).txt"
}

run_throughput() {
  local mode i target
  if wants direct; then warm_up direct; fi
  for mode in transaction session; do
    local any=0
    for i in "${!W_IDS[@]}"; do [[ "${W_MODE[$i]}" == "$mode" ]] && any=1; done
    ((any)) || continue
    start_poolers "$mode"
    if wants odyssey; then start_odyssey "$mode" || log "Odyssey unavailable: ${TARGET_DOWN[odyssey]}"; fi
    for target in pgbouncer odyssey pggat; do if target_up "$target"; then warm_up "$target"; fi; done
    for i in "${!W_IDS[@]}"; do
      [[ "${W_MODE[$i]}" == "$mode" ]] || continue
      local seconds=$((DURATION + W_CONNECT[i]))
      log "workload ${W_IDS[$i]} ($mode): pgbench ${W_ARGS[$i]} -j $THREADS -T $seconds"
      if [[ " ${W_ARGS[$i]} " == *" -C "* ]]; then
        # The login path gets its own warm-up: a JIT-compiled pooler has not compiled it after the query warm-up,
        # and a few thousand logins would otherwise be measured mostly as compilation.
        for target in pgbouncer odyssey pggat; do if target_up "$target"; then warm_up "$target" "${W_ARGS[$i]}"; fi; done
      fi
      for target in direct pgbouncer odyssey pggat; do
        if target_up "$target"; then run_pgbench "${W_IDS[$i]}" "$target" "$seconds" "${W_ARGS[$i]}"; fi
      done
      if target_up pggat; then save_metrics "w${W_IDS[$i]}"; fi
      if ((PROFILE)) && [[ "${W_IDS[$i]}" == "$PROFILE_WORKLOAD" ]] && target_up pggat; then profile_pggat "$i"; fi
    done
    stop_poolers
  done
}

# --profile: workload 1 once more through pggat, under a JFR recording (jcmd JFR.start/stop on the running
# JVM, so the warm-up and the measured run above are not recorded). bench/JfrSummary.java reads the
# recording: hot methods, allocated bytes per transaction, which threads ran.
profile_pggat() {
  local i="$1" jfr="$RAW_DIR/profile-w${W_IDS[$1]}.jfr" seconds=$((DURATION + W_CONNECT[$1]))
  log "profile: workload ${W_IDS[$i]} through pggat under JFR (${seconds}s)"
  rm -f "$jfr"
  if ! jcmd "$PGGAT_PID" JFR.start name=bench settings=profile >"$RAW_DIR/profile-jcmd.txt" 2>&1; then
    log "  JFR.start failed (see profile-jcmd.txt)"
    return 0
  fi
  run_pgbench profile pggat "$seconds" "${W_ARGS[$i]}"
  jcmd "$PGGAT_PID" JFR.stop name=bench filename="$jfr" >>"$RAW_DIR/profile-jcmd.txt" 2>&1 || true
  if [[ -s "$jfr" ]]; then
    java bench/JfrSummary.java "$jfr" "${XACTS[profile.pggat]:-0}" >"$RAW_DIR/profile-w${W_IDS[$i]}.txt" 2>&1 || true
    PROFILE_SUMMARY="$(cat "$RAW_DIR/profile-w${W_IDS[$i]}.txt")"
  fi
}

# TLS handshakes per second: every pgbench transaction opens a new TLS connection and logs in with SCRAM,
# so TPS counts handshakes + logins. Both poolers serve the same self-made certificate (EC P-256).
declare -A TLS_TPS=() TLS_ERRS=()

make_tls_cert() {
  mkdir -p "$WORK/tls"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=localhost" \
    -keyout "$WORK/tls/server.key" -out "$WORK/tls/server.crt" >"$WORK/logs/openssl.log" 2>&1
  chmod 600 "$WORK/tls/server.key"
  give_to_service_user "$WORK/tls"
}

run_tls() {
  ((RUN_TLS)) || return 0
  if ! command -v openssl >/dev/null; then
    log "TLS workload skipped: openssl not found"
    return 0
  fi
  make_tls_cert
  TLS_ON=1
  local target saved=("${CLIENT_ENV[@]}")
  # Before the poolers start: their readiness check logs in with these settings too.
  CLIENT_ENV=(PGPASSWORD="$BENCH_PASSWORD" PGSSLMODE=require PGCONNECT_TIMEOUT=30)
  start_poolers transaction
  log "TLS workload: pgbench -S -M simple -c $TLS_CLIENTS -C, PGSSLMODE=require"
  for target in pgbouncer pggat; do
    target_up "$target" || continue
    run_pgbench tls "$target" "$DURATION" "-S -M simple -c $TLS_CLIENTS -C" "$RAW_DIR/tls-${target}.txt"
    TLS_TPS[$target]="${TPS[tls.$target]:-}"
    TLS_ERRS[$target]="${ERRS[tls.$target]:-}"
  done
  CLIENT_ENV=("${saved[@]}")
  stop_poolers
  TLS_ON=0
}

declare -A IDLE_OK=() IDLE_OPEN=() IDLE_SECS=() IDLE_RSS_BEFORE=() IDLE_RSS_WITH=() IDLE_FAIL=()

rss_kb() { awk '/^VmRSS:/{print $2}' "/proc/$1/status" 2>/dev/null || true; }

# Opens $IDLE_CLIENTS logged-in idle clients against a freshly started pooler and reads its VmRSS
# before and while they are held.
idle_test() {
  local target="$1" pid port out ready="" i
  pid="$(target_pid "$target")"; port="$(target_port "$target")"
  out="$RAW_DIR/idle-$target.txt"
  IDLE_RSS_BEFORE[$target]="$(rss_kb "$pid")"
  log "idle test $target: $IDLE_CLIENTS clients (RSS before: ${IDLE_RSS_BEFORE[$target]} kB)"
  # Through env (which execs), not the client function, so that $! is the python process itself.
  env "${CLIENT_ENV[@]}" python3 bench/idle_clients.py --host 127.0.0.1 --port "$port" --user bench --database bench \
    --clients "$IDLE_CLIENTS" --deadline "$IDLE_DEADLINE" >"$out" 2>"$RAW_DIR/idle-$target.err" &
  IDLE_PID=$!
  for i in $(seq $((IDLE_DEADLINE + 30))); do
    ready="$(grep -m1 '^READY ' "$out" || true)"
    [[ -n "$ready" ]] && break
    kill -0 "$IDLE_PID" 2>/dev/null || break
    sleep 1
  done
  sleep "$IDLE_SETTLE"
  IDLE_RSS_WITH[$target]="$(rss_kb "$pid")"
  kill -TERM "$IDLE_PID" 2>/dev/null || true
  wait "$IDLE_PID" 2>/dev/null || true
  IDLE_PID=""
  IDLE_OK[$target]="$(sed -n 's/^READY .* ok=\([0-9]*\) .*/\1/p' "$out")"
  IDLE_SECS[$target]="$(sed -n 's/^READY .* seconds=\([0-9.]*\).*/\1/p' "$out")"
  IDLE_OPEN[$target]="$(sed -n 's/^DONE still_open=\([0-9]*\).*/\1/p' "$out")"
  IDLE_FAIL[$target]="$(sed -n 's/^FAILURES //p' "$out")"
  log "  $target: logged in ${IDLE_OK[$target]:-?}/$IDLE_CLIENTS in ${IDLE_SECS[$target]:-?}s," \
    "still open ${IDLE_OPEN[$target]:-?}, RSS ${IDLE_RSS_WITH[$target]:-?} kB ${IDLE_FAIL[$target]}"
}

run_idle() {
  ((RUN_IDLE)) || return 0
  start_poolers transaction
  local target
  for target in pgbouncer pggat; do if target_up "$target"; then idle_test "$target"; fi; done
  stop_poolers
}

# ----------------------------------------------------------------------------------------------------
# Session-state sync: what it costs a pooler to give every client its own startup parameters
# ----------------------------------------------------------------------------------------------------

# pgbench gives all its clients the same startup packet, so each variant runs SYNC_PROCS pgbench processes
# side by side, each with its own PGAPPNAME and PGOPTIONS. "distinct": every process has its own
# application_name and search_path, so in transaction mode a server usually comes from a client with other
# values and the pooler must set them first; "same": every process has the same values. TPS is summed over
# the processes.
declare -A SYNC_TPS=() SYNC_ERRS=()

run_sync_variant() {
  local target="$1" variant="$2" seconds="$3" port i app opts out pids=() total=0 errs=0 tps failed aborted
  port="$(target_port "$target")"
  for i in $(seq "$SYNC_PROCS"); do
    if [[ "$variant" == distinct ]]; then
      app="bench-client-$i"; opts="-c search_path=bench_schema_$i,public"
    else
      app="bench-client"; opts="-c search_path=public"
    fi
    out="$RAW_DIR/sync-$variant-$target-$i.txt"
    client PGAPPNAME="$app" PGOPTIONS="$opts" timeout --signal=INT $((seconds + 120)) "$PG_BIN/pgbench" -n -j 1 \
      -T "$seconds" -S -M simple -c "$SYNC_CLIENTS" -h 127.0.0.1 -p "$port" -U bench bench >"$out" 2>&1 &
    pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i" || errs=$((errs + 1)); done
  for i in $(seq "$SYNC_PROCS"); do
    out="$RAW_DIR/sync-$variant-$target-$i.txt"
    tps="$(awk '/^tps = /{print $3; exit}' "$out")"
    failed="$(awk '/^number of failed transactions: /{print $5; exit}' "$out")"
    aborted="$(grep -cE '^(pgbench: error: )?client [0-9]+ aborted' "$out" || true)"
    errs=$((errs + ${failed:-0} + aborted))
    if [[ -z "$tps" ]]; then total=""; break; fi
    total="$(awk -v a="$total" -v b="$tps" 'BEGIN{printf "%.3f", a + b}')"
  done
  SYNC_TPS[$variant.$target]="$total"
  SYNC_ERRS[$variant.$target]="$errs"
  log "  sync $variant $target: tps=${total:-n/a} errors=$errs"
}

run_state_sync() {
  ((RUN_SYNC)) || return 0
  local target variant seconds=$((DURATION < SYNC_MAX_DURATION ? DURATION : SYNC_MAX_DURATION))
  start_poolers transaction
  for target in pgbouncer pggat; do
    target_up "$target" || continue
    warm_up "$target"
    log "state-sync workload $target: $SYNC_PROCS x pgbench -S -M simple -c $SYNC_CLIENTS -j 1 -T $seconds"
    for variant in same distinct; do run_sync_variant "$target" "$variant" "$seconds"; done
  done
  if target_up pggat; then save_metrics state-sync; fi
  stop_poolers
  SYNC_SECONDS="$seconds"
}

report_state_sync() {
  local target
  echo
  echo "### Session-state sync: distinct vs same application_name and search_path per client (transaction mode)"
  echo
  echo "$SYNC_PROCS pgbench processes side by side, each \`-S -M simple -c $SYNC_CLIENTS -j 1 -T ${SYNC_SECONDS:-?}\` with its own"
  echo "PGAPPNAME and PGOPTIONS=\"-c search_path=...\" (distinct: bench-client-N and bench_schema_N,public; same:"
  echo "bench-client and public for all); TPS summed over the processes, on a pool of $POOL_SIZE."
  echo
  echo "| pooler | same TPS | distinct TPS | distinct/same | errors same / distinct |"
  echo "|---|---:|---:|---:|---|"
  for target in pgbouncer pggat; do
    wants "$target" || continue
    printf '| %s | %s | %s | %s | %s / %s |\n' "$(target_title "$target")" \
      "$(num "${SYNC_TPS[same.$target]:-}")" "$(num "${SYNC_TPS[distinct.$target]:-}")" \
      "$(ratio "${SYNC_TPS[distinct.$target]:-}" "${SYNC_TPS[same.$target]:-}")" \
      "$(cell "${SYNC_ERRS[same.$target]:-}")" "$(cell "${SYNC_ERRS[distinct.$target]:-}")"
  done
  echo
  echo "pggat applies both parameters to every server a client gets, where they differ from what the server has."
  echo "PgBouncer (reference) tracks application_name but not search_path: it is configured with"
  echo "ignore_startup_parameters = options, so its clients' search_path is dropped, not applied."
}

# ----------------------------------------------------------------------------------------------------
# Replicas: read-only load over a primary and 2 streaming replicas, and promotion to first write
# ----------------------------------------------------------------------------------------------------

EXTRA_DATA_DIRS=()          # data directories of replicas and failover nodes, stopped on exit
declare -A NODE_PORT=()     # data directory -> port
REPLICA_DIRS=()
declare -A REP_XACTS=()     # "<run>.<node index>" -> transactions that node committed during the run
FAILOVER_MS=()
FAILOVER_TRIES=()
FAILOVER_RECONNECTS=0       # times the promotion timing's writer had to open a new connection
FAILOVER_WRITER_LOG=""
FAILOVER_WRITER_PID=""      # the writer while it runs (cleanup stops it)

node_ctl() { as_service_user "$PG_BIN/pg_ctl" -D "$1" "${@:2}"; }

stop_extra_nodes() {
  local dir
  for dir in "${EXTRA_DATA_DIRS[@]}"; do
    [[ -f "$dir/postmaster.pid" ]] && node_ctl "$dir" -m immediate -w -t 30 stop >/dev/null 2>&1
  done
  return 0
}

psql_node() {
  as_service_user "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$WORK/sock" -p "$1" -U postgres -d "${3:-postgres}" -c "$2"
}

# A streaming standby of the node on port $1 in directory $2, listening on port $3. pg_basebackup -R
# writes standby.signal and primary_conninfo (through the Unix socket, where postgres is trusted).
make_standby() {
  local source_port="$1" dir="$2" port="$3" name
  name="$(basename "$dir")"
  rm -rf "$dir"
  as_service_user "$PG_BIN/pg_basebackup" -h "$WORK/sock" -p "$source_port" -U postgres -D "$dir" -R -X stream \
    -c fast >>"$WORK/logs/basebackup.log" 2>&1
  # The copied postgresql.conf carries the source's port; the last setting wins.
  printf '\n# standby of port %s\nport = %s\n' "$source_port" "$port" >>"$dir/postgresql.conf"
  node_ctl "$dir" -l "$WORK/logs/$name.log" -w -t 120 start >/dev/null
  NODE_PORT[$dir]="$port"
  [[ " ${EXTRA_DATA_DIRS[*]} " == *" $dir "* ]] || EXTRA_DATA_DIRS+=("$dir")
}

streaming_count() { psql_node "$1" "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"; }

await_streaming() {
  local port="$1" want="$2" i
  for i in $(seq 600); do
    [[ "$(streaming_count "$port")" -ge "$want" ]] && return 0
    sleep 0.1
  done
  echo "run.sh: only $(streaming_count "$port") of $want standbys streaming from port $port after 60 s" >&2
  return 1
}

node_xacts() { psql_node "$1" "SELECT xact_commit FROM pg_stat_database WHERE datname = 'bench'"; }

replica_endpoints_yaml() {
  local port
  for port in "$@"; do printf '      - host: 127.0.0.1\n        port: %s\n        role: replica\n' "$port"; done
}

# pgbench -S through pggat twice: with the primary as the only endpoint, then with both replicas added
# (automatic read/write splitting sends every SELECT to a replica). Each node's share is the growth of
# its pg_stat_database.xact_commit for database bench during the measured run.
run_replicas() {
  wants pggat || return 0
  log "replica workload: 2 streaming replicas of port $PG_PORT"
  local i run port n ports=("$PG_PORT") args="-S -M simple -c 50"
  for i in 1 2; do
    port="$(free_port)"
    make_standby "$PG_PORT" "$WORK/replica$i" "$port"
    REPLICA_DIRS+=("$WORK/replica$i"); ports+=("$port")
  done
  await_streaming "$PG_PORT" 2
  for run in primary-only split; do
    if [[ "$run" == split ]]; then
      PGGAT_REPLICA_ENDPOINTS="$(replica_endpoints_yaml "${ports[1]}" "${ports[2]}")"
    else
      PGGAT_REPLICA_ENDPOINTS=""
    fi
    start_pggat transaction || { log "pggat unavailable: ${TARGET_DOWN[pggat]}"; return 0; }
    sleep 3   # a few probe rounds, so that the replicas are known to be up before the load starts
    warm_up pggat
    local before=() after=()
    sleep 2   # statistics reach pg_stat_database within about a second of a transaction's end
    for n in 0 1 2; do before[n]="$(node_xacts "${ports[n]}")"; done
    log "replica workload ($run): pgbench $args -j $THREADS -T $DURATION"
    run_pgbench "rep-$run" pggat "$DURATION" "$args"
    sleep 2
    for n in 0 1 2; do
      after[n]="$(node_xacts "${ports[n]}")"
      REP_XACTS[$run.$n]=$(( after[n] - before[n] ))
    done
    save_metrics "rep-$run"
    stop_pggat
  done
  PGGAT_REPLICA_ENDPOINTS=""
  log "  transactions per node (primary/replica1/replica2): primary-only" \
    "${REP_XACTS[primary-only.0]}/${REP_XACTS[primary-only.1]}/${REP_XACTS[primary-only.2]}," \
    "split ${REP_XACTS[split.0]}/${REP_XACTS[split.1]}/${REP_XACTS[split.2]}"
  for i in "${REPLICA_DIRS[@]}"; do node_ctl "$i" -m fast -w -t 60 stop >/dev/null 2>&1 || true; done
}

# pggat's /metrics (routing decisions, endpoint states) after a run, for the raw directory.
save_metrics() {
  python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(
    "http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=5).read().decode())' "$PGGAT_ADMIN_PORT" \
    >"$RAW_DIR/metrics-$1.txt" 2>&1 || true
}

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# A python3 that has psycopg (3), for the promotion timing's writer; prints its path.
psycopg_python() {
  local py
  for py in python3 /usr/bin/python3; do
    if command -v "$py" >/dev/null && "$py" -c 'import psycopg' 2>/dev/null; then command -v "$py"; return 0; fi
  done
  return 1
}

# The first line of the writer's log of kind $1 ("ok", "err") at or after wall-clock ms $2: its time, or nothing.
writer_first() { awk -v k="$1" -v t="$2" '$1 == k && $2 >= t { print $2; exit }' "$FAILOVER_WRITER_LOG"; }

# Lines of kind $1 between wall-clock ms $2 (included) and $3 (excluded) in the writer's log.
writer_count() { awk -v k="$1" -v a="$2" -v b="$3" '$1 == k && $2 >= a && $2 < b { n++ } END { print n + 0 }' \
  "$FAILOVER_WRITER_LOG"; }

# Two small nodes A (primary) and B (its standby) behind pggat, configured as primary and replica. One client
# (bench/failover_writer.py, psycopg) keeps one connection to pggat for all the rounds and runs an autocommit
# INSERT every 10 ms, logging each outcome with its wall-clock time. Each round stops the current primary,
# promotes the standby (pg_ctl promote -w: it takes writes when that returns) and times from there to the end
# of the first INSERT that committed. Nothing is pushed to pggat: a failed server connection or a primary found
# read-only starts a probe of every endpoint at once, and writes that arrive meanwhile wait for a writable
# primary (routing.primaryWait). Transaction mode keeps the client's connection across the loss of its server
# (the write in flight gets an ERROR), so neither a client's start-up nor its login is in the figure. The old
# primary then comes back as a standby of the new one.
run_failovers() {
  wants pggat || return 0
  ((FAILOVERS > 0)) || return 0
  local py
  if ! py="$(psycopg_python)"; then
    log "promotion timing skipped: it needs python3 with psycopg (3)"
    return 0
  fi
  local a="$WORK/fo-a" b="$WORK/fo-b" a_port b_port
  a_port="$(free_port)"; b_port="$(free_port)"
  log "promotion timing: $FAILOVERS promotions between ports $a_port and $b_port"
  as_service_user "$PG_BIN/initdb" -D "$a" -U postgres -E UTF8 --locale=C --auth-local=trust \
    --auth-host=scram-sha-256 >>"$WORK/logs/initdb.log" 2>&1
  printf '%s\n' "" "# pggat benchmark failover node" "listen_addresses = '127.0.0.1'" "port = $a_port" \
    "unix_socket_directories = '$WORK/sock'" "fsync = off" "full_page_writes = off" "wal_keep_size = 256MB" \
    >>"$a/postgresql.conf"
  node_ctl "$a" -l "$WORK/logs/fo-a.log" -w -t 120 start >/dev/null
  NODE_PORT[$a]="$a_port"; EXTRA_DATA_DIRS+=("$a")
  # The same SCRAM verifier as the main cluster, so that the pggat configuration is the same.
  printf "CREATE ROLE bench LOGIN PASSWORD '%s';\n" "$BENCH_VERIFIER" | \
    as_service_user "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$WORK/sock" -p "$a_port" -U postgres -d postgres
  psql_node "$a_port" "CREATE DATABASE bench OWNER bench"
  psql_node "$a_port" "CREATE TABLE failover_writes (id bigserial PRIMARY KEY, at timestamptz DEFAULT now());
    ALTER TABLE failover_writes OWNER TO bench" bench
  make_standby "$a_port" "$b" "$b_port"
  await_streaming "$a_port" 1
  PGGAT_PRIMARY_PORT="$a_port"
  PGGAT_REPLICA_ENDPOINTS="$(replica_endpoints_yaml "$b_port")"
  if ! start_pggat transaction; then
    log "pggat unavailable: ${TARGET_DOWN[pggat]}"
    PGGAT_PRIMARY_PORT=""; PGGAT_REPLICA_ENDPOINTS=""
    return 0
  fi
  # The writer runs until it is sent SIGTERM (env execs it: $! is its pid).
  FAILOVER_WRITER_LOG="$RAW_DIR/failover-writer.txt"
  env "${CLIENT_ENV[@]}" PGHOST=127.0.0.1 PGPORT="$PGGAT_PORT" PGUSER=bench PGDATABASE=bench \
    "$py" bench/failover_writer.py 10 </dev/null >"$FAILOVER_WRITER_LOG" 2>>"$RAW_DIR/failover-errors.txt" &
  local writer=$!
  FAILOVER_WRITER_PID="$writer"
  local cur="$a" stb="$b" i t0 t_stop ok ms deadline tmp
  for i in $(seq "$FAILOVERS"); do
    sleep 2   # the standby is probed as up before its promotion
    if ! kill -0 "$writer" 2>/dev/null; then
      log "  the writer exited (see $FAILOVER_WRITER_LOG and failover-errors.txt); promotion timing stops"
      break
    fi
    t0="$(now_ms)"; deadline=$((SECONDS + 60))
    until [[ -n "$(writer_first ok "$t0")" ]]; do
      ((SECONDS < deadline)) || { log "  warning: no write committed before promotion $i"; break; }
      sleep 0.05
    done
    t_stop="$(now_ms)"
    node_ctl "$cur" -m fast -w -t 60 stop >/dev/null
    node_ctl "$stb" -w -t 60 promote >/dev/null
    t0="$(now_ms)"; deadline=$((SECONDS + 60))
    until ok="$(writer_first ok "$t0")"; [[ -n "$ok" ]]; do
      ((SECONDS < deadline)) || { log "  promotion $i: no committed write within 60 s"; break; }
      sleep 0.01
    done
    if [[ -n "$ok" ]]; then
      ms=$((ok - t0))
      FAILOVER_MS+=("$ms")
      FAILOVER_TRIES+=("$(writer_count err "$t_stop" "$ok")")
      log "  promotion $i: first committed write ${ms} ms after pg_ctl promote returned" \
        "($(writer_count err "$t_stop" "$ok") failed attempts since the stop)"
    fi
    make_standby "${NODE_PORT[$stb]}" "$cur" "${NODE_PORT[$cur]}"
    await_streaming "${NODE_PORT[$stb]}" 1
    tmp="$cur"; cur="$stb"; stb="$tmp"
  done
  kill "$writer" 2>/dev/null || true
  wait "$writer" || true
  FAILOVER_WRITER_PID=""
  FAILOVER_RECONNECTS="$(grep -c '^reconnect' "$FAILOVER_WRITER_LOG" || true)"
  save_metrics failover
  stop_pggat
  PGGAT_PRIMARY_PORT=""; PGGAT_REPLICA_ENDPOINTS=""
}

# Nearest-rank percentile of the numbers on stdin.
percentile() {
  sort -n | awk -v p="$1" '{ v[NR] = $1 } END { if (NR == 0) { print "n/a"; exit }
    r = int(p / 100 * NR); if (r < p / 100 * NR) r++; if (r < 1) r = 1; print v[r] }'
}

share() { awk -v a="${1:-0}" -v b="${2:-0}" 'BEGIN{ if (b > 0) printf "%.1f%%", 100 * a / b; else printf "n/a" }'; }

report_replicas() {
  local run total label
  echo
  echo "### Replica routing: pggat over a primary and 2 streaming replicas (\`-S -M simple -c 50\`, transaction mode)"
  echo
  echo "| routing | pggat TPS | lat ms | errors | primary | replica 1 | replica 2 |"
  echo "|---|---:|---:|---|---:|---:|---:|"
  for run in primary-only split; do
    total=$(( ${REP_XACTS[$run.0]:-0} + ${REP_XACTS[$run.1]:-0} + ${REP_XACTS[$run.2]:-0} ))
    if [[ "$run" == split ]]; then label="read/write split (3 endpoints)"; else label="primary only (1 endpoint)"; fi
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$label" \
      "$(num "${TPS[rep-$run.pggat]:-}")" "$(num "${LAT[rep-$run.pggat]:-}" 3)" "$(cell "${ERRS[rep-$run.pggat]:-}")" \
      "$(share "${REP_XACTS[$run.0]:-}" "$total")" "$(share "${REP_XACTS[$run.1]:-}" "$total")" \
      "$(share "${REP_XACTS[$run.2]:-}" "$total")"
  done
  echo
  echo "Shares: each node's growth of pg_stat_database.xact_commit (database bench) during the run, pggat's"
  echo "probes included. TPS split / primary-only: $(ratio "${TPS[rep-split.pggat]:-}" "${TPS[rep-primary-only.pggat]:-}")."
  if ((${#FAILOVER_MS[@]} > 0)); then
    echo
    echo "### Promotion to first successful write through pggat (${#FAILOVER_MS[@]} promotions, no endpoint push)"
    echo
    echo "| p50 ms | p99 ms | min ms | max ms |"
    echo "|---:|---:|---:|---:|"
    printf '| %s | %s | %s | %s |\n' \
      "$(printf '%s\n' "${FAILOVER_MS[@]}" | percentile 50)" "$(printf '%s\n' "${FAILOVER_MS[@]}" | percentile 99)" \
      "$(printf '%s\n' "${FAILOVER_MS[@]}" | percentile 0)" "$(printf '%s\n' "${FAILOVER_MS[@]}" | percentile 100)"
    echo
    echo "From pg_ctl promote returning to the end of the first INSERT through pggat that committed, written by one"
    echo "client (psycopg) on one connection kept for all rounds, one autocommit INSERT every 10 ms; the old primary"
    echo "was stopped just before; probeInterval 1 s, the default. The client reconnected $FAILOVER_RECONNECTS times."
    echo "All values (ms): ${FAILOVER_MS[*]};"
    echo "failed attempts per round, from the stop of the old primary: ${FAILOVER_TRIES[*]}."
  fi
}

# ----------------------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------------------

num() { [[ -n "${1:-}" ]] && printf "%.${2:-0}f" "$1" || printf 'n/a'; }
cell() { local v="${1:-}"; [[ -n "$v" ]] && printf '%s' "$v" || printf 'n/a'; }
ratio() { [[ -n "${1:-}" && -n "${2:-}" ]] && awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f", a / b; else printf "n/a" }' || printf 'n/a'; }
mib() { [[ -n "${1:-}" ]] && awk -v k="$1" 'BEGIN{printf "%.1f", k / 1024}' || printf 'n/a'; }

# The jar's own version plus the checkout's commit (the jar may come from elsewhere via PGGAT_JAR).
pggat_version() {
  local v rev
  v="$(java -jar "$PGGAT_JAR" --version 2>/dev/null | head -1 || true)"
  rev="$(git rev-parse --short HEAD 2>/dev/null || true)"
  echo "version ${v:-unknown}; checkout ${rev:-unknown}"
}

machine_description() {
  local cpu mem
  cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
  mem="$(awk '/^MemTotal:/{printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
  echo "$(nproc) cores ($cpu), $mem RAM, Linux $(uname -r)"
}

report() {
  echo "# pggat benchmark $(date '+%Y-%m-%d %H:%M:%S %Z')"
  echo
  echo "- Machine: $(machine_description); pgbench, poolers and PostgreSQL share these cores."
  echo "- PostgreSQL: $("$PG_BIN/postgres" --version | sed 's/^postgres (PostgreSQL) //'), max_connections=$PG_MAX_CONNECTIONS," \
    "shared_buffers=256MB, fsync/full_page_writes/synchronous_commit off; pgbench -i -s $SCALE; SCRAM-SHA-256 logins everywhere."
  if wants pgbouncer && [[ -n "${PGBOUNCER_BIN:-}" ]]; then
    echo "- PgBouncer: $("$PGBOUNCER_BIN" --version 2>&1 | head -1), default_pool_size=$POOL_SIZE, max_client_conn=$MAX_CLIENT_CONN."
  fi
  if wants odyssey; then
    echo "- Odyssey: $("$ODYSSEY_BIN" --version 2>&1 | head -1), workers=$ODYSSEY_WORKERS, pool_size=$POOL_SIZE."
  fi
  if wants pggat; then
    echo "- pggat: \`$PGGAT_JAR\` ($(pggat_version)), maxServerConnections=$POOL_SIZE;" \
      "$(java -version 2>&1 | head -1); JVM options: \`$PGGAT_JAVA_OPTS\`; JVM flags in effect: \`${PGGAT_JVM_FLAGS:-n/a}\`."
  fi
  echo "- Each run: pgbench -n -j $THREADS -T $DURATION (plus the seconds for connecting noted below) after ${WARMUP}s of warm-up per started target; open-files limit $(ulimit -n)."
  if ((${#W_IDS[@]} > 0)); then report_throughput; fi
  report_sections
}

report_throughput() {
  local i id target basis notes="" ody_h="" ody_s="" ody_tps="" ody_lat="" ody_err="" ody_err_h=""
  if wants odyssey; then
    ody_h=" Odyssey TPS |"; ody_s="---:|"; ody_lat=" Odyssey lat ms |"; ody_err_h=" / Odyssey"
  fi
  echo
  echo "| # | workload | mode | direct TPS | PgBouncer TPS |$ody_h pggat TPS | pggat/PgBouncer | direct lat ms | PgBouncer lat ms |$ody_lat pggat lat ms | errors direct / PgBouncer$ody_err_h / pggat |"
  echo "|---|---|---|---:|---:|$ody_s---:|---:|---:|---:|$ody_s---:|---|"
  for i in "${!W_IDS[@]}"; do
    id="${W_IDS[$i]}"
    if wants odyssey; then
      ody_tps=" $(num "${TPS[$id.odyssey]:-}") |"; ody_lat=" $(num "${LAT[$id.odyssey]:-}" 3) |"
      ody_err=" / $(cell "${ERRS[$id.odyssey]:-}")"
    fi
    # shellcheck disable=SC2016 # the backticks are markdown
    printf '| %s | %s (`%s`) | %s | %s | %s |%s %s | %s | %s | %s |%s %s | %s / %s%s / %s |\n' \
      "$id" "${W_LABEL[$i]}" "${W_ARGS[$i]}" "${W_MODE[$i]}" \
      "$(num "${TPS[$id.direct]:-}")" "$(num "${TPS[$id.pgbouncer]:-}")" "$ody_tps" "$(num "${TPS[$id.pggat]:-}")" \
      "$(ratio "${TPS[$id.pggat]:-}" "${TPS[$id.pgbouncer]:-}")" \
      "$(num "${LAT[$id.direct]:-}" 3)" "$(num "${LAT[$id.pgbouncer]:-}" 3)" "$ody_lat" "$(num "${LAT[$id.pggat]:-}" 3)" \
      "$(cell "${ERRS[$id.direct]:-}")" "$(cell "${ERRS[$id.pgbouncer]:-}")" "$ody_err" "$(cell "${ERRS[$id.pggat]:-}")"
    for target in direct pgbouncer odyssey pggat; do
      basis="${TPS_BASIS[$id.$target]:-}"
      if [[ -n "$basis" && "$basis" != "without initial connection time" && "$notes" != *"workload $id:"* ]]; then
        notes+=" workload $id: $basis;"
      fi
    done
  done
  echo
  for i in "${!W_IDS[@]}"; do
    ((W_CONNECT[i] == 0)) || echo "Workload ${W_IDS[$i]} ran with -T $((DURATION + W_CONNECT[i])): its clients connect inside pgbench's -T window."
  done
  echo "TPS is pgbench's figure without initial connection time; exceptions (as pgbench reports them):${notes:- none}"
  echo "Errors = failed transactions + aborted clients (pgbench exit status in parentheses when non-zero)."
  report_cpu
}

# Each pooler's own CPU time (utime + stime of its process, every thread, from /proc/PID/stat) over the
# measured pgbench run, divided by the transactions pgbench counted; context switches likewise (summed
# over the process's threads from /proc/PID/task/*/status).
report_cpu() {
  local i id target head="" sep="" row cs
  local poolers=()
  for target in pgbouncer odyssey pggat; do wants "$target" && poolers+=("$target"); done
  ((${#poolers[@]} > 0)) || return 0
  for target in "${poolers[@]}"; do head+=" $(target_title "$target") |"; sep+="---:|"; done
  echo
  echo "#### Pooler CPU per transaction (us of user + system time) and context switches per transaction"
  echo
  echo "| # | workload | mode |$head pggat/PgBouncer | ctx switches/txn $(IFS=/; echo "${poolers[*]}") |"
  echo "|---|---|---|$sep---:|---|"
  for i in "${!W_IDS[@]}"; do
    id="${W_IDS[$i]}"; row=""; cs=""
    for target in "${poolers[@]}"; do
      row+=" $(num "${CPU_US[$id.$target]:-}" 1) |"
      cs+="${cs:+ / }$(num "${CSW[$id.$target]:-}" 2)"
    done
    # shellcheck disable=SC2016 # the backticks are markdown
    printf '| %s | `%s` | %s |%s %s | %s |\n' "$id" "${W_ARGS[$i]}" "${W_MODE[$i]}" "$row" \
      "$(ratio "${CPU_US[$id.pggat]:-}" "${CPU_US[$id.pgbouncer]:-}")" "$cs"
  done
  echo
  echo "CPU: utime + stime of the pooler process (for pggat the whole JVM: event loops, GC, JIT) over the"
  echo "measured run, divided by the transactions pgbench counted (for -C a transaction includes its login)."
  if [[ -n "${PROFILE_SUMMARY:-}" ]]; then
    echo
    echo "#### Profile of pggat, workload $PROFILE_WORKLOAD (JFR, settings=profile; a separate run after the measured one)"
    echo
    echo "Run: $(num "${TPS[profile.pggat]:-}") TPS, ${XACTS[profile.pggat]:-?} transactions," \
      "$(num "${CPU_US[profile.pggat]:-}" 1) us CPU/txn, $(num "${CSW[profile.pggat]:-}" 3) context switches/txn."
    echo
    echo '```'
    echo "$PROFILE_SUMMARY"
    echo '```'
  fi
}

report_sections() {
  local target
  if ((RUN_TLS)); then
    echo
    echo "### TLS: new connection per transaction (\`pgbench -S -M simple -c $TLS_CLIENTS -C\`, PGSSLMODE=require, SCRAM-SHA-256)"
    echo
    echo "| PgBouncer handshakes/s | pggat handshakes/s | pggat/PgBouncer | errors PgBouncer / pggat |"
    echo "|---:|---:|---:|---|"
    printf '| %s | %s | %s | %s / %s |\n' "$(num "${TLS_TPS[pgbouncer]:-}")" "$(num "${TLS_TPS[pggat]:-}")" \
      "$(ratio "${TLS_TPS[pggat]:-}" "${TLS_TPS[pgbouncer]:-}")" "$(cell "${TLS_ERRS[pgbouncer]:-}")" "$(cell "${TLS_ERRS[pggat]:-}")"
    echo
    echo "Each transaction is a TCP connect, SSLRequest, TLS handshake (EC P-256 certificate), SCRAM login and one SELECT."
  fi
  if ((RUN_SYNC)); then report_state_sync; fi
  if ((RUN_REPLICAS)); then report_replicas; fi
  if ((RUN_IDLE)); then
    echo
    echo "### Idle connections ($IDLE_CLIENTS logged-in idle clients per pooler, transaction mode)"
    echo
    echo "| pooler | logged in | still open at end | login time s | RSS before MiB | RSS with idle clients MiB | KiB per client |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    for target in pgbouncer pggat; do
      wants "$target" || continue
      local per="n/a"
      if [[ -n "${IDLE_RSS_WITH[$target]:-}" && -n "${IDLE_RSS_BEFORE[$target]:-}" && "${IDLE_OK[$target]:-0}" -gt 0 ]]; then
        per="$(awk -v a="${IDLE_RSS_WITH[$target]}" -v b="${IDLE_RSS_BEFORE[$target]}" -v n="${IDLE_OK[$target]}" 'BEGIN{printf "%.1f", (a - b) / n}')"
      fi
      printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$(target_title "$target")" \
        "$(cell "${IDLE_OK[$target]:-}")" "$(cell "${IDLE_OPEN[$target]:-}")" "$(cell "${IDLE_SECS[$target]:-}")" \
        "$(mib "${IDLE_RSS_BEFORE[$target]:-}")" "$(mib "${IDLE_RSS_WITH[$target]:-}")" "$per"
      [[ -z "${IDLE_FAIL[$target]:-}" ]] || echo "<!-- $target login failures: ${IDLE_FAIL[$target]} -->"
    done
    echo
    echo "RSS is VmRSS of the pooler process (for pggat the java process)."
  fi
  for target in direct pgbouncer odyssey pggat; do
    if wants "$target" && [[ -n "${TARGET_DOWN[$target]:-}" ]]; then
      echo
      echo "**$(target_title "$target") not measured:** ${TARGET_DOWN[$target]}"
    fi
  done
}

# ----------------------------------------------------------------------------------------------------
# Cleanup: everything started here is stopped on any exit; logs are kept next to the results.
# ----------------------------------------------------------------------------------------------------

cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  [[ -z "$IDLE_PID" ]] || { kill -TERM "$IDLE_PID" 2>/dev/null; wait "$IDLE_PID" 2>/dev/null; }
  [[ -z "$FAILOVER_WRITER_PID" ]] || { kill -TERM "$FAILOVER_WRITER_PID"; wait "$FAILOVER_WRITER_PID"; } 2>/dev/null
  stop_pggat
  stop_pgbouncer
  stop_odyssey
  stop_extra_nodes
  stop_postgres
  if [[ -n "${WORK:-}" && -d "$WORK" ]]; then
    [[ -z "${RAW_DIR:-}" ]] || cp -r "$WORK/logs" "$RAW_DIR/logs" 2>/dev/null
    if ((rc != 0)); then
      echo "run.sh: failed (exit $rc); logs copied to ${RAW_DIR:-?}/logs" >&2
      tail -n 20 "$WORK"/logs/*.log >&2 2>/dev/null
    fi
    if ((KEEP_WORKDIR)); then echo "run.sh: work directory kept: $WORK" >&2; else rm -rf "$WORK"; fi
  fi
  exit "$rc"
}

main() {
  parse_args "$@"
  [[ -f bench/run.sh && -f pom.xml ]] || { echo "run.sh: run from the repository root: bash bench/run.sh" >&2; exit 2; }
  check_prerequisites
  if ((RUN_THROUGHPUT)); then define_workloads; fi
  raise_fd_limit
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  make_workdir
  log "results: $RESULTS_FILE (raw output: $RAW_DIR)"
  if wants pggat; then log "pggat JVM options: $PGGAT_JAVA_OPTS (set PGGAT_JAVA_OPTS to change)"; fi
  start_postgres
  setup_database
  if ((RUN_THROUGHPUT)); then run_throughput; fi
  run_tls
  run_state_sync
  run_idle
  if ((RUN_REPLICAS)); then run_replicas; run_failovers; fi
  report | tee "$RESULTS_FILE"
  log "written: $RESULTS_FILE"
  local t
  for t in direct pgbouncer odyssey pggat; do
    if wants "$t" && [[ -n "${TARGET_DOWN[$t]:-}" ]]; then exit 3; fi
  done
}

main "$@"
