#!/usr/bin/env bash
# Runs one libFuzzer target from its corpus in the repo without writing to it:
# new inputs go to a temporary folder that is removed afterwards, a crash is
# written as crash-<sha1> in the current folder (and its bytes printed).
#   bash tests/fuzz/run.sh build/asan/tests/fuzz/agency_fuzz_cron tests/fuzz/corpus/cron -max_total_time=60
set -euo pipefail
if (($# < 2)); then
  echo "usage: $0 FUZZ_BINARY CORPUS_DIR [libFuzzer options...]" >&2
  exit 2
fi
binary=$1 corpus=$2
shift 2
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# -print_final_stats: how many inputs ran, so a run that tried nothing shows.
"$binary" -print_final_stats=1 -timeout=10 -rss_limit_mb=4096 "$@" "$scratch" "$corpus"
