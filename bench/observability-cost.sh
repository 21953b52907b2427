#!/usr/bin/env bash
# What observability costs on workload 1 (pgbench -S -M simple -c 50): pggat as shipped (statistics on, tracing
# off) next to statistics off (-Dpggat.serverStats=false) and tracing on with a sampler of 0 (the OpenTelemetry
# SDK on the class path, every span dropped by the sampler: the cost of asking), all in one run.
#
#   bash bench/observability-cost.sh [--rounds N] [--duration S] [--warmup S] [--clients N] [--reference JAR]
#
# (from the repository root). --reference adds a fourth variant: a pggat jar built from a commit without the tracing
# hooks, to measure what tracing off costs against not having the code at all.
#
# The variants run side by side as separate pggat processes on one throw-away PostgreSQL, all started and warmed
# up first; then each round runs pgbench once against every variant, in an order that rotates from round to round
# (A/B alternation), so drift in the machine's load spreads over all variants instead of favouring one. Prints a
# markdown table: the median TPS per variant over the rounds, each round's TPS, and the ratio to the baseline.
#
# Needs: PostgreSQL server binaries and pgbench (pg_config --bindir), python3, java 17+, the pggat jar
# (mvn -B -q -DskipTests package), and the OpenTelemetry SDK jars of the version in pom.xml in the local Maven
# repository (any build of the pooler's tests fetches them) or OTEL_SDK_CP set to their class path.
# As root, PostgreSQL runs as the `postgres` user.

set -euo pipefail

ROUNDS=5
DURATION=15
WARMUP=10
CLIENTS=50
THREADS=2
SCALE=10
POOL_SIZE=20
PGGAT_JAR="${PGGAT_JAR:-pooler/target/pggat.jar}"
PGGAT_JAVA_OPTS="${PGGAT_JAVA_OPTS:--Xmx512m}"
M2_REPO="${M2_REPO:-$HOME/.m2/repository}"
VARIANTS=(baseline stats-off tracing-sampler-0)

while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --clients) CLIENTS="$2"; shift 2 ;;
    --reference) REFERENCE_JAR="$2"; VARIANTS+=(reference); shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "observability-cost.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
done

command -v pg_config >/dev/null || { echo "pg_config not found: apt-get install -y postgresql" >&2; exit 2; }
PG_BIN="$(pg_config --bindir)"
[[ -x "$PG_BIN/pgbench" ]] || { echo "$PG_BIN/pgbench not found: apt-get install -y postgresql" >&2; exit 2; }
[[ -f "$PGGAT_JAR" ]] || { echo "$PGGAT_JAR not found: build it with mvn -B -q -DskipTests package" >&2; exit 2; }
command -v java >/dev/null || { echo "java not found (17+ needed)" >&2; exit 2; }

OTEL_VERSION="$(sed -n 's:.*<opentelemetry.version>\(.*\)</opentelemetry.version>.*:\1:p' pom.xml | head -1)"
if [[ -z "${OTEL_SDK_CP:-}" ]]; then
  OTEL_SDK_CP=""
  for a in opentelemetry-sdk opentelemetry-sdk-common opentelemetry-sdk-trace opentelemetry-sdk-metrics \
           opentelemetry-sdk-logs opentelemetry-sdk-extension-autoconfigure \
           opentelemetry-sdk-extension-autoconfigure-spi; do
    jar="$M2_REPO/io/opentelemetry/$a/$OTEL_VERSION/$a-$OTEL_VERSION.jar"
    [[ -f "$jar" ]] || { echo "$jar not found: run the pooler's tests once, or set OTEL_SDK_CP" >&2; exit 2; }
    OTEL_SDK_CP="$OTEL_SDK_CP:$jar"
  done
fi

if [[ $EUID -eq 0 ]]; then
  as_pg() { (cd "$WORK" && runuser -u postgres -- "$@"); }
else
  as_pg() { (cd "$WORK" && "$@"); }
fi
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

WORK="$(mktemp -d -t pggat-obs.XXXXXX)"
chmod 755 "$WORK"
mkdir -p "$WORK/pgdata" "$WORK/logs"
[[ $EUID -ne 0 ]] || chown -R postgres: "$WORK"
declare -A PID PORT
PG_PORT="$(free_port)"

