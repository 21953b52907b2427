#!/usr/bin/env bash
# Builds the pooler's runtime image directory: a Java runtime trimmed to the modules the pooler uses (jdeps +
# jlink), the pooler jar, and a class-data archive made by a training start so that the pooler starts faster.
#
#   bash dist/build-runtime.sh [--jar FILE] [--out DIR] [--java-home DIR] [--drop-modules LIST]
#
#   --jar FILE        the pooler jar (default pooler/target/pggat.jar; build it with mvn -pl pooler -am package)
#   --out DIR         where the image directory goes (default dist/target/runtime); replaced if it exists
#   --java-home DIR   the JDK whose jdeps/jlink build the runtime (default: the JDK of `java` on PATH). JDK 17-24:
#                     a static AppCDS archive (-Xshare:dump); JDK 25+: an AOT cache (-XX:AOTCacheOutput).
#
# Result (what the Dockerfile copies to /opt/pggat):
#   DIR/bin/java ...       the trimmed runtime
#   DIR/app/pggat.jar      the pooler jar
#   DIR/app/pggat.jsa      (JDK 17-24) or DIR/app/pggat.aot (JDK 25+): the class-data archive
#   DIR/bin/pggat          the launcher: DIR/bin/pggat pooler --config FILE
# The archive is only valid with this runtime and this jar at this path: the Dockerfile builds it in place
# (/opt/pggat). A mismatched archive is ignored by the JVM (with a warning), never fatal.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
jar="$here/pooler/target/pggat.jar"
out="$here/dist/target/runtime"
java_home=""
drop="java.desktop,java.compiler"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --jar) jar="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --java-home) java_home="$2"; shift 2 ;;
    --drop-modules) drop="$2"; shift 2 ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-runtime.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
# The archive records the jar's path as given at dump time: make it absolute, so that it matches however the
# launcher is started (from any working directory).
out="$(realpath -m "$out")"
jar="$(realpath -m "$jar")"
if [[ -z "$java_home" ]]; then
  java_home="$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")"
fi
for tool in java jdeps jlink; do
  [[ -x "$java_home/bin/$tool" ]] || { echo "build-runtime.sh: $java_home/bin/$tool not found (need a full JDK 17+)" >&2; exit 2; }
done
[[ -f "$jar" ]] || { echo "build-runtime.sh: $jar not found; build it with: mvn -B -pl pooler -am package -DskipTests" >&2; exit 2; }
feature="$("$java_home/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')"

# The modules the jar's classes refer to. Left out on purpose, although jdeps lists them: java.desktop (java.beans,
# reached only by Jackson's and SnakeYAML's bean introspection, which the pooler's tree-model parsing never uses;
# Jackson checks for it and goes on without) and java.compiler (annotation-processing types). Added although jdeps
# cannot see them, because they are found through services: jdk.crypto.ec (elliptic-curve TLS on JDK < 22) and
# jdk.management (the JVM metrics' operating-system figures).
modules="$("$java_home/bin/jdeps" --ignore-missing-deps --print-module-deps --multi-release "$feature" -q "$jar")"
kept=()
for m in ${modules//,/ }; do [[ ",$drop," == *",$m,"* ]] || kept+=("$m"); done
modules="$(IFS=,; echo "${kept[*]}")"
for extra in jdk.crypto.ec jdk.management; do
  if [[ ",$modules," != *",$extra,"* ]] && "$java_home/bin/java" --list-modules | grep -q "^$extra@"; then
    modules="$modules,$extra"
  fi
done

rm -rf "$out"
compress=2
((feature >= 21)) && compress=zip-6
"$java_home/bin/jlink" --add-modules "$modules" --strip-debug --no-header-files --no-man-pages \
  --compress="$compress" --output "$out"
mkdir -p "$out/app"
cp "$jar" "$out/app/pggat.jar"
# Netty's native libraries for this architecture go next to the runtime's own (it loads them from there without
# unpacking a copy into /tmp on every start); the other platforms' copies leave the jar.
case "$(uname -m)" in
  x86_64|amd64) arch=x86_64 ;;
  aarch64|arm64) arch=aarch_64 ;;
  *) arch="$(uname -m)" ;;
