#!/usr/bin/env bash
# What a pooler costs to run beside an application: artifact sizes, start time, resident memory idle, with idle
# clients and under load, and memory per idle client; pggat (JVM defaults and the sidecar profile, plain jar and
# the trimmed runtime) next to PgBouncer, on this machine in one run.
#
#   bash bench/footprint.sh [options]            (from the repository root; --help lists the options)
#
# Prints a markdown table and writes it to bench/out/footprint-<date>.md; logs and raw client output go to
# bench/out/footprint-raw-<date>/. See docs/benchmarks.md ("Footprint") for the method.
#
# Needs: PostgreSQL server binaries + pgbench (pg_config --bindir), python3, java 17+; PgBouncer for its column
# (--pgbouncer PATH, default: pgbouncer on PATH). Installs nothing. As root, PostgreSQL and PgBouncer run as the
# `postgres` user (they refuse root).
set -euo pipefail

STARTS=10             # starts timed per variant
ROUNDS=2              # A/B rounds per memory profile (alternating, so that a busy machine hurts both alike)
DURATION=15           # seconds of pgbench -S -c 50 per round
IDLE_FEW=100          # idle clients of the sidecar figure
IDLE_MANY=10000       # idle clients of the per-client figure (0 = skip)
IDLE_DEADLINE=300
POOL_SIZE=20
PGBOUNCER_BIN=""
RUNTIME_DIR="dist/target/runtime"
PGGAT_JAR="${PGGAT_JAR:-pooler/target/pggat.jar}"
# The sidecar memory profile; the operator gives injected sidecars and pooler Deployments the same
# (operator/src/main/java/dev/pggat/operator/model/PoolerJvm.java; the reasons are in docs/benchmarks.md).
# -XX:MaxRAM=128m stands for the sidecar's 128 MiB memory limit, which a container's JVM reads from its cgroup.
SIDECAR_OPTS="${SIDECAR_OPTS:--XX:+UseSerialGC -XX:MaxRAMPercentage=50 -XX:InitialRAMPercentage=6 -XX:MaxMetaspaceSize=64m -XX:ReservedCodeCacheSize=32m -Xss512k -XX:MaxDirectMemorySize=32m -XX:TrimNativeHeapInterval=5000 -Dio.netty.allocator.maxOrder=7 -Dio.netty.allocator.numDirectArenas=1 -Dio.netty.allocator.numHeapArenas=1 -XX:+ExitOnOutOfMemoryError -XX:MaxRAM=128m}"
SIDECAR_ENV="MALLOC_ARENA_MAX=2"
DEFAULT_OPTS="${DEFAULT_OPTS:-}"   # the JVM's own defaults
# The per-client figure uses the heap run.sh uses, so that it compares with docs/benchmarks.md's earlier rows.
MANY_OPTS="${MANY_OPTS:--Xmx512m}"

usage() {
  cat <<EOF
usage: bash bench/footprint.sh [--pgbouncer PATH] [--runtime DIR] [--starts N] [--rounds N] [--duration S]
                               [--idle-clients N] [--many-clients N] [--quick]
  --pgbouncer PATH   the PgBouncer binary to compare with (default: pgbouncer on PATH; none: its column is n/a)
  --runtime DIR      the trimmed runtime from dist/build-runtime.sh (default ${RUNTIME_DIR}; missing: built)
  --starts N         starts timed per variant (default ${STARTS})
  --rounds N         A/B rounds of the memory profiles (default ${ROUNDS})
  --duration S       seconds of pgbench -S -c 50 per round (default ${DURATION})
  --idle-clients N   idle clients of the sidecar figure (default ${IDLE_FEW})
  --many-clients N   idle clients of the per-client figure (default ${IDLE_MANY}; 0 = skip)
  --quick            3 starts, 1 round, 5 s, 2000 clients: checks the setup, not for publishing
environment: PGGAT_JAR (default ${PGGAT_JAR}), SIDECAR_OPTS, DEFAULT_OPTS (default: none), MANY_OPTS (default ${MANY_OPTS})
EOF
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --pgbouncer) PGBOUNCER_BIN="$(readlink -f "${2:?--pgbouncer needs a path}")"; shift ;;
    --runtime) RUNTIME_DIR="${2:?--runtime needs a directory}"; shift ;;
    --starts) STARTS="${2:?}"; shift ;;
    --rounds) ROUNDS="${2:?}"; shift ;;
    --duration) DURATION="${2:?}"; shift ;;
    --idle-clients) IDLE_FEW="${2:?}"; shift ;;
    --many-clients) IDLE_MANY="${2:?}"; shift ;;
    --quick) STARTS=3; ROUNDS=1; DURATION=5; IDLE_MANY=2000 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "footprint.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