cleanup() {
  local v
  for v in "${VARIANTS[@]}"; do
    [[ -z "${PID[$v]:-}" ]] || kill -TERM "${PID[$v]}" 2>/dev/null || true
  done
  as_pg "$PG_BIN/pg_ctl" -D "$WORK/pgdata" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

log "PostgreSQL on port $PG_PORT"
as_pg "$PG_BIN/initdb" -D "$WORK/pgdata" -A trust -U postgres >"$WORK/logs/initdb.log" 2>&1
as_pg "$PG_BIN/pg_ctl" -D "$WORK/pgdata" -l "$WORK/logs/pg.log" -w \
  -o "-p $PG_PORT -k $WORK -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
as_pg "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "CREATE DATABASE bench" postgres
as_pg "$PG_BIN/pgbench" -h 127.0.0.1 -p "$PG_PORT" -U postgres -i -q -s "$SCALE" bench >"$WORK/logs/init.log" 2>&1

start_variant() {
  local v="$1" port admin cfg
  port="$(free_port)"; admin="$(free_port)"; cfg="$WORK/$v.yaml"
  PORT[$v]="$port"
  cat >"$cfg" <<EOF
listen:
  host: 127.0.0.1
  port: $port
admin:
  host: 127.0.0.1
  port: $admin
pools:
  maxServerConnections: $POOL_SIZE
databases:
  bench:
    endpoints:
      - host: 127.0.0.1
        port: $PG_PORT
    users:
      postgres:
        auth: trust
EOF
  # shellcheck disable=SC2206 # the options are a space-separated list on purpose
  local opts=($PGGAT_JAVA_OPTS) cmd
  case "$v" in
    baseline) cmd=(java "${opts[@]}" -jar "$PGGAT_JAR") ;;
    stats-off) cmd=(java "${opts[@]}" -Dpggat.serverStats=false -jar "$PGGAT_JAR") ;;
    reference) cmd=(java "${opts[@]}" -jar "$REFERENCE_JAR") ;;
    tracing-sampler-0)
      printf 'tracing:\n  enabled: true\n  samplerRatio: 0\n' >>"$cfg"
      cmd=(env OTEL_TRACES_EXPORTER=none java "${opts[@]}" -cp "$PGGAT_JAR$OTEL_SDK_CP" dev.pggat.pooler.cli.Main) ;;
  esac
  "${cmd[@]}" pooler --config "$cfg" >"$WORK/logs/$v.log" 2>&1 &
  PID[$v]=$!
  local i
  for i in $(seq 600); do
    if curl -sf "http://127.0.0.1:$admin/readyz" >/dev/null 2>&1; then return 0; fi
    kill -0 "${PID[$v]}" 2>/dev/null || { cat "$WORK/logs/$v.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "$v did not become ready; its log:" >&2; cat "$WORK/logs/$v.log" >&2; exit 1
}

tps() {
  local port="$1" secs="$2" out
  out="$(as_pg "$PG_BIN/pgbench" -h 127.0.0.1 -p "$port" -U postgres -S -M simple -c "$CLIENTS" -j "$THREADS" \
    -T "$secs" -n bench 2>&1)" || { echo "$out" >&2; echo 0; return; }
  sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$out" | head -1
}

for v in "${VARIANTS[@]}"; do
  log "start $v"
  start_variant "$v"
done
grep -q "OpenTelemetry SDK configured" "$WORK/logs/tracing-sampler-0.log" \
  || { echo "tracing-sampler-0 did not set up the SDK; its log:" >&2; cat "$WORK/logs/tracing-sampler-0.log" >&2; exit 1; }
for v in "${VARIANTS[@]}"; do
  log "warm up $v (${WARMUP}s)"
  tps "${PORT[$v]}" "$WARMUP" >/dev/null
done

declare -A RESULTS
n=${#VARIANTS[@]}
for r in $(seq "$ROUNDS"); do
  for k in $(seq 0 $((n - 1))); do
    v="${VARIANTS[$(((k + r) % n))]}"
    t="$(tps "${PORT[$v]}" "$DURATION")"
    log "round $r: $v $t tps"
    RESULTS[$v]="${RESULTS[$v]:-} $t"
  done
done

median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
base="$(median <<<"${RESULTS[baseline]}")"
echo
echo "Workload 1 (pgbench -S -M simple -c $CLIENTS -j $THREADS, ${DURATION}s x $ROUNDS rounds, rotating order);" \
  "$(nproc) cores, load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| variant | median TPS | vs baseline | TPS per round |"
echo "|---|---|---|---|"
for v in "${VARIANTS[@]}"; do
  m="$(median <<<"${RESULTS[$v]}")"
  ratio="$(awk -v a="$m" -v b="$base" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')"
  echo "| $v | $m | $ratio | ${RESULTS[$v]# } |"
done
