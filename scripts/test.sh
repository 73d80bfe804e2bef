#!/usr/bin/env bash
# Installs what agency needs, builds it, and runs every test: unit, integration
# (each against its own real nats-server) and end-to-end (the official NATS
# JavaScript clients driving the mesh from outside). ctest prints the summary.
# Then the unit tests again under AddressSanitizer and UndefinedBehaviorSanitizer
# (the asan preset: clang), and the libFuzzer targets of the parsers for a
# bounded time each (tests/fuzz/README.md).
#
# The asan build runs at the lowest CPU priority while the release tests run:
# those mostly wait on servers and agents, and the build takes only the idle
# CPU. Its output goes to build/asan-build.log, shown if it fails.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/check-format.sh
cmake --preset release
cmake --build --preset release
cmake --preset asan >/dev/null
echo "test.sh: building the asan preset in the background (build/asan-build.log)"
nice -n 19 cmake --build --preset asan >build/asan-build.log 2>&1 &
asan_build=$!
release_status=0
ctest --preset release || release_status=$?
asan_status=0
wait "$asan_build" || asan_status=$?
if [ "$asan_status" -ne 0 ]; then
  tail -n 60 build/asan-build.log
  echo "test.sh: the asan build failed (exit $asan_status)" >&2
  exit "$asan_status"
fi
echo "test.sh: asan build done"
if [ "$release_status" -ne 0 ]; then
  echo "test.sh: release tests failed (exit $release_status); the asan tests run anyway" >&2
fi
ctest --preset asan
exit "$release_status"
