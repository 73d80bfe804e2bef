#!/usr/bin/env bash
# Runs clang-tidy 14 (the checks in .clang-tidy) over the product sources:
# every .cpp under bus/ runtime/ roles/ cli/ bench/ in the compile database
# (not tests/, not the generated protobuf code), and the headers of those
# folders they include. Prints each finding once, then a count per check;
# exits 1 on any finding or on a file clang-tidy could not parse.
#
#   bash scripts/tidy.sh [-j N] [-p BUILD_DIR] [--since REF] [--record] [REGEX...]
#
# BUILD_DIR (default build/asan: clang, the flags clang-tidy understands)
# needs its compile_commands.json and the generated protobuf headers:
#   cmake --preset asan && cmake --build --preset asan --target agency_schemas
# REGEX limits the run to the files whose path matches (run-clang-tidy's
# positional arguments), e.g. `bash scripts/tidy.sh bus/kv.cpp`.
# --since REF checks only what changed after REF: the .cpp files changed, and
# every .cpp that includes a changed header (directly or through another
# header; a changed .proto counts as a change to its .pb.h). A change to
# .clang-tidy, this script or CMakePresets.json, or a REF this clone does not
# have, checks everything. scripts/tidy-clean-at holds the last commit a full
# run found clean; CI passes it. --record runs everything and, on no finding
# and no uncommitted product change, writes HEAD there (commit it).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
jobs=$(nproc)
build=$root/build/asan
since=
record=0
while (($#)); do
  case "$1" in
    -j) jobs=$2; shift 2 ;;
    -j*) jobs=${1#-j}; shift ;;
    -p) build=$(cd "$2" && pwd); shift 2 ;;
    --since) since=$2; shift 2 ;;
    --record) record=1; shift ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) break ;;
  esac
done

if ((record)) && { [[ -n "$since" ]] || (($#)); }; then
  echo "tidy.sh: --record checks everything: no --since, no REGEX" >&2
  exit 2
fi

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
(cd "$root" && git ls-files -- 'bus/*.cpp' 'runtime/*.cpp' 'roles/*.cpp' 'cli/*.cpp' 'bench/*.cpp') \
  >"$tmp/tracked"

# --since: the files to check, one per line in $tmp/only ("all" for everything).
echo all >"$tmp/only"
if [[ -n "$since" ]]; then
  if ! git -C "$root" cat-file -e "$since^{commit}" 2>/dev/null; then
    echo "tidy.sh: $since is not a commit of this clone; checking everything" >&2
  else
    # Committed and uncommitted changes after REF, tracked or not.
    { git -C "$root" diff --name-only "$since" --
      git -C "$root" ls-files --others --exclude-standard; } | sort -u >"$tmp/changed"
    python3 - "$root" "$tmp/changed" "$tmp/only" <<'PY'
import os, re, sys
root, changed_path, only_path = sys.argv[1:]
changed = set(open(changed_path).read().split())
whole = {'.clang-tidy', 'scripts/tidy.sh', 'CMakePresets.json'}
if changed & whole:
    print(f'tidy.sh: {", ".join(sorted(changed & whole))} changed; checking everything',
          file=sys.stderr)
    sys.exit(0)
product = re.compile(r'(bus|runtime|cli|bench|roles/[^/]+)/[^/]+\.(cpp|hpp)$')
include = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.M)
# Who includes whom, over the product sources (includes are root-relative;
# a generated agency/v1/x.pb.h stands for schemas/agency/v1/x.proto).
includers = {}
for folder in ('bus', 'runtime', 'cli', 'bench', 'roles'):
    for dirpath, _, names in os.walk(os.path.join(root, folder)):
        for name in names:
            rel = os.path.relpath(os.path.join(dirpath, name), root)
            if not product.fullmatch(rel):
                continue
            for inc in include.findall(open(os.path.join(root, rel), errors='replace').read()):
                if inc.endswith('.pb.h'):
                    inc = 'schemas/' + inc[:-len('.pb.h')] + '.proto'
                includers.setdefault(inc, set()).add(rel)
todo, seen = list(changed), set(changed)
while todo:
    for rel in includers.get(todo.pop(), ()):
        if rel not in seen:
            seen.add(rel)
            todo.append(rel)
only = sorted(f for f in seen if f.endswith('.cpp') and product.fullmatch(f)
              and os.path.exists(os.path.join(root, f)))
print(f'tidy.sh: {len(changed)} files changed since the clean commit; '
      f'{len(only)} product .cpp files to check', file=sys.stderr)
open(only_path, 'w').write('\n'.join(only) + '\n' if only else 'none\n')
PY
  fi
fi
if [[ "$(cat "$tmp/only")" == none ]]; then
  printf '\ntidy.sh: 0 findings in 0 s (nothing to check since %s)\n' "$since"
  exit 0
fi

python3 - "$root" "$build/compile_commands.json" "$tmp/tracked" "$tmp/compile_commands.json" "$tmp/only" <<'PY'
import json, os, re, shlex, sys
root, db_path, tracked_path, out_path, only_path = sys.argv[1:]
only = open(only_path).read().split()
only = None if only == ['all'] else set(only)
product = re.compile(r'(bus|runtime|cli|bench|roles/[^/]+)/[^/]+\.cpp$')
extra_defs = {'bench/bench.cpp': ['-DAGENCY_BENCH_BUILD_TYPE="tidy"'],
              'bench/ingest.cpp': ['-DAGENCY_BENCH_BUILD_TYPE="tidy"',
                                   f'-DAGENCY_SOURCE_DIR="{root}"']}
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
if only is not None:
    entries = [e for e in entries
               if os.path.relpath(os.path.normpath(os.path.join(e['directory'], e['file'])),
                                  root) in only]
json.dump(entries, open(out_path, 'w'), indent=1)
print(f'tidy.sh: {len(entries)} product files in the database', file=sys.stderr)
PY

status=0
start=$SECONDS
run-clang-tidy-14 -p "$tmp" -j "$jobs" -quiet \
  -header-filter="^$root/(bus|runtime|cli|bench|roles/[^/]+)/[^/]+\\.hpp\$" \
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
if ((record)); then
  if [[ -n "$(git -C "$root" status --porcelain -- bus runtime cli bench roles .clang-tidy)" ]]; then
    echo "tidy.sh: clean, but the product sources have uncommitted changes: nothing recorded" >&2
    exit 1
  fi
  git -C "$root" rev-parse HEAD >"$root/scripts/tidy-clean-at"
  echo "tidy.sh: recorded $(cat "$root/scripts/tidy-clean-at") in scripts/tidy-clean-at"
fi
