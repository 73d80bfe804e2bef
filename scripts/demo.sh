#!/usr/bin/env bash
# The offline demo, and the README's main command: installs what agency needs,
# builds it, and runs the real fleet (`agency up`: embedded nats-server plus
# planner, two builders, adversary, reviewer, integrator, proxy, sweeper and
# accountant processes) on a sample git project. One brief is split by the
# planner into three sub-tasks (an epic); two builders work the first two in
# parallel; both change the same lines, so the integrator lands one and
# bounces the other with the conflict, which comes back resolved and lands on
# the second try; the third starts once both have landed. The epic is done
# and main holds the three landed changes. Then the knowledge proxy answers
# from the project's docs, and says so when they do not cover a question.
#
# The agents use the SCRIPTED engine: deterministic answers from a scenario
# file, no AI model, so the demo runs offline. The end of the run says how to
# put a real engine in its place.
#
#   bash scripts/demo.sh               install, build, run the demo
#   AGENCY_DEMO_SKIP_BUILD=1 bash scripts/demo.sh   reuse the build
#   AGENCY_DEMO_DIR=/tmp/d bash scripts/demo.sh     work there (default .agency-demo)
#   AGENCY_DEMO_BIN=build/x/bin ...    the binaries of another build
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
if [[ "${AGENCY_DEMO_SKIP_BUILD:-0}" != 1 ]]; then
  AGENCY_SKIP_NPM=1 bash scripts/install-deps.sh
  cmake --preset release >/dev/null
  cmake --build --preset release
fi
bin="${AGENCY_DEMO_BIN:-$root/build/release/bin}"
demo="${AGENCY_DEMO_DIR:-$root/.agency-demo}"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "A sample project in $demo/project"
rm -rf "$demo"
mkdir -p "$demo/project"
git -C "$demo/project" init -q -b main
printf '# greeter\nA tiny project the demo fleet works on.\n' > "$demo/project/README.md"
mkdir -p "$demo/project/docs"
cat > "$demo/project/docs/conventions.md" <<'MD'
# Conventions

## Greetings

Greetings live in GREETING.md at the top of the repository. A greeting
always says hello and names the task it was written for.

## Releases

We release on Tuesdays, after two approvals.
MD
git -C "$demo/project" add -A
git -C "$demo/project" -c user.name=demo -c user.email=demo@agency.local commit -q -m "initial commit"

cat > "$demo/scenario.yaml" <<'YAML'
# What the SCRIPTED engine answers, per role (docs/ENGINES.md). No model runs.
# The Nth time a role sees a task it plays step N.
planner:
  - summary: three greetings; the index waits for the first two
    tasks:
      - title: Say hello in English
        spec: Add the line "Say hello in English" to GREETINGS.md.
      - title: Say bonjour in French
        spec: Add the line "Say bonjour in French" to GREETINGS.md.
      - title: Count the greetings
        spec: Add a last line to GREETINGS.md saying how many greetings it holds.
        depends_on: [1, 2]
builder:
  # First attempt: add the sub-task's line. The first two both create
  # GREETINGS.md from the same main: whichever lands second conflicts.
  - run: 'if [ -f GREETINGS.md ]; then echo "$(grep -c . GREETINGS.md) greetings" >> GREETINGS.md; else echo "{objective}" >> GREETINGS.md; fi'
    summary: "{objective}"
  # Back from landing with the conflict merged in: keep both sides' lines.
  - run: sed -i '/^\(<<<<<<<\|=======\|>>>>>>>\)/d' GREETINGS.md
    summary: resolved the conflict in GREETINGS.md, keeping both greetings
adversary:
  - verdict: pass
    summary: GREETINGS.md has the line; no conflict markers; the tests pass
reviewer:
  - verdict: pass
    summary: matches the spec
YAML

cat > "$demo/agency.yaml" <<'YAML'
state_dir: state
projects:
  - name: greeter
    repo: project
    default_branch: main
    test_command: test -s GREETINGS.md && ! grep -q '^<<<<<<<' GREETINGS.md
    landing: merge                # the integrator lands reviewed work on main