[[ -f bench/footprint.sh && -f pom.xml ]] || { echo "footprint.sh: run from the repository root" >&2; exit 2; }

log() { printf '[footprint %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
APT_LINE="apt-get install -y postgresql pgbouncer python3"
command -v pg_config >/dev/null || { echo "footprint.sh: pg_config not found. Install with: $APT_LINE" >&2; exit 2; }
PG_BIN="$(pg_config --bindir)"
for b in initdb pg_ctl psql pgbench pg_isready; do
  [[ -x "$PG_BIN/$b" ]] || { echo "footprint.sh: $PG_BIN/$b not found. Install with: $APT_LINE" >&2; exit 2; }
done
command -v python3 >/dev/null || { echo "footprint.sh: python3 not found" >&2; exit 2; }
if [[ -z "$PGBOUNCER_BIN" ]]; then
  PGBOUNCER_BIN="$(command -v pgbouncer || true)"
  [[ -z "$PGBOUNCER_BIN" && -x /usr/sbin/pgbouncer ]] && PGBOUNCER_BIN=/usr/sbin/pgbouncer
fi
[[ -z "$PGBOUNCER_BIN" || -x "$PGBOUNCER_BIN" ]] || { echo "footprint.sh: $PGBOUNCER_BIN is not executable" >&2; exit 2; }
if [[ $EUID -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
  echo "footprint.sh: running as root needs a 'postgres' OS user to run PostgreSQL and PgBouncer" >&2; exit 2
fi
if [[ ! -f "$PGGAT_JAR" ]]; then
  log "$PGGAT_JAR missing; building it"
  mvn -B -q -DskipTests -pl pooler -am package >&2
fi
if [[ ! -x "$RUNTIME_DIR/bin/pggat" ]]; then
  log "$RUNTIME_DIR missing; building it (dist/build-runtime.sh)"
  bash dist/build-runtime.sh --jar "$PGGAT_JAR" --out "$RUNTIME_DIR" >&2
fi

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [[ $EUID -eq 0 ]]; then
  # shellcheck disable=SC2016 # expanded by the inner sh; runuser's PAM session would reset the open-files limit
  SERVICE_USER_CMD=(runuser -u postgres -- sh -c 'ulimit -n "$1" 2>/dev/null || :; shift; exec "$@"' sh "$(ulimit -n)")
else
  SERVICE_USER_CMD=()
fi
as_service_user() { (cd "$WORK" && "${SERVICE_USER_CMD[@]}" "$@"); }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

WORK="$(mktemp -d -t pggat-footprint.XXXXXX)"
chmod 700 "$WORK"
mkdir -p "$WORK/pgdata" "$WORK/sock" "$WORK/pgbouncer"
[[ $EUID -ne 0 ]] || chown -R postgres: "$WORK"
STAMP="$(date +%Y%m%d-%H%M%S)"
RAW="bench/out/footprint-raw-$STAMP"
RESULTS="bench/out/footprint-$STAMP.md"
mkdir -p "$RAW"
PG_PORT="$(free_port)"; POOL_PORT="$(free_port)"; ADMIN_PORT="$(free_port)"
PASSWORD="$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')"
CLIENT_ENV=(PGPASSWORD="$PASSWORD" PGSSLMODE=disable PGCONNECT_TIMEOUT=30)
POOLER_PID=""; PG_STARTED=0

cleanup() {
  local rc=$?
  set +e
  stop_pooler
  ((PG_STARTED)) && as_service_user "$PG_BIN/pg_ctl" -D "$WORK/pgdata" -m fast -w stop >/dev/null 2>&1
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "PostgreSQL on port $PG_PORT"
as_service_user "$PG_BIN/initdb" -D "$WORK/pgdata" -U postgres -E UTF8 --locale=C --auth-local=trust \
  --auth-host=scram-sha-256 >"$RAW/initdb.log" 2>&1
cat >>"$WORK/pgdata/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$WORK/sock'
max_connections = 200
shared_buffers = 128MB
fsync = off
synchronous_commit = off
EOF
as_service_user "$PG_BIN/pg_ctl" -D "$WORK/pgdata" -l "$WORK/postgres.log" -w -t 120 start >/dev/null
PG_STARTED=1
psql_su() { as_service_user "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$WORK/sock" -p "$PG_PORT" -U postgres -d postgres "$@"; }
printf "SET password_encryption = 'scram-sha-256'; CREATE ROLE bench LOGIN PASSWORD '%s';\n" "$PASSWORD" | psql_su
psql_su -c "CREATE DATABASE bench OWNER bench"
env "${CLIENT_ENV[@]}" "$PG_BIN/pgbench" -i -q -s 5 -h 127.0.0.1 -p "$PG_PORT" -U bench bench >"$RAW/pgbench-init.txt" 2>&1
VERIFIER="$(psql_su -c "SELECT rolpassword FROM pg_authid WHERE rolname = 'bench'")"

# Three databases, as a small application's pooler would have; only bench is used by the clients.
cat >"$WORK/pggat.yaml" <<EOF
listen:
  host: 127.0.0.1
  port: $POOL_PORT
admin:
  host: 127.0.0.1
  port: $ADMIN_PORT
limits:
  maxClientConnections: 12000
pools:
  mode: transaction
  maxServerConnections: $POOL_SIZE
databases:
$(for db in bench bench_b bench_c; do cat <<DB
  $db:
    serverDatabase: bench
    endpoints:
      - host: 127.0.0.1
        port: $PG_PORT
        role: primary
    users:
      bench:
        password: "$VERIFIER"
        serverPassword: \${FOOTPRINT_SERVER_PASSWORD}
DB
done)
EOF
chmod 600 "$WORK/pggat.yaml"
printf '"bench" "%s"\n' "$VERIFIER" >"$WORK/pgbouncer/userlist.txt"
cat >"$WORK/pgbouncer/pgbouncer.ini" <<EOF
[databases]
bench = host=127.0.0.1 port=$PG_PORT dbname=bench
bench_b = host=127.0.0.1 port=$PG_PORT dbname=bench
bench_c = host=127.0.0.1 port=$PG_PORT dbname=bench
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $POOL_PORT
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $WORK/pgbouncer/userlist.txt
pool_mode = transaction
default_pool_size = $POOL_SIZE
max_client_conn = 12000
ignore_startup_parameters = extra_float_digits,options
EOF
[[ $EUID -ne 0 ]] || chown -R postgres: "$WORK/pgbouncer"

# ----------------------------------------------------------------------------------------------------
# Starting and measuring one pooler process
# ----------------------------------------------------------------------------------------------------

rss_kb() { awk '/^VmRSS:/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat" 2>/dev/null || echo 0; }

# start_pooler VARIANT: pgbouncer | jar-default | jar-sidecar | runtime-default | runtime-sidecar | jar-many
start_pooler() {
  local variant="$1" opts
  case "$variant" in
    pgbouncer)
      as_service_user "$PGBOUNCER_BIN" "$WORK/pgbouncer/pgbouncer.ini" >>"$RAW/pgbouncer.log" 2>&1 &
      ;;
    *)
      case "$variant" in *-sidecar) opts="$SIDECAR_OPTS" ;; *-many) opts="$MANY_OPTS" ;; *) opts="$DEFAULT_OPTS" ;; esac
      local env=(FOOTPRINT_SERVER_PASSWORD="$PASSWORD")
      [[ "$variant" != *-sidecar ]] || env+=("$SIDECAR_ENV")
      if [[ "$variant" == runtime-* ]]; then
        env JAVA_OPTS="$opts" "${env[@]}" "$RUNTIME_DIR/bin/pggat" pooler --config "$WORK/pggat.yaml" >>"$RAW/pggat-$variant.log" 2>&1 &
      else
        # shellcheck disable=SC2086 # $opts is a list of JVM options
        env "${env[@]}" java $opts -jar "$PGGAT_JAR" pooler --config "$WORK/pggat.yaml" >>"$RAW/pggat-$variant.log" 2>&1 &
      fi
      ;;
  esac
  POOLER_PID=$!
}

