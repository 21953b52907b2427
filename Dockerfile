# One image, two commands: `pggat pooler --config FILE` (what the operator's pooler Deployments run) and
# `pggat operator` (the operator itself). Build from the repository root:
#   docker build -t ghcr.io/pggat/pggat:0.1.0-SNAPSHOT .
# The tag must match what the operator uses as its default pooler image (ghcr.io/pggat/pggat:<version>), or pass
# --default-image to the operator.

FROM maven:3.9-eclipse-temurin-17 AS build
WORKDIR /src
# Poms first, so that dependency downloads stay cached while only sources change.
COPY pom.xml ./
COPY api/pom.xml api/
COPY testkit/pom.xml testkit/
COPY pooler/pom.xml pooler/
COPY demo/pom.xml demo/
COPY crds/pom.xml crds/
COPY operator/pom.xml operator/
COPY dist/pom.xml dist/
RUN mvn -B -q -pl dist -am dependency:go-offline -DexcludeReactor=true || true
COPY . .
# Tests need PostgreSQL binaries and run in CI, not in the image build.
RUN mvn -B -q -pl dist -am package -DskipTests -Dspotless.check.skip=true

FROM eclipse-temurin:17-jre
RUN groupadd --system --gid 65532 pggat \
 && useradd --system --uid 65532 --gid pggat --home-dir /nonexistent --shell /usr/sbin/nologin pggat \
 && mkdir -p /opt/pggat
COPY --from=build /src/dist/target/pggat-all.jar /opt/pggat/pggat.jar
RUN printf '#!/bin/sh\nexec java ${JAVA_OPTS:--XX:MaxRAMPercentage=75 -XX:+ExitOnOutOfMemoryError} -jar /opt/pggat/pggat.jar "$@"\n' \
      > /usr/local/bin/pggat \
 && chmod 0755 /usr/local/bin/pggat
# The pooler listens on 6432 (clients) and 9930 (admin); the operator's endpoint stream on 8090.
EXPOSE 6432 9930 8090
# A numeric user, so that runAsNonRoot can verify it without looking into the image.
USER 65532:65532
ENTRYPOINT ["pggat"]
CMD ["--help"]