roles:
  planner:    {engine: scripted, scenario: scenario.yaml}
  builder:    {engine: scripted, scenario: scenario.yaml, count: 2}
  adversary:  {engine: scripted, scenario: scenario.yaml}
  reviewer:   {engine: scripted, scenario: scenario.yaml}
  integrator:                     # the merge queue; uses no engine
  proxy:      {engine: scripted}  # answers `agency ask` from the corpus below
  sweeper:                        # walks the fleet; uses no engine
  accountant:                     # the usage ledger and budget leases; uses no engine
proxy:
  corpus:
    - {name: greeter, path: project}
sweeper:
  every_seconds: 5
accountant:                       # agents ask it for a lease before every engine call
  time_zone: UTC
  accounts:
    - {name: demo, five_hour: 2000000, seven_day: 20000000, config_dir: claude}
YAML

agency() { "$bin/agency" --config "$demo/agency.yaml" "$@"; }
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

say "agency up: embedded NATS and the fleet (log: $demo/up.log)"
# The binary itself in the background, not the agency() function: $! must be
# the process that gets SIGTERM, or the fleet outlives the demo.
"$bin/agency" --config "$demo/agency.yaml" up > "$demo/up.log" 2>&1 &
up_pid=$!
pids+=("$up_pid")
for _ in $(seq 1 200); do
  [[ -s "$demo/state/nats.url" ]] && grep -q "running; Ctrl-C" "$demo/up.log" 2>/dev/null && break
  kill -0 "$up_pid" 2>/dev/null || { cat "$demo/up.log"; echo "agency up failed"; exit 1; }
  sleep 0.1
done
cat "$demo/up.log"

say "agency watch: every message on the bus, one line each"
"$bin/agency" --config "$demo/agency.yaml" watch 'agency.brief.>' 'agency.event.>' &
pids+=("$!")
sleep 0.5

say "agency brief planner \"Greet in two languages, then count the greetings\""
task=$(agency brief planner "Greet in two languages, then count the greetings")
echo "task id: $task"

stage=""
for _ in $(seq 1 1800); do
  stage=$(agency task show "$task" --json | sed -n 's/.*"stage":"\([a-z-]*\)".*/\1/p' | head -1)
  [[ "$stage" == done || "$stage" == blocked ]] && break
  sleep 0.1
done
sleep 0.3
kill "${pids[1]}" 2>/dev/null || true

say "agency task show $task   (the epic and its sub-tasks)"
agency task show "$task"

say "git log --oneline --first-parent main   (the three landed changes)"
git -C "$demo/project" log --oneline --first-parent main

say "GREETINGS.md on main"
git -C "$demo/project" show main:GREETINGS.md

say "agency ask \"Where do greetings live?\"   (the knowledge proxy, from the project's docs)"
agency ask "Where do greetings live?" || true

say "agency ask \"Who maintains the billing service?\"   (not in the corpus: it says so)"
agency ask "Who maintains the billing service?" || true

say "agency usage   (the ledger against the demo account's limits; scripted tokens)"
agency usage

say "agency status"
agency status

kill -TERM "$up_pid"
wait "$up_pid" || true
pids=()

cat <<TXT

$( [[ "$stage" == done ]] && echo "The epic is done: its three sub-tasks landed on main." || echo "The epic ended at stage '$stage' (see $demo/state/logs)." )

This demo ran the SCRIPTED engine: deterministic answers from
$demo/scenario.yaml, no AI model. To run the fleet with a real engine, give
each role an engine in agency.yaml, for example Claude Code (logged in once
with \`claude\`, /login):

  roles:
    planner:  {engine: claude}
    builder:  {engine: claude, timeout_seconds: 1800}   # edits files: acceptEdits
    adversary: {engine: claude}
    reviewer: {engine: claude}

(README "Real engines" and docs/ENGINES.md: claude, codex, gemini, openai,
anthropic, command), then: $bin/agency up
Everything the demo made is in $demo.
TXT
landed=$(git -C "$demo/project" log --first-parent --format=%s main | grep -c '^agency: land' || true)
[[ "$stage" == done && "$landed" == 3 ]] || { echo "demo: expected the epic done and 3 landings on main; got stage '$stage', $landed landings" >&2; exit 1; }
