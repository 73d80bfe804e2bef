// A role written in JavaScript, outside agency: examples/linter-role/linter.js runs as a subprocess, under its
// own key, against a real mesh (`agency up`, auth on) and a real git repository. First with no fleet: task
// records and briefs are written here as the stage before would write them, in protobuf from the repository's
// schemas, and what the linter hands on is read back from the streams and the bucket. Then among agency's own
// roles (scripted engine), on a brief to the planner.
//   cd tests/e2e && node --test linter-role.test.js
// It needs `npm ci` in examples/linter-role (scripts/install-deps.sh does it).
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { connect, headers, nkeyAuthenticator } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { binDir, startProcess, until } from "./harness.js";

const example = new URL("../../examples/linter-role/", import.meta.url).pathname;
const schemas = new URL("../../schemas/", import.meta.url).pathname;
if (!existsSync(join(example, "node_modules", "protobufjs"))) {
  throw new Error(`run \`npm ci\` in ${example} first (scripts/install-deps.sh does)`);
}
const protobuf = createRequire(join(example, "package.json"))("protobufjs");
const git = (cwd, ...args) => promisify(execFile)("git", args, { cwd });
const WAIT = 30000;

const LINTED = [
  { name: "ready-for-prep", role: "planner" },
  { name: "ready-for-dev", role: "builder" },
  { name: "lint", role: "linter", bounce: "ready-for-dev" },
  { name: "qa", role: "adversary", bounce: "ready-for-dev" },
  { name: "review", role: "reviewer", bounce: "ready-for-dev" },
  { name: "ready-to-land", role: "integrator", bounce: "ready-for-dev", landing: true },
];

// The schemas, read as the linter reads them.
const root = new protobuf.Root();
root.resolvePath = (_, file) => join(schemas, file);
await root.load(["brief", "task", "fleet", "dead"].map((f) => `agency/v1/${f}.proto`));
const [Brief, Task, TaskEvent, AgentStatus, DeadLetter] = ["Brief", "Task", "TaskEvent", "AgentStatus", "DeadLetter"]
  .map((t) => root.lookupType(`agency.v1.${t}`));

// `agency up` in a temp dir with a git repository `web` (lint.sh on main says `mainLint`), agency.yaml `config`
// and `files`; connected as admin. The linter then runs under its own key, as the README runs it.
async function startMesh(config, { upArgs = [], mainLint = "exit 0\n", files = {} } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "agency-e2e-linter-"));
  let out = "";
  const mesh = {
    dir, repo: join(dir, "web"),
    // Whatever started, stopped (also after a failed start).
    async stop() {
      if (mesh.linter && mesh.linter.proc.exitCode === null) mesh.linter.proc.kill("SIGKILL");
      await mesh.nc?.close();
      await mesh.up?.stop();
      rmSync(dir, { recursive: true, force: true });
    },
    async linterStatus() {
      const e = await mesh.fleet.get("linter-1");
      return e && e.operation === "PUT" ? AgentStatus.decode(e.value) : null;
    },
    // The first message of `stream` on `subject` that `match` accepts, decoded with `type`.
    async firstOn(stream, subject, type, match = () => true) {
      const consumer = await mesh.js.consumers.get(stream, { filter_subjects: subject });
      const deadline = Date.now() + WAIT;
      while (Date.now() < deadline) {
        const m = await consumer.next({ expires: 2000 });
        if (!m) continue;
        const value = type.decode(m.data);
        if (match(value)) return { value, headers: m.headers };
      }
      assert.fail(`nothing on ${subject} within ${WAIT} ms; linter output:\n${out}`);
    },
    event: (id, kind) => mesh.firstOn("AGENCY_EVENTS", `agency.event.task.${id}`, TaskEvent, (e) => e.kind === kind),
  };
  try {
    const repo = mesh.repo;
    mkdirSync(repo);
    writeFileSync(join(repo, "README.md"), "web\n");
    writeFileSync(join(repo, "lint.sh"), mainLint);
    await git(repo, "init", "-q", "-b", "main");
    await git(repo, "add", "-A");
    await git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "initial");
    for (const [name, text] of Object.entries({ "agency.yaml": config, ...files })) writeFileSync(join(dir, name), text);
    mesh.up = startProcess("agency", ["up", "--config", join(dir, "agency.yaml"), "--no-console", ...upArgs], {
      cwd: dir,
      ready: /running; Ctrl-C/,
      env: { NATS_URL: "", NATS_NKEY: "", NATS_CREDS: "", NATS_CA: "", XDG_CONFIG_HOME: dir },
    });
    await mesh.up.started;
    const url = readFileSync(join(dir, "state", "nats.url"), "utf8").trim();
    const seed = readFileSync(join(dir, "state", "auth", "admin.creds"), "utf8").match(/^(SU\w+)/m)[1];
    mesh.nc = await connect({ servers: url, authenticator: nkeyAuthenticator(new TextEncoder().encode(seed)) });
    mesh.js = jetstream(mesh.nc);
    mesh.jsm = await jetstreamManager(mesh.nc);
    mesh.tasks = await new Kvm(mesh.nc).open("agency-tasks");
    mesh.fleet = await new Kvm(mesh.nc).open("agency-fleet");
    const proc = spawn(process.execPath, [join(example, "linter.js"), "--repo", repo, "--command", "sh lint.sh"], {
      env: {
        ...process.env, NATS_URL: url, NATS_NKEY: join(dir, "state", "auth", "linter-1.creds"),
        AGENCY_AGENT_ID: "linter-1", AGENCY_HEARTBEAT_MS: "300", AGENCY_IN_PROGRESS_MS: "500",
      },
    });
    proc.stdout.on("data", (d) => (out += d));
    proc.stderr.on("data", (d) => (out += d));
    const exited = new Promise((r) => proc.once("exit", (code, signal) => r(code ?? signal)));
    mesh.linter = { proc, exited, output: () => out };
    await until("the linter's first heartbeat", async () => (await mesh.linterStatus())?.state === "idle" || proc.exitCode !== null, WAIT);
    assert.equal(proc.exitCode, null, `the linter exited:\n${out}`);
    return mesh;
  } catch (e) {
    await mesh.stop();
    throw e;
  }
}

