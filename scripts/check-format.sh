#!/usr/bin/env bash
# Fails when a C++ file of ours is not formatted as .clang-format says, or
# when a test's name has a ';' (ctest cuts the name there, and the cut name
# matches no test: it would pass without running).
# Fix with: bash scripts/check-format.sh --fix
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.cpp' '*.hpp')
if [[ "${1:-}" == --fix ]]; then
  clang-format -i "${files[@]}"
  exit 0
fi
bad=0
for f in "${files[@]}"; do
  if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
    echo "not formatted: $f"
    bad=1
  fi
done
names=$(perl -0ne 'while (/TEST_CASE\(\s*"((?:[^"\\]|\\.)*)"/g) { print "$ARGV: $1\n" if index($1, ";") >= 0 }' \
  $(git ls-files 'tests/*.cpp'))
if [[ -n "$names" ]]; then
  echo "test names with ';' (ctest would skip them):"
  echo "$names"
  exit 1
fi
if ((bad)); then
  echo "run: bash scripts/check-format.sh --fix"
  exit 1
fi
echo "format: ${#files[@]} files ok"