# The pid of the pooler itself: runuser forks PgBouncer, the runtime's launcher execs java.
pooler_pid() {
  local child grandchild
  child="$(pgrep -P "$POOLER_PID" 2>/dev/null | head -1 || true)"
  [[ -n "$child" ]] || { echo "$POOLER_PID"; return; }
  grandchild="$(pgrep -P "$child" 2>/dev/null | head -1 || true)"
  echo "${grandchild:-$child}"
}

stop_pooler() {
  [[ -n "$POOLER_PID" ]] || return 0
  local pid; pid="$(pooler_pid)"
  kill -TERM "$pid" "$POOLER_PID" 2>/dev/null || true
  for _ in $(seq 300); do kill -0 "$POOLER_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" "$POOLER_PID" 2>/dev/null || true
  wait "$POOLER_PID" 2>/dev/null || true
  POOLER_PID=""
}

# Seconds from the start until the listener accepts a TCP connection; prints "wall cpu".
time_start() {
  local t0 t1
  t0="$(date +%s%N)"
  start_pooler "$1"
  # bash's own /dev/tcp: a probe that costs no process start of its own.
  until (exec 3<>"/dev/tcp/127.0.0.1/$POOL_PORT") 2>/dev/null; do
    kill -0 "$POOLER_PID" 2>/dev/null || { echo "footprint.sh: $1 exited during start (see $RAW)" >&2; return 1; }
    sleep 0.01
  done
  t1="$(date +%s%N)"
  echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", (b - a) / 1e9}') $(cpu_s "$(pooler_pid)")"
}