describe("the JavaScript linter role (examples/linter-role), briefed by hand", () => {
  let mesh, dir, repo, linter, nc, js, jsm, tasks;
  let serial = 0;
  const linterStatus = () => mesh.linterStatus();
  const firstOn = (...a) => mesh.firstOn(...a);
  const event = (...a) => mesh.event(...a);

  // A task id of the usual form, and its branch: lint.sh passes, fails, or waits for `release` to appear.
  async function makeTask(lint, { stage = "lint", bounces = 0, stages = LINTED, devEntries = 1 } = {}) {
    const id = `t-LINTTEST${String(++serial).padStart(8, "0")}`;
    const script = {
      pass: "echo 'all clean'\nexit 0\n",
      fail: "echo 'app.js:3: missing semicolon'\necho 'lint error: 1 problem' >&2\nexit 1\n",
      slow: `while [ ! -f "${join(dir, "release")}" ]; do sleep 0.05; done\necho 'slow but clean'\n`,
    }[lint];
    await git(repo, "checkout", "-q", "-b", `agency/${id}`, "main");
    writeFileSync(join(repo, "lint.sh"), script);
    await git(repo, "add", "lint.sh");
    await git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", `lint.sh for ${id}`);
    await git(repo, "checkout", "-q", "main");
    const at = { seconds: Math.floor(Date.now() / 1000), nanos: 0 };
    const history = [{ to: "ready-for-prep", actor: "agency-cli", reason: "created from brief b-1", at }];
    let last = "ready-for-prep";
    for (let n = 0; n < devEntries; n++) {
      history.push({ from: last, to: "ready-for-dev", actor: "planner-1", reason: "spec written", at });
      last = "ready-for-dev";
      if (n + 1 < devEntries) {
        history.push({ from: "ready-for-dev", to: "qa", actor: "builder-1", reason: "built", at });
        last = "qa";
      }
    }
    if (stage === "lint") history.push({ from: last, to: "lint", actor: "builder-1", reason: "built", at });
    const task = {
      id, title: `lint ${lint}`, project: "web", stage, spec: "the spec", branch: `agency/${id}`, bounces, history,
      brief: { id: "b-1", project: "web", objective: `Objective of ${id}`, doneWhen: "lint is clean", taskId: id },
      createdAt: at, updatedAt: at, pipeline: "linted", pipelineStages: stages,
    };
    await tasks.create(id, Task.encode(task).finish());
    return id;
  }
  function pbHeaders(type, msgId) {
    const h = headers();
    h.set("Agency-Type", `agency.v1.${type}`);
    h.set("Content-Type", "application/protobuf");
    if (msgId) h.set("Nats-Msg-Id", msgId);
    return h;
  }
  // A brief as the builder publishes it after ready-for-dev (its Nats-Msg-Id is task:stage:attempt).
  async function sendBrief(id, { attempt = 1, follows = "ready-for-dev:1", subject = "agency.brief.linter", msgId } = {}) {
    const brief = {
      id: `${id}:lint:${attempt}`, project: "web", objective: `Objective of ${id}`, stage: "lint", taskId: id,
      origin: "builder-1", attempt, follows, createdAt: { seconds: Math.floor(Date.now() / 1000), nanos: 0 },
    };
    const ack = await js.publish(subject, Brief.encode(brief).finish(), {
      headers: pbHeaders("Brief", msgId ?? brief.id),
    });
    return ack;
  }
  async function record(id) {
    const e = await tasks.get(id);
    return e && { task: Task.decode(e.value), revision: e.revision };
  }
  // The next brief in a role's queue (acked, so the queue is left empty).
  async function takeBrief(consumerName) {
    const consumer = await js.consumers.get("AGENCY_BRIEFS", consumerName);
    const m = await consumer.next({ expires: WAIT });
    assert.ok(m, `a brief in ${consumerName} within ${WAIT} ms; linter output:\n${linter.output()}`);
    m.ack();
    return { brief: Brief.decode(m.data), headers: m.headers, subject: m.subject };
  }
  async function pending(consumerName) {
    return (await jsm.consumers.info("AGENCY_BRIEFS", consumerName)).num_pending;
  }

  before(async () => {
    // The README's agency.yaml, with a short ack wait so in-progress acks are put to the test.
    mesh = await startMesh([
      "state_dir: state",
      "pipeline:\n  ack_wait_seconds: 3",
      "pipelines:\n  linted:\n    stages: [planner, builder, {stage: lint, role: linter, bounce: ready-for-dev}, adversary, reviewer, integrator]",
      "projects:\n  - name: web\n    repo: ./web\n    pipeline: linted",
      "roles:\n  linter:\n    external: true\n",
    ].join("\n"), { upArgs: ["--no-fleet"] });
    ({ dir, repo, linter, nc, js, jsm, tasks } = mesh);
  });

  after(async () => {
    await mesh?.stop();
  });

  it("beats in agency-fleet as linter-1 with its role and state", async () => {
    const status = await linterStatus();
    assert.equal(status.agentId, "linter-1");
    assert.equal(status.role, "linter");
    assert.equal(status.state, "idle");
    assert.equal(status.pid, linter.proc.pid);
    assert.ok(Number(status.heartbeatAt.seconds) > 0);
  });

  it("a pass hands the task to the next stage: brief, record, event, each with its msg id", async () => {
    const id = await makeTask("pass");
    const { revision: before } = await record(id);
    await sendBrief(id);
    const { brief, headers: h, subject } = await takeBrief("briefs-adversary");
    assert.equal(subject, "agency.brief.adversary");
    assert.equal(brief.taskId, id);
    assert.equal(brief.stage, "qa");
    assert.equal(brief.attempt, 1);
    assert.equal(brief.follows, "lint:1");
    assert.equal(brief.origin, "linter-1");
    assert.equal(brief.id, `${id}:qa:1`);
    assert.equal(brief.objective, `Objective of ${id}`);
    assert.equal(brief.doneWhen, "lint is clean");
    assert.match(brief.context, /lint passed: sh lint\.sh/);
    assert.equal(h.get("Nats-Msg-Id"), `${id}:qa:1`);
    assert.equal(h.get("Agency-Type"), "agency.v1.Brief");

    const { value: ev, headers: eh } = await event(id, "stage-changed");
    assert.equal(eh.get("Nats-Msg-Id"), `event:${id}:lint:1`);
    assert.equal(ev.fromStage, "lint");
    assert.equal(ev.toStage, "qa");
    assert.equal(ev.actor, "linter-1");
    assert.equal(ev.project, "web");

    const { task, revision } = await record(id);
    assert.ok(revision > before);
    assert.equal(task.stage, "qa");
    assert.equal(task.bounces, 0);
    const last = task.history.at(-1);
    assert.deepEqual([last.from, last.to, last.actor], ["lint", "qa", "linter-1"]);
    assert.match(last.reason, /^lint passed/);
    assert.match(task.attachments.lint, /all clean/);
    assert.deepEqual(task.pipelineStages.map((s) => s.name), LINTED.map((s) => s.name), "the pipeline is kept");

    // The same brief and event published again are dropped by the stream: the linter used those ids.
    const again = await js.publish("agency.brief.adversary", Brief.encode(brief).finish(), { headers: pbHeaders("Brief", brief.id) });
    assert.equal(again.duplicate, true);
    const evAgain = await js.publish(`agency.event.task.${id}`, TaskEvent.encode(ev).finish(), { headers: pbHeaders("TaskEvent", `event:${id}:lint:1`) });
    assert.equal(evAgain.duplicate, true);
    assert.equal(await pending("briefs-adversary"), 0);

    // A replay of the brief (delivered again, as after a crash before its ack) changes nothing.
    const replay = await sendBrief(id, { msgId: `${id}:lint:1:replayed` });
    await until("the replay settled", async () => {
      const info = await jsm.consumers.info("AGENCY_BRIEFS", "briefs-linter");
      return info.ack_floor.stream_seq >= replay.seq && info.num_ack_pending === 0;
    }, WAIT);
    assert.equal((await record(id)).revision, revision, "the record is untouched");
    assert.equal(await pending("briefs-adversary"), 0, "no second brief for qa");
    assert.match(linter.output(), new RegExp(`replayed brief skipped task=${id} stage=lint attempt=1 task_stage=qa`));
  });

  it("a fail bounces the task to the builder with the output, attempt 2 at ready-for-dev", async () => {
    const id = await makeTask("fail");
    await sendBrief(id);
    const { brief, headers: h, subject } = await takeBrief("briefs-builder");
    assert.equal(subject, "agency.brief.builder");
    assert.equal(brief.stage, "ready-for-dev");
    assert.equal(brief.attempt, 2, "the record entered ready-for-dev once before");
    assert.equal(brief.follows, "lint:1");
    assert.equal(h.get("Nats-Msg-Id"), `${id}:ready-for-dev:2`);
    assert.match(brief.context, /lint failed \(1\): sh lint\.sh/);
    assert.match(brief.context, /missing semicolon/);
    assert.match(brief.context, /lint error: 1 problem/);

    const { value: ev, headers: eh } = await event(id, "bounced");
    assert.equal(eh.get("Nats-Msg-Id"), `event:${id}:lint:1`);
    assert.deepEqual([ev.fromStage, ev.toStage], ["lint", "ready-for-dev"]);
    const { task } = await record(id);
    assert.equal(task.stage, "ready-for-dev");
    assert.equal(task.bounces, 1);
    assert.match(task.attachments.lint, /missing semicolon/);
    assert.match(task.history.at(-1).reason, /missing semicolon/);
    assert.equal(task.blockedReason, "");
  });

  it("a fail at an optional stage goes on, with the verdict kept; the priority queue is kept too", async () => {
    const stages = LINTED.map((s) => (s.name === "lint" ? { ...s, optional: true } : s));
    const id = await makeTask("fail", { stages });
    await sendBrief(id, { subject: "agency.brief.linter.human" });
    const { brief, subject } = await takeBrief("briefs-adversary@human");
    assert.equal(subject, "agency.brief.adversary.human");
    assert.equal(brief.priority, "human");
    assert.equal(brief.stage, "qa");
    assert.equal(brief.attempt, 1);
    assert.match(brief.context, /missing semicolon/);
    const { value: ev } = await event(id, "stage-changed");
    assert.equal(ev.toStage, "qa");
    const { task } = await record(id);
    assert.equal(task.stage, "qa");
    assert.equal(task.bounces, 0);
    assert.match(task.history.at(-1).reason, /^the optional stage lint failed; going on: lint failed/);
    assert.match(task.attachments.lint, /missing semicolon/);
  });

  it("a fail past the bounce limit blocks the task, with no brief", async () => {
    const last = await makeTask("fail", { bounces: 2, devEntries: 3 }); // the third bounce is still one
    await sendBrief(last, { follows: "ready-for-dev:3" });
    const { brief: back } = await takeBrief("briefs-builder");
    assert.deepEqual([back.taskId, back.stage, back.attempt], [last, "ready-for-dev", 4]);
    await event(last, "bounced");
    assert.equal((await record(last)).task.bounces, 3);

    const id = await makeTask("fail", { bounces: 3, devEntries: 4 });
    await sendBrief(id, { follows: "ready-for-dev:4", msgId: `${id}:lint:1` });
    const { value: ev } = await event(id, "blocked");
    assert.deepEqual([ev.fromStage, ev.toStage], ["lint", "blocked"]);
    const { task } = await record(id);
    assert.equal(task.stage, "blocked");
    assert.equal(task.bounces, 4);
    assert.match(task.blockedReason, /^sent back 4 times \(limit 3\), needs a person: lint failed/);
    // The brief would have been published before the record and the event.
    assert.equal(await pending("briefs-builder"), 0);
  });

  it("garbage and briefs it cannot work are dead letters, and the next good brief is still handled", async () => {
    const h = headers();
    h.set("Content-Type", "application/protobuf");
    await js.publish("agency.brief.linter", new Uint8Array([0xff, 0xff, 0xff, 0x13, 0x00, 0x07]), { headers: h });
    await js.publish("agency.brief.linter", "{ not json");
    await sendBrief("t-NOSUCHTASK0000000");
    const reasons = [];
    await firstOn("AGENCY_DEAD", "agency.dead.linter", DeadLetter, (d) => {
      reasons.push(d.reason);
      assert.equal(d.role, "linter");
      assert.equal(d.agentId, "linter-1");
      return reasons.length === 3;
    });
    assert.match(reasons[0], /unreadable brief|no task_id/);
    assert.match(reasons[1], /unreadable brief/);
    assert.match(reasons[2], /no task t-NOSUCHTASK0000000/);
    assert.equal(linter.proc.exitCode, null, "the linter is still running");

    const id = await makeTask("pass");
    await sendBrief(id);
    const { brief } = await takeBrief("briefs-adversary");
    assert.equal(brief.taskId, id);
  });

  it("a brief ahead of its task record waits until the record catches up", async () => {
    const id = await makeTask("pass", { stage: "ready-for-dev" });
    await sendBrief(id);
    await until("the linter to wait aside", () => linter.output().includes(`brief ahead of its task record, waiting aside task=${id}`), WAIT);
    // Now the builder's record write lands.
    const { task, revision } = await record(id);
    task.history.push({ from: "ready-for-dev", to: "lint", actor: "builder-1", reason: "built" });
    task.stage = "lint";
    await tasks.update(id, Task.encode(task).finish(), revision);
    const { brief } = await takeBrief("briefs-adversary");
    assert.equal(brief.taskId, id);
    assert.equal(brief.stage, "qa");
    await event(id, "stage-changed"); // after the record, which follows the brief
    assert.equal((await record(id)).task.stage, "qa");
  });

  it("while the command runs: busy with the brief named, in-progress acks beyond the ack wait", async () => {
    const id = await makeTask("slow");
    await sendBrief(id);
    const busy = await until("busy on the slow task", async () => {
      const s = await linterStatus();
      return s?.state === "busy" && s.taskId === id ? s : null;
    }, WAIT);
    assert.match(busy.briefAckSubject, /^\$JS\.ACK\.AGENCY_BRIEFS\.briefs-linter\./);
    assert.equal(busy.briefStage, "lint");
    assert.equal(busy.briefAttempt, 1);
    // Another agent of the role asks for a brief for twice the consumer's 3 s ack wait: the in-progress acks
    // keep the held brief from being redelivered to it.
    const other = await (await js.consumers.get("AGENCY_BRIEFS", "briefs-linter")).next({ expires: 6000 });
    if (other) other.nak();
    assert.equal(other, null, "the brief in hand was redelivered to another agent");
    const stamped = await linterStatus();
    assert.ok(Number(stamped.briefProgressAt.seconds) >= Number(busy.briefProgressAt.seconds) + 4, "brief_progress_at follows the acks");
    const info = await jsm.consumers.info("AGENCY_BRIEFS", "briefs-linter");
    assert.equal(info.num_redelivered, 0);
    assert.equal(info.num_ack_pending, 1);
    writeFileSync(join(dir, "release"), "");
    const { brief } = await takeBrief("briefs-adversary");
    assert.equal(brief.taskId, id);
    await until("idle again", async () => {
      const s = await linterStatus();
      return s?.state === "idle" && !s.briefAckSubject;
    }, WAIT);
  });

  it("obeys pause and resume", async () => {
    const id = await makeTask("pass");
    const ms = (t) => Number(t.seconds) * 1000 + t.nanos / 1e6;
    // Heartbeats `span` ms after `from`, all of them in state paused.
    const pausedFor = (from, span) => until(`paused for ${span} ms`, async () => {
      const s = await linterStatus();
      assert.ok(!s || s.state === "paused", `state ${s?.state} while paused`);
      return s && ms(s.heartbeatAt) >= from + span ? s : null;
    }, WAIT);
    nc.publish("agency.control.linter-1", "pause");
    const paused = await until("paused", async () => {
      const s = await linterStatus();
      return s?.state === "paused" ? s : null;
    }, WAIT);
    // Past any pull it had asked for before the order (1 s each), the brief comes, and stays in its queue.
    const quiet = await pausedFor(ms(paused.heartbeatAt), 2000);
    await sendBrief(id);
    await pausedFor(ms(quiet.heartbeatAt), 2000);
    assert.equal(await pending("briefs-linter"), 1);
    nc.publish("agency.control.linter-1", JSON.stringify({ command: "resume", from: "human:test" }));
    const { brief } = await takeBrief("briefs-adversary");
    assert.equal(brief.taskId, id);
  });

  it("SIGTERM: exits 0 and takes its heartbeat with it", async () => {
    linter.proc.kill("SIGTERM");
    assert.equal(await linter.exited, 0, linter.output());
    assert.equal(await linterStatus(), null);
    const worktrees = (await git(repo, "worktree", "list")).stdout.trim().split("\n");
    assert.equal(worktrees.length, 1, `every lint worktree removed: ${worktrees.join("; ")}`);
  });
});

