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
# CPU. Its output goes to build/asan-build.log, shown if it fails. clang-tidy
# (scripts/tidy.sh, over the asan preset's compile database) runs beside it
# the same way, over what changed since the commit a full run last found clean
# (scripts/tidy-clean-at; everything if this clone lacks it); any finding
# fails the run after the asan tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/check-format.sh
cmake --preset release
cmake --build --preset release
cmake --preset asan >/dev/null
# clang-tidy reads build/asan/compile_commands.json and the generated headers.
cmake --build --preset asan --target agency_schemas >/dev/null
echo "test.sh: clang-tidy in the background (build/tidy.log)"
clean_at=$(cat scripts/tidy-clean-at 2>/dev/null || true)
nice -n 19 bash scripts/tidy.sh -j 2 ${clean_at:+--since "$clean_at"} >build/tidy.log 2>&1 &
tidy=$!
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
tidy_status=0
wait "$tidy" || tidy_status=$?
sed -n '/^tidy.sh: [0-9]* findings/,$p' build/tidy.log
if [ "$tidy_status" -ne 0 ]; then
  tail -n 80 build/tidy.log
  echo "test.sh: clang-tidy found problems (build/tidy.log); the asan tests run anyway" >&2
fi
if [ "$release_status" -ne 0 ]; then
  echo "test.sh: release tests failed (exit $release_status); the asan tests run anyway" >&2
fi
ctest --preset asan
if [ "$release_status" -eq 0 ] && [ "$tidy_status" -ne 0 ]; then exit "$tidy_status"; fi
exit "$release_status"