esac
"$java_home/bin/java" "$here/dist/src/build/NativeLibraries.java" "$out/app/pggat.jar" "$out/app/native" "$arch"

# One archive holds the JDK's and the pooler's classes that a start loads, so the runtime needs no default CDS
# archive of its own (jlink --generate-cds-archive would add two, 23 MB, that the application archive replaces).
if ((feature >= 25)); then
  archive="$out/app/pggat.aot"
  train=(-XX:AOTCacheOutput="$archive")
  # An AOT cache that does not match is ignored with a warning (-XX:AOTMode=auto, the default); -Xshare options
  # cannot be combined with it.
  use="-XX:AOTCache=\$here/app/pggat.aot"
else
  archive="$out/app/pggat.jsa"
  train=(-XX:DumpLoadedClassList="$out/app/classes.lst")
  # Mapped where it was dumped: some JDK 17 builds relocate it by default (address randomisation), which turns
  # its 30 MB into private dirty memory in every process; mapped in place its pages stay clean and shared.
  use="-XX:SharedArchiveFile=\$here/app/pggat.jsa -XX:+UnlockDiagnosticVMOptions -XX:ArchiveRelocationMode=0 -Xshare:auto"
fi
cat >"$out/bin/pggat" <<EOF
#!/bin/sh
# pggat on its trimmed runtime with the class-data archive built for it (dist/build-runtime.sh).
here="\$(cd "\$(dirname "\$0")/.." && pwd)"
exec "\$here/bin/java" $use -Djava.library.path="\$here/app/native" \${JAVA_OPTS:--XX:MaxRAMPercentage=75 -XX:+ExitOnOutOfMemoryError} -jar "\$here/app/pggat.jar" "\$@"
EOF
chmod 0755 "$out/bin/pggat"

# Training start: the classes a real start loads (configuration, Netty, TLS, the admin endpoint and its metrics)
# go into the archive. A database whose server is unreachable is enough; no client connects.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
free_port() { "$java_home/bin/java" "$here/dist/src/build/FreePort.java"; }
port="$(free_port)"; admin="$(free_port)"
cat >"$work/pggat.yaml" <<EOF
listen:
  host: 127.0.0.1
  port: $port
admin:
  host: 127.0.0.1
  port: $admin
databases:
  app:
    endpoints:
      - host: 127.0.0.1
        port: 1
    users:
      app:
        password: training-only
EOF
"$out/bin/java" "${train[@]}" -Djava.library.path="$out/app/native" -jar "$out/app/pggat.jar" pooler --config "$work/pggat.yaml" >"$work/train.log" 2>&1 &
pid=$!
ready=0
for _ in $(seq 600); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$admin") 2>/dev/null; then ready=1; break; fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if ((ready)); then
  # The admin endpoint's pages load their classes too (health, readiness, Prometheus exposition).
  for path in /healthz /readyz /metrics; do
    exec 3<>"/dev/tcp/127.0.0.1/$admin"
    printf 'GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' "$path" >&3
    cat <&3 >/dev/null || true
    exec 3<&-
  done
fi
kill -TERM "$pid" 2>/dev/null || true
wait "$pid" || true
if ((feature < 25)) && ((ready)); then
  "$out/bin/java" -Xshare:dump -XX:SharedClassListFile="$out/app/classes.lst" -XX:SharedArchiveFile="$archive" \
    -cp "$out/app/pggat.jar" >"$work/dump.log" 2>&1 || cat "$work/dump.log" >&2
  rm -f "$out/app/classes.lst"
fi
if ((!ready)) || [[ ! -s "$archive" ]]; then
  echo "build-runtime.sh: the training start did not produce $archive; its output:" >&2
  cat "$work/train.log" >&2
  exit 1
fi
echo "runtime: $out ($(du -sm "$out" | cut -f1) MB: runtime $(du -sm --exclude=app "$out" | cut -f1) MB," \
  "jar $(du -sm "$out/app/pggat.jar" | cut -f1) MB, archive $(du -sm "$archive" | cut -f1) MB); modules: $modules"