describe("the JavaScript linter role among agency's own roles", () => {
  let mesh;
  after(async () => {
    await mesh?.stop();
  });

  it("a brief to the planner walks planner, builder, lint, builder again, lint, adversary, reviewer to done", async () => {
    // The scripted builder's first try makes lint.sh fail; the linter sends it back and the second try passes.
    const scenario = [
      "planner:\n  - spec: \"Add GREETING.md that says hello again\"",
      "builder:",
      "  - write: {path: GREETING.md, content: \"hello\\n\"}\n    summary: \"added GREETING.md\"",
      "  - write: {path: GREETING.md, content: \"hello again\\n\"}\n    summary: \"said hello again\"",
      "adversary:\n  - verdict: pass",
      "reviewer:\n  - verdict: pass\n",
    ].join("\n");
    const scripted = "{engine: scripted, scenario: scenario.yaml}";
    mesh = await startMesh([
      "state_dir: state",
      "pipelines:\n  linted:\n    stages: [planner, builder, {stage: lint, role: linter, bounce: ready-for-dev}, adversary, reviewer, integrator]",
      "projects:\n  - name: web\n    repo: ./web\n    pipeline: linted\n    landing: none\n    test_command: \"true\"",
      `roles:\n  planner: ${scripted}\n  builder: ${scripted}\n  adversary: ${scripted}\n  reviewer: ${scripted}`,
      "  linter: {external: true}\n",
    ].join("\n"), {
      files: { "scenario.yaml": scenario },
      mainLint: "grep -q 'hello again' GREETING.md || { echo 'GREETING.md does not say hello again'; exit 1; }\n",
    });
    const sent = await promisify(execFile)(join(binDir, "agency"), ["--config", join(mesh.dir, "agency.yaml"), "brief", "planner", "Add a greeting"], {
      cwd: mesh.dir, env: { ...process.env, NATS_URL: "", NATS_NKEY: "", NATS_CONTEXT: "", XDG_CONFIG_HOME: mesh.dir },
    });
    const id = sent.stdout.trim();
    await mesh.event(id, "done");
    const task = Task.decode((await mesh.tasks.get(id)).value);
    assert.deepEqual(task.history.map((h) => `${h.from}>${h.to} ${h.actor}`), [
      ">ready-for-prep agency-cli",
      "ready-for-prep>ready-for-dev planner-1",
      "ready-for-dev>lint builder-1",
      "lint>ready-for-dev linter-1",
      "ready-for-dev>lint builder-1",
      "lint>qa linter-1",
      "qa>review adversary-1",
      "review>done reviewer-1",
    ], mesh.linter.output());
    assert.match(task.history[3].reason, /GREETING.md does not say hello again/);
    assert.equal(task.bounces, 1);
    assert.match(task.attachments.lint, /^lint passed/);
    await mesh.event(id, "bounced");
  });
});
