#!/usr/bin/env bash
# Runs clang-tidy 14 (the checks in .clang-tidy) over the product sources:
# every .cpp under bus/ agents/ roles/ cli/ bench/ in the compile database
# (not tests/, not the generated protobuf code), and the headers of those
# folders they include. Prints each finding once, then a count per check;
# exits 1 on any finding or on a file clang-tidy could not parse.
#
#   bash scripts/tidy.sh [-j N] [-p BUILD_DIR] [REGEX...]
#
# BUILD_DIR (default build/asan: clang, the flags clang-tidy understands)
# needs its compile_commands.json and the generated protobuf headers:
#   cmake --preset asan && cmake --build --preset asan --target agency_schemas
# REGEX limits the run to the files whose path matches (run-clang-tidy's
# positional arguments), e.g. `bash scripts/tidy.sh bus/kv.cpp`.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
jobs=$(nproc)
build=$root/build/asan
while (($#)); do
  case "$1" in
    -j) jobs=$2; shift 2 ;;
    -j*) jobs=${1#-j}; shift ;;
    -p) build=$(cd "$2" && pwd); shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) break ;;
  esac
done

if [[ ! -f "$build/compile_commands.json" ]] ||
   ! compgen -G "$build/schemas/gen/agency/v1/*.pb.h" >/dev/null; then
  echo "tidy.sh: $build has no compile_commands.json or generated headers; run:" >&2
  echo "  cmake --preset asan && cmake --build --preset asan --target agency_schemas" >&2
  exit 2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The database of the product sources only. A product .cpp the build does not
# configure (bench/: the asan preset has AGENCY_BUILD_BENCH off) gets the
# flags of a role's main.cpp, which links the same libraries, plus the
# definitions its CMakeLists.txt adds.
(cd "$root" && git ls-files -- 'bus/*.cpp' 'agents/*.cpp' 'roles/*.cpp' 'cli/*.cpp' 'bench/*.cpp') \
  >"$tmp/tracked"
python3 - "$root" "$build/compile_commands.json" "$tmp/tracked" "$tmp/compile_commands.json" <<'PY'
import json, os, re, shlex, sys
root, db_path, tracked_path, out_path = sys.argv[1:]
product = re.compile(r'(bus|agents|cli|bench|roles/[^/]+)/[^/]+\.cpp$')
extra_defs = {'bench/bench.cpp': ['-DAGENCY_BENCH_BUILD_TYPE="tidy"']}
entries, donor, have = [], None, set()
for e in json.load(open(db_path)):
    path = os.path.normpath(os.path.join(e['directory'], e['file']))
    rel = os.path.relpath(path, root)
    if rel.startswith('..') or not product.fullmatch(rel):
        continue
    entries.append(e)
    have.add(rel)
    if donor is None and re.fullmatch(r'roles/[^/]+/main\.cpp', rel):
        donor = e
for rel in open(tracked_path).read().split():
    if rel in have or not product.fullmatch(rel) or donor is None:
        continue
    args = donor.get('arguments') or shlex.split(donor['command'])
    old = os.path.normpath(os.path.join(donor['directory'], donor['file']))
    path = os.path.join(root, rel)
    args = [path if a in (donor['file'], old) else a for a in args]
    if '-o' in args:
        args[args.index('-o') + 1] = '/dev/null'
    args[1:1] = extra_defs.get(rel, [])
    entries.append({'directory': donor['directory'], 'file': path, 'arguments': args})
    print(f'tidy.sh: {rel} is not in the build; checked with the flags of '
          f'{os.path.relpath(old, root)}', file=sys.stderr)
json.dump(entries, open(out_path, 'w'), indent=1)
print(f'tidy.sh: {len(entries)} product files in the database', file=sys.stderr)
PY

status=0
start=$SECONDS
run-clang-tidy-14 -p "$tmp" -j "$jobs" -quiet \
  -header-filter="^$root/(bus|agents|cli|bench|roles/[^/]+)/[^/]+\\.hpp\$" \
  "$@" >"$tmp/out" 2>&1 || status=$?

# A header's finding comes once per file that includes it: print it once.
python3 - "$root" "$tmp/out" "$status" "$((SECONDS - start))" <<'PY'
import collections, re, sys
root, out_path, status, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
diag = re.compile(r'^(/[^:]+):(\d+):(\d+): (warning|error): (.*) \[([^\]]+)\]$')
seen, per_check, block, keep = set(), collections.Counter(), [], False
# run-clang-tidy-14 always passes --use-color: drop the colours.
ansi = re.compile(r'\x1b\[[0-9;]*m')
lines = ansi.sub('', open(out_path, errors='replace').read()).splitlines()
def flush():
    if keep:
        print('\n'.join(block))
for line in lines:
    m = diag.match(line)
    if m:
        flush()
        path, row, col, _, text, checks = m.groups()
        check = checks.split(',')[0]
        key = (path, row, col, check)
        keep = key not in seen
        seen.add(key)
        if keep:
            per_check[check] += 1
        block = [line.replace(root + '/', '')]
    elif line.startswith(('clang-tidy-14 ', '/usr/bin/clang-tidy', 'clang-tidy ')) or \
            re.match(r'^\d+ (warnings?|errors?) (generated|treated as errors)\.$', line) or \
            re.match(r'^Suppressed \d+ warnings', line) or line.startswith('Use -header-filter') or \
            line.startswith('Running clang-tidy for') or line.startswith('Error while processing'):
        flush()
        block, keep = [], False
    else:
        block.append(line.replace(root + '/', ''))
flush()
total = sum(per_check.values())
print(f'\ntidy.sh: {total} findings in {seconds} s')
for check, n in per_check.most_common():
    print(f'{n:6d}  {check}')
if total == 0 and status != 0:
    print(f'tidy.sh: run-clang-tidy failed (exit {status}) with no finding parsed:')
    print('\n'.join(lines[-40:]))
sys.exit(1 if total or status else 0)
PY
