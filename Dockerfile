# One image, two commands: `pggat pooler --config FILE` (what the operator's pooler Deployments run) and
# `pggat operator` (the operator itself). Build from the repository root:
#   docker build -t ghcr.io/pggat/pggat:0.1.0-SNAPSHOT .
# A smaller image with the pooler only, for sidecars and pooler Deployments (pass it to the operator's
# --default-image): docker build --target pooler -t ghcr.io/pggat/pggat-pooler:0.1.0-SNAPSHOT .
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
# A Java runtime of only the modules the jar uses (jdeps + jlink) and a class-data archive from a training start of
# the pooler, built at the path the image runs it from (the archive records the jar's path). The distribution jar
# also carries the operator, whose libraries may reach java.desktop: nothing jdeps lists is dropped.
RUN bash dist/build-runtime.sh --jar dist/target/pggat-all.jar --out /opt/pggat --drop-modules ""
# The same for the pooler alone (`docker build --target pooler`): what a sidecar needs, smaller still.
RUN bash dist/build-runtime.sh --jar pooler/target/pggat.jar --out /opt/pggat-pooler

# Both images: glibc (the runtime's and Netty's native libraries need it), no JDK, no package manager at run time.
FROM debian:bookworm-slim AS base
RUN groupadd --system --gid 65532 pggat \
 && useradd --system --uid 65532 --gid pggat --home-dir /nonexistent --shell /usr/sbin/nologin pggat
# The pooler listens on 6432 (clients) and 9930 (admin); the operator's endpoint stream on 8090.
EXPOSE 6432 9930 8090
# A numeric user, so that runAsNonRoot can verify it without looking into the image.
USER 65532:65532
ENTRYPOINT ["pggat"]
CMD ["--help"]

# `pggat pooler` only: what the operator's pooler Deployments and sidecars need.
FROM base AS pooler
COPY --from=build /opt/pggat-pooler /opt/pggat-pooler
ENV PATH=/opt/pggat-pooler/bin:$PATH

# The default image: `pggat pooler ...` and `pggat operator ...`.
FROM base AS full
COPY --from=build /opt/pggat /opt/pggat
ENV PATH=/opt/pggat/bin:$PATH
