#!/usr/bin/env bash
# Installs everything agency needs to build, run and test, from Debian 12
# packages and the npm registry only. Idempotent: a second run installs nothing.
#   bash scripts/install-deps.sh            build + run + test dependencies
#   AGENCY_SKIP_NPM=1 bash scripts/install-deps.sh   skip the JavaScript test clients
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Why Boost 1.81 and not Debian's default 1.74: 1.81 is the newest Boost in
# Debian 12, its Asio has the C++20 coroutine fixes that 1.74 lacks, and the
# headers we use (Asio, system) are header-only, so nothing links against it.
packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  nats-server libnats-dev
  libprotobuf-dev protobuf-compiler
  libboost1.81-dev
  libspdlog-dev libfmt-dev
  doctest-dev
  libyaml-cpp-dev
  libcli11-dev
  nlohmann-json3-dev
  libcurl4-openssl-dev
  libssl-dev        # SHA-256 of payloads too large for a dead letter; NKeys
  openssl           # agency up --tls: a CA and a server certificate
  libsqlite3-dev
  clang-format
  # The asan preset: clang with its sanitizer and libFuzzer runtimes
  # (tests/fuzz/README.md).
  clang libclang-rt-14-dev
  clang-tidy-14     # scripts/tidy.sh: clang-tidy-14 and run-clang-tidy-14
  ccache            # CMakeLists.txt uses it when present: rebuilds take seconds
  librsvg2-bin      # rsvg-convert: agency usage --chart FILE.png
  # The web console's end-to-end test and benchmark drive a real browser with
  # playwright-core, which downloads none: Debian's own build is the one
  # (tests/e2e/console.test.js launches /usr/bin/chromium).
  chromium
)

# Node.js runs the independent-client tests and, later, the real `claude` CLI.
# Machines of this kind ship it; a bare Debian 12 gets Debian's own.
command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "install-deps: Debian packages already installed"
fi

# The independent NATS clients the end-to-end tests drive the mesh with, and
# the real Claude Code CLI the claude engine tests run against a scripted
# model server on loopback (tests/support/model_server.js), and playwright-core
# for the console's browser test.
if [[ "${AGENCY_SKIP_NPM:-0}" != 1 ]]; then
  if [[ ! -d "$here/tests/e2e/node_modules/@nats-io/transport-node" ]] ||
     [[ ! -x "$here/tests/e2e/node_modules/.bin/claude" ]] ||
     [[ ! -x "$here/tests/e2e/node_modules/.bin/codex" ]] ||
     [[ ! -x "$here/tests/e2e/node_modules/.bin/gemini" ]] ||
     [[ ! -x "$here/tests/e2e/node_modules/.bin/ccusage" ]] ||
     [[ ! -d "$here/tests/e2e/node_modules/playwright-core" ]] ||
     [[ "$here/tests/e2e/package.json" -nt "$here/tests/e2e/node_modules" ]]; then
    echo "install-deps: installing the JavaScript test clients, the Claude Code, Codex and Gemini CLIs, ccusage and playwright-core (npm)"
    (cd "$here/tests/e2e" && npm install --no-audit --no-fund --loglevel=error)
  else
    echo "install-deps: JavaScript test clients already installed"
  fi
  # The example role written in JavaScript (examples/linter-role), which
  # tests/e2e/linter-role.test.js runs: exactly what its lock file says.
  if [[ ! -d "$here/examples/linter-role/node_modules/protobufjs" ]] ||
     [[ ! -d "$here/examples/linter-role/node_modules/@nats-io/transport-node" ]] ||
     [[ "$here/examples/linter-role/package-lock.json" -nt "$here/examples/linter-role/node_modules" ]]; then
    echo "install-deps: installing the example JavaScript role's dependencies (npm ci in examples/linter-role)"
    (cd "$here/examples/linter-role" && npm ci --no-audit --no-fund --loglevel=error)
  else
    echo "install-deps: example JavaScript role's dependencies already installed"
  fi
fi
