# The agency image: every binary of this repository on Debian 12, run as the
# user agency. Nothing but Debian packages is downloaded. From the
# repository's root (docs/OPERATIONS.md, "Compose"):
#   docker build -t agency:latest --build-arg AGENCY_UID=$(id -u) --build-arg AGENCY_GID=$(id -g) .
# The user agency gets that uid and gid, so it can write ./creds and the
# repositories under ./work that compose.yaml mounts, and git trusts them.

# Build: the Debian 12 packages of scripts/install-deps.sh (AGENCY_SKIP_NPM=1:
# none of the JavaScript test clients), then the release preset. The tests
# and benchmarks are not part of the image.
FROM debian:12 AS build
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN AGENCY_SKIP_NPM=1 bash scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake --preset release -DAGENCY_BUILD_TESTS=OFF -DAGENCY_BUILD_BENCH=OFF \
 && cmake --build build/release

# Run: the shared libraries the binaries link (CMakeLists.txt: nats.c,
# protobuf, spdlog, fmt, yaml-cpp, libcurl, OpenSSL, SQLite; Boost, CLI11 and
# nlohmann-json are header-only), git for the builders' worktrees and the
# integrator's landings, nats-server for `agency up` in the container.
FROM debian:12
ARG AGENCY_UID=1000
ARG AGENCY_GID=1000
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates git nats-server openssl \
      libnats3.4 libprotobuf32 libspdlog1.10 libfmt9 libyaml-cpp0.7 \
      libcurl4 libssl3 libsqlite3-0 \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --gid "$AGENCY_GID" agency \
 && useradd --uid "$AGENCY_UID" --gid agency --create-home --shell /bin/bash agency \
 && install -d -o agency -g agency /var/lib/agency /work
# agency, agency-<role> and skills/<role>/SKILL.md, which each agent finds
# beside its binary.
COPY --from=build /src/build/release/bin/ /usr/local/bin/
USER agency
WORKDIR /home/agency
CMD ["agency", "--help"]