median() { sort -n | awk '{v[NR]=$1} END{ if (NR == 0) print "n/a"; else print v[int((NR + 1) / 2)] }'; }

wait_login() {
  for _ in $(seq 600); do
    env "${CLIENT_ENV[@]}" "$PG_BIN/psql" -X -At -h 127.0.0.1 -p "$POOL_PORT" -U bench -d bench -c 'SELECT 1' >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "footprint.sh: no login through the pooler on port $POOL_PORT" >&2; return 1
}

# Holds N idle logged-in clients; sets IDLE_RSS (kB while held) and IDLE_OK.
hold_idle() {
  local n="$1" tag="$2" out="$RAW/idle-$2.txt" pid
  pid="$(pooler_pid)"
  env "${CLIENT_ENV[@]}" python3 bench/idle_clients.py --host 127.0.0.1 --port "$POOL_PORT" --user bench \
    --database bench --clients "$n" --deadline "$IDLE_DEADLINE" >"$out" 2>"$RAW/idle-$tag.err" &
  local idle=$!
  for _ in $(seq $((IDLE_DEADLINE + 30))); do
    grep -q '^READY ' "$out" && break
    kill -0 "$idle" 2>/dev/null || break
    sleep 1
  done
  sleep 5
  IDLE_RSS="$(rss_kb "$pid")"
  # What the idle clients hold, for pggat: the live objects by class (forces a full GC first).
  if [[ "$tag" == many-* && "$tag" != many-pgbouncer ]] && command -v jcmd >/dev/null; then
    jcmd "$pid" GC.class_histogram >"$RAW/histogram-$tag.txt" 2>&1 || true
  fi
  IDLE_OK="$(sed -n 's/^READY .* ok=\([0-9]*\) .*/\1/p' "$out")"
  kill -TERM "$idle" 2>/dev/null || true
  wait "$idle" 2>/dev/null || true
}

