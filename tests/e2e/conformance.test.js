// `agency conformance` (cli/conformance.cpp, cli/conformance_cases.cpp) from outside: it passes the role written
// in JavaScript (examples/linter-role), and it fails a role that breaks one rule of docs/PROTOCOL.md on the case
// that rule is for. The broken roles are one fixture, fixtures/broken-role.js, which keeps the protocol except for
// the rule BROKEN=<case> names; with BROKEN unset it must pass every case, so the fixture itself is proven sound.
// Each kit run starts its own mesh (`agency up --no-fleet`, auth on); two run at a time.
//   cd tests/e2e && node --test conformance.test.js
// It needs `npm ci` in examples/linter-role (scripts/install-deps.sh does it).
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { binDir } from "./harness.js";

const example = new URL("../../examples/linter-role/", import.meta.url).pathname;
const fixture = new URL("./fixtures/broken-role.js", import.meta.url).pathname;
if (!existsSync(join(example, "node_modules", "yaml"))) {
  throw new Error(`run \`npm ci\` in ${example} first (scripts/install-deps.sh does)`);
}
const CASES = ["identity", "plain", "json", "duplicate", "replay", "bad-input", "control", "kill", "reconnect"];
// The longest a case of a broken role waits for what never comes (the kill case waits 10 s more).
const BROKEN_TIMEOUT = "8";

// What the kit must say when BROKEN=<case>: that case fails, with this detail.
const EXPECTED = {
  identity: /heartbeat states protocol none \(0\)/,
  plain: /no task record holds the plain brief/,
  json: /task t-\w+ is still at fixture \(no move out of fixture\)/,
  duplicate: /task t-\w+ left fixture 2 times for one brief/,
  replay: /the replay sent another brief on/,
  "bad-input": /the candidate ended \(exit 1\) after bad input/,
  control: /after pause its heartbeat says idle, not paused/,
  kill: /after kill -9 and a restart: task t-\w+ is still at fixture/,
  reconnect: /the candidate ended when the server went away \(exit 1\)/,
};

const root = mkdtempSync(join(tmpdir(), "agency-e2e-conformance-"));
let serial = 0;

// `agency conformance --json --dir <new dir> ARGS -- COMMAND...`, with `env` added; resolves {code, report (its
// JSON, or null), stdout, stderr, dir}.
function conformance(args, command, env = {}) {
  const dir = join(root, `run-${++serial}`);
  const argv = ["conformance", "--json", "--dir", dir, ...args, "--", ...command];
  return new Promise((resolve) => {
    execFile(join(binDir, "agency"), argv, { env: { ...process.env, ...env }, timeout: 240000, maxBuffer: 1 << 24 },
      (error, stdout, stderr) => {
        let report = null;
        try { report = JSON.parse(stdout); } catch { /* no report: the failure says why */ }
        resolve({ code: error ? (error.code ?? error.signal) : 0, report, stdout, stderr, dir });
      });
  });
}
// What a failed assertion shows of a run: its output and the end of the candidate's log.
function explain(run) {
  const log = (name) => (existsSync(join(run.dir, name)) ? readFileSync(join(run.dir, name), "utf8").slice(-3000) : "");
  return `exit ${run.code}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}\ncandidate.log (end):\n${log("candidate.log")}`;
}
function results(run) {
  assert.ok(run.report, `no JSON report\n${explain(run)}`);
  return Object.fromEntries(run.report.cases.map((c) => [c.case, c]));
}
function assertAllPassed(run) {
  const cases = results(run);
  assert.deepEqual(Object.keys(cases), CASES, explain(run));
  for (const c of Object.values(cases)) assert.ok(c.passed, `${c.case} failed: ${c.detail}\n${explain(run)}`);
  assert.equal(run.report.passed, true);
  assert.equal(run.code, 0, explain(run));
}

// n jobs at a time: each call queues one and resolves with its result.
function limit(n) {
  let running = 0;
  const waiting = [];
  const next = () => {
    if (running >= n || !waiting.length) return;
    running++;
    const [job, resolve] = waiting.shift();
    job().then(resolve).finally(() => {
      running--;
      next();
    });
  };
  return (job) => new Promise((resolve) => {
    waiting.push([job, resolve]);
    next();
  });
}

