#!/usr/bin/env bash
# The offline demo, and the README's main command: installs what agency needs,
# builds it, and runs the real fleet (`agency up`: embedded nats-server plus
# planner, builder, adversary, reviewer, proxy and sweeper processes) on a
# sample git project. One brief moves through every stage to done, with a
# commit on its branch; then the knowledge proxy answers from the project's
# docs, and says so when they do not cover a question.
#
# The agents use the SCRIPTED engine: deterministic answers from a scenario
# file, no AI model, so the demo runs offline. The end of the run says how to
# put a real engine in its place.
#
#   bash scripts/demo.sh               install, build, run the demo
#   AGENCY_DEMO_SKIP_BUILD=1 bash scripts/demo.sh   reuse the build
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
if [[ "${AGENCY_DEMO_SKIP_BUILD:-0}" != 1 ]]; then
  AGENCY_SKIP_NPM=1 bash scripts/install-deps.sh
  cmake --preset release >/dev/null
  cmake --build --preset release
fi
bin="$root/build/release/bin"
demo="$root/.agency-demo"
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
planner:
  - spec: |
      Add GREETING.md at the top of the repository. It says "hello" and names
      the task it was written for.
    summary: spec written
builder:
  - write: {path: GREETING.md, content: "hello, from agency task {task_id}\n"}
    summary: added GREETING.md
adversary:
  - verdict: pass
    summary: GREETING.md exists and says hello; the tests pass
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
    test_command: grep -q hello GREETING.md
roles:
  planner:   {engine: scripted, scenario: scenario.yaml}
  builder:   {engine: scripted, scenario: scenario.yaml}
  adversary: {engine: scripted, scenario: scenario.yaml}
  reviewer:  {engine: scripted, scenario: scenario.yaml}
  proxy:     {engine: scripted}   # answers `agency ask` from the corpus below
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

say "agency brief planner \"Add a greeting to the project\""
task=$(agency brief planner "Add a greeting to the project")
echo "task id: $task"

stage=""
for _ in $(seq 1 600); do
  stage=$(agency task show "$task" --json | sed -n 's/.*"stage":"\([a-z-]*\)".*/\1/p' | head -1)
  [[ "$stage" == done || "$stage" == blocked ]] && break
  sleep 0.1
done
sleep 0.3
kill "${pids[1]}" 2>/dev/null || true

say "agency task show $task"
agency task show "$task"

say "The commit on branch agency/$task"
git -C "$demo/project" log --stat --format='%h %s%n  by %an <%ae>' "main..agency/$task"

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

$( [[ "$stage" == done ]] && echo "The task reached done." || echo "The task ended at stage '$stage' (see $demo/state/logs)." )

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
[[ "$stage" == done ]]