# pgbench -S -c 50 for DURATION s; sets LOAD_TPS and LOAD_RSS (the highest VmRSS seen, sampled every 0.2 s).
under_load() {
  local tag="$1" pid out="$RAW/pgbench-$1.txt" peak=0 r
  pid="$(pooler_pid)"
  env "${CLIENT_ENV[@]}" "$PG_BIN/pgbench" -n -S -M simple -c 50 -j 2 -T "$DURATION" -h 127.0.0.1 -p "$POOL_PORT" \
    -U bench bench >"$out" 2>&1 &
  local bench=$!
  while kill -0 "$bench" 2>/dev/null; do
    r="$(rss_kb "$pid")"; ((r > peak)) && peak=$r
    sleep 0.2
  done
  wait "$bench" || true
  LOAD_TPS="$(awk '/^tps = /{printf "%.0f", $3; exit}' "$out")"
  LOAD_RSS="$peak"
}

mib() { awk -v k="${1:-0}" 'BEGIN{printf "%.1f", k / 1024}'; }
size_mb() { if [[ -e "$1" ]]; then du -sm "$1" | cut -f1; else echo "n/a"; fi; }

# ----------------------------------------------------------------------------------------------------
# 1. Artifacts
# ----------------------------------------------------------------------------------------------------
archive="$(ls "$RUNTIME_DIR"/app/pggat.jsa "$RUNTIME_DIR"/app/pggat.aot 2>/dev/null | head -1 || true)"
RUNTIME_MB="$(du -sm --exclude=app "$RUNTIME_DIR" | cut -f1)"
IMAGE_JAR_MB="$(size_mb "$RUNTIME_DIR/app/pggat.jar")"
ARCHIVE_MB="$(size_mb "$archive")"

# ----------------------------------------------------------------------------------------------------
# 2. Start time
# ----------------------------------------------------------------------------------------------------
declare -A START_WALL=() START_CPU=()
variants=(runtime-sidecar jar-default)
[[ -z "$PGBOUNCER_BIN" ]] || variants+=(pgbouncer)
for v in "${variants[@]}"; do
  log "start time: $v x $STARTS"
  : >"$RAW/starts-$v.txt"
  for _ in $(seq "$STARTS"); do
    time_start "$v" >>"$RAW/starts-$v.txt"
    stop_pooler
  done
  START_WALL[$v]="$(awk '{print $1}' "$RAW/starts-$v.txt" | median)"
  START_CPU[$v]="$(awk '{print $2}' "$RAW/starts-$v.txt" | median)"
done

