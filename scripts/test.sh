#!/usr/bin/env bash
# Installs what agency needs, builds it, and runs every test: unit, integration
# (each against its own real nats-server) and end-to-end (the official NATS
# JavaScript clients driving the mesh from outside). ctest prints the summary.
# Then the unit tests again under AddressSanitizer and UndefinedBehaviorSanitizer
# (the asan preset: clang), and the libFuzzer targets of the parsers for a
# bounded time each (tests/fuzz/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/check-format.sh
cmake --preset release
cmake --build --preset release
ctest --preset release
cmake --preset asan
cmake --build --preset asan
ctest --preset asan