describe("agency conformance", () => {
  const runs = {};
  let failed = false;

  before(() => {
    const queue = limit(2);
    runs.linter = queue(() => conformance(["--role", "linter", "--stage", "lint"],
      ["node", join(example, "linter.js"), "--command", "true"]));
    runs.sound = queue(() => conformance(["--role", "fixture"], ["node", fixture], { BROKEN: "", WORK_MS: "300" }));
    for (const name of CASES) {
      // The identity case first: it waits for the candidate's heartbeat, so the case under test starts with the
      // candidate up (the kit does not wait for it by itself; see the reconnect and control cases alone).
      const cases = name === "identity" ? "identity" : `identity,${name}`;
      // A long turn where the breach needs one: the kill must land mid-turn, the two deliveries must overlap.
      const env = { BROKEN: name, WORK_MS: ["kill", "duplicate"].includes(name) ? "2000" : "300" };
      runs[name] = queue(() => conformance(["--role", "fixture", "--cases", cases, "--timeout-seconds", BROKEN_TIMEOUT],
        ["node", fixture], env));
    }
  });

  after(async () => {
    await Promise.all(Object.values(runs)); // none left running
    if (!failed) rmSync(root, { recursive: true, force: true });
    else console.log(`the kit's folders (mesh state, candidate.log, up.log) are kept in ${root}`);
  });

  const check = (name, fn) => it(name, async (t) => {
    try {
      await fn(t);
    } catch (e) {
      failed = true;
      throw e;
    }
  });

  check("usage errors exit 2 and say what is wrong (no mesh is started)", async () => {
    const agency = (...args) => new Promise((resolve) => {
      execFile(join(binDir, "agency"), ["conformance", ...args], { timeout: 30000 }, (error, stdout, stderr) =>
        resolve({ code: error ? (error.code ?? error.signal) : 0, out: stdout + stderr }));
    });
    const noCommand = await agency("--role", "fixture", "--");
    assert.equal(noCommand.code, 2, noCommand.out);
    assert.match(noCommand.out, /give the role's command after --/);
    const withoutDashes = await agency("--role", "fixture");
    assert.equal(withoutDashes.code, 2, withoutDashes.out);
    assert.match(withoutDashes.out, /give the role's command after --/);
    const unknownCase = await agency("--role", "fixture", "--cases", "plain,nosuchcase", "--", "node", fixture);
    assert.equal(unknownCase.code, 2, unknownCase.out);
    assert.match(unknownCase.out, /no case 'nosuchcase'; the cases are identity, plain, json, duplicate, replay, bad-input, control, kill, reconnect/);
  });

  check("passes the JavaScript linter role (examples/linter-role) on every case", async () => {
    const run = await runs.linter;
    assertAllPassed(run);
    assert.equal(run.report.stage, "lint");
    assert.equal(run.report.agent_id, "linter-1");
    // The brief of another protocol version went to the dead letters with the reason docs/PROTOCOL.md gives.
    const log = readFileSync(join(run.dir, "candidate.log"), "utf8");
    assert.match(log, /unreadable brief: Agency-Protocol "999": this agent speaks protocol 1 \(docs\/PROTOCOL\.md/);
    assert.match(log, /unreadable brief: unknown field "noSuchField" in a Brief/);
  });

  check("passes the fixture role with nothing broken on every case", async () => {
    assertAllPassed(await runs.sound);
  });

  for (const name of CASES) {
    check(`fails a role that breaks the ${name} case, on that case alone`, async () => {
      const run = await runs[name];
      const cases = results(run);
      const failedCases = Object.values(cases).filter((c) => !c.passed).map((c) => c.case);
      assert.deepEqual(failedCases, [name], explain(run));
      assert.match(cases[name].detail, EXPECTED[name], explain(run));
      assert.equal(run.report.passed, false);
      assert.equal(run.code, 1, explain(run));
    });
  }

});