# ----------------------------------------------------------------------------------------------------
# 3. Memory and throughput, default JVM vs sidecar profile, alternating
# ----------------------------------------------------------------------------------------------------
declare -A RSS0=() RSS_IDLE=() RSS_LOAD=() TPS=()
profiles=(runtime-default runtime-sidecar)
[[ -z "$PGBOUNCER_BIN" ]] || profiles+=(pgbouncer)
for round in $(seq "$ROUNDS"); do
  for p in "${profiles[@]}"; do
    log "round $round: $p"
    start_pooler "$p"; wait_login
    sleep 2
    RSS0[$p]+="$(rss_kb "$(pooler_pid)") "
    hold_idle "$IDLE_FEW" "$p-$round"
    RSS_IDLE[$p]+="$IDLE_RSS "
    under_load "$p-$round"
    RSS_LOAD[$p]+="$LOAD_RSS "
    TPS[$p]+="$LOAD_TPS "
    log "  $p: idle $(mib "${RSS0[$p]##* }") MiB; with $IDLE_FEW clients (${IDLE_OK:-?} in) $(mib "$IDLE_RSS") MiB;" \
      "pgbench -S -c 50: $LOAD_TPS TPS, peak $(mib "$LOAD_RSS") MiB"
    stop_pooler
  done
done
# medians over rounds
med() { tr ' ' '\n' <<<"$1" | grep -v '^$' | median; }

# ----------------------------------------------------------------------------------------------------
# 4. Per idle client
# ----------------------------------------------------------------------------------------------------
declare -A PER_CLIENT=() MANY_OK=()
if ((IDLE_MANY > 0)); then
  many=(jar-many runtime-sidecar)
  [[ -z "$PGBOUNCER_BIN" ]] || many+=(pgbouncer)
  for p in "${many[@]}"; do
    log "$IDLE_MANY idle clients: $p"
    start_pooler "$p"; wait_login; sleep 2
    before="$(rss_kb "$(pooler_pid)")"
    hold_idle "$IDLE_MANY" "many-$p"
    MANY_OK[$p]="$IDLE_OK"
    PER_CLIENT[$p]="$(awk -v a="$before" -v b="$IDLE_RSS" -v n="${IDLE_OK:-0}" 'BEGIN{ if (n > 0) printf "%.2f", (b - a) / n; else print "n/a" }')"
    log "  $p: ${IDLE_OK:-0} clients, RSS $(mib "$before") -> $(mib "$IDLE_RSS") MiB, ${PER_CLIENT[$p]} KiB per client"
    stop_pooler
  done
fi

# ----------------------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.3f", a / b; else print "n/a" }'; }
pgb_version="$([[ -n "$PGBOUNCER_BIN" ]] && "$PGBOUNCER_BIN" --version 2>/dev/null | head -1 || echo none)"
{
  echo "## Footprint ($(date -u +%Y-%m-%d), $(nproc) cores, load average at the end $(cut -d' ' -f1-3 /proc/loadavg))"
  echo
  echo "pggat $(git rev-parse --short HEAD 2>/dev/null || echo '?'); $(java -version 2>&1 | head -1); runtime: $RUNTIME_DIR"
  echo "($("$RUNTIME_DIR/bin/java" -version 2>&1 | head -1)); PgBouncer: $pgb_version."
  echo "Sidecar profile: \`$SIDECAR_OPTS\` with $SIDECAR_ENV. Default: \`${DEFAULT_OPTS:-no options}\`."
  echo
  echo "| artifact | MB |"
  echo "| --- | --- |"
  echo "| pooler jar ($PGGAT_JAR) | $(size_mb "$PGGAT_JAR") |"
  echo "| distribution jar (dist/target/pggat-all.jar) | $(size_mb dist/target/pggat-all.jar) |"
  echo "| trimmed runtime (jlink) | $RUNTIME_MB |"
  echo "| runtime + jar | $((RUNTIME_MB + IMAGE_JAR_MB)) |"
  echo "| class-data archive ($(basename "${archive:-none}")) | $ARCHIVE_MB |"
  echo
  echo "| start to accepting connections ($STARTS starts, median) | wall s | CPU s |"
  echo "| --- | --- | --- |"
  for v in "${variants[@]}"; do echo "| $v | ${START_WALL[$v]} | ${START_CPU[$v]} |"; done
  echo
  echo "| memory ($ROUNDS alternating rounds, median) | RSS idle MiB | RSS with $IDLE_FEW idle clients MiB | RSS peak under pgbench -S -c 50 MiB | TPS | TPS vs default |"
  echo "| --- | --- | --- | --- | --- | --- |"
  base_tps="$(med "${TPS[runtime-default]}")"
  for p in "${profiles[@]}"; do
    t="$(med "${TPS[$p]}")"
    echo "| $p | $(mib "$(med "${RSS0[$p]}")") | $(mib "$(med "${RSS_IDLE[$p]}")") | $(mib "$(med "${RSS_LOAD[$p]}")") | $t | $(ratio "$t" "$base_tps") |"
  done
  if ((IDLE_MANY > 0)); then
    echo
    echo "| $IDLE_MANY idle logged-in clients | logged in | KiB per client |"
    echo "| --- | --- | --- |"
    for p in "${many[@]}"; do echo "| $p | ${MANY_OK[$p]:-0} | ${PER_CLIENT[$p]} |"; done
  fi
  echo
  echo "Per round: TPS $(for p in "${profiles[@]}"; do printf '%s: %s; ' "$p" "${TPS[$p]}"; done)"
} | tee "$RESULTS"
log "written: $RESULTS (raw: $RAW)"
