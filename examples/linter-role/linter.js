#!/usr/bin/env node
// A role of agency written outside it: the linter stage runs a command on each task's branch and hands the task
// on as docs/PROTOCOL.md says (§N are its sections). protocol.js holds the plumbing any role needs (schemas, JSON
// and plain text, agency.yaml, task ids, the connection). README.md says what it leaves out.
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { parseArgs, promisify } from "node:util";
import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { AgentStatus, Brief, Control, PROTOCOL, Task, briefProblem, config, connectAs, createdEvent, deadLetter, decode,
  defaultAgentId, entries, moveEvent, newTask, now, pb, pipelineFor, project, stagesOf, taskIdFor } from "./protocol.js";

const env = process.env, num = (name, dflt) => Number(env[name] || dflt);
const { values: opt } = parseArgs({ options: { command: { type: "string" }, repo: { type: "string" } } });
const command = opt.command ?? env.LINT_COMMAND ?? "npm run lint", repoOption = opt.repo ?? env.LINT_REPO;
const role = env.AGENCY_ROLE || "linter", agentId = defaultAgentId(role), figures = config.pipeline ?? {};
const bounceLimit = num("AGENCY_BOUNCE_LIMIT", figures.bounce_limit ?? 3);
const maxDeliver = num("AGENCY_MAX_DELIVER", figures.max_deliver ?? 5);
const progressMs = num("AGENCY_IN_PROGRESS_MS", Math.min(1e4, ((figures.ack_wait_seconds ?? 30) * 1000) / 3));
const log = (...a) => console.log(new Date().toISOString(), agentId, ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const tail = (s, max = 4096) => (Buffer.byteLength(s) <= max ? s : `[...] ${Buffer.from(s).subarray(-max)}`);
const nc = await connectAs(agentId);
const js = jetstream(nc), kvm = new Kvm(nc);
const [tasks, fleet] = await Promise.all(["agency-tasks", "agency-fleet"].map((b) => kvm.open(b)));
// §2: the role's four queues in priority order, as `agency up` (or `agency init`) made them for its roles.
const queues = await Promise.all(["human", "interactive", "scheduled", "batch"].map(async (priority) => {
  const name = `briefs-${role}${priority === "scheduled" ? "" : `@${priority}`}`;
  return { priority, consumer: await js.consumers.get("AGENCY_BRIEFS", name) };
}));
// §4: the heartbeat, stating the protocol version (§13). §9: orders (cancel and reload are not supported).
const status = { agentId, role, pid: process.pid, host: hostname(), version: "0.1.0", engine: "command", state: "idle",
  protocol: PROTOCOL };
const beat = () => fleet.put(agentId, AgentStatus.encode({ ...status, heartbeatAt: now() }).finish())
  .catch((e) => log(`heartbeat not written: ${e.message}`));
function setState(state, taskId = "") {
  if (state !== status.state || taskId !== status.taskId) Object.assign(status, { state, taskId, since: now() });
  return beat();
}
const heartbeat = setInterval(beat, num("AGENCY_HEARTBEAT_MS", 5000));
let paused = false, draining = false, stopping = false;
const orders = { pause: () => (paused = true), resume: () => (paused = false), drain: () => (draining = true),
  stop: () => (stopping = true), nudge: () => {} };
for (const to of [agentId, role, "all"]) nc.subscribe(`agency.control.${to}`, { callback: (_, m) => {
  try {
    const { command: c, from } = decode(Control, m.data, m.headers, "command");
    log(`control command=${c} from=${from}${orders[c] ? "" : ": not supported"}`);
    orders[c]?.();
    if (status.state === "busy") beat(); else setState(paused ? "paused" : "idle");
  } catch (e) { log(`unreadable control message: ${e.message}`); }
} });
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => (stopping = true));
process.on("unhandledRejection", (e) => log(`unexpected: ${e?.stack ?? e}`));
async function dead(m, reason, taskId = "") { // §8: what can never be worked: kept on agency.dead.<role>, then acked
  log(`dead-lettering brief seq=${m.info.streamSequence} task=${taskId}: ${reason}`);
  await js.publish(...deadLetter(m, { role, agentId, taskId, reason: tail(reason) }))
    .then(() => m.ack(), (e) => { log(`dead letter not stored: ${e.message}`); m.nak(5000); });
}
const load = (id) => tasks.get(id).then((e) => (e?.operation === "PUT" ? [decode(Task, e.value), e.revision] : [null]));
async function create(brief, walk) { // §3: a KV create (or the record made meanwhile), then its event
  const task = newTask(brief, walk, agentId);
  const made = await tasks.create(task.id, Task.encode(task).finish())
    .then(() => task, async (e) => (await load(task.id))[0] ?? Promise.reject(e));
  await js.publish(...createdEvent(made));
  return made;
}
// §3: take a brief in (making its task at attempt 1) and claim it; lint; hand on (§7), or hand it back on a failure.
async function handle(m, priority, fetchedAt) {
  let brief, deliveries = m.info.deliveryCount;
  try {
    brief = decode(Brief, m.data, m.headers, "objective");
  } catch (e) { return dead(m, `unreadable brief: ${e.message}`); }
  if (briefProblem(brief)) return dead(m, `unreadable brief: ${briefProblem(brief)}`, brief.taskId);
  if (deliveries > maxDeliver) return dead(m, `delivered ${deliveries} times without being settled`, brief.taskId);
  if (priority !== "scheduled") brief.priority = priority;
  brief.project ||= project("")?.name ?? "";
  const id = (brief.taskId ||= taskIdFor(m)), attempt = (brief.attempt = Math.max(1, brief.attempt));
  const walk = pipelineFor(brief.project); // for a brief without a stage: the role's in the project's pipeline
  const stage = (brief.stage ||= walk.stages.find((s) => s.role === role)?.name ?? "");
  let [task] = await load(id);
  if (!task) { // made at attempt 1, walking its project's pipeline
    if (attempt > 1) return dead(m, `no task ${id}, and attempt ${attempt} at ${stage} needs one`, id);
    if (walk.stages.find((s) => s.name === stage)?.role !== role) {
      return dead(m, `no task ${id}, and ${stage || "no stage"} is no stage of ${role} in pipeline ${walk.name}`, id);
    }
    task = await create(brief, walk);
  } else if (task.history.length === 1 && deliveries > 1) await js.publish(...createdEvent(task)); // may be missing
  const steps = stagesOf(task);
  if (steps.find((s) => s.name === stage)?.role !== role) return dead(m, `${stage} is not ${role}'s stage in ${id}`, id);
  if (attempt > entries(task, stage) + 1) return dead(m, `attempt ${attempt} at ${stage} is ahead of task ${id}`, id);
  for (let wait = 1, until = Date.now() + 2000; entries(task, stage) < attempt && Date.now() < until; wait *= 2) {
    await sleep(Math.min(wait, 50)); // the stage before publishes this brief, then writes the record
    [task] = await load(id);
  }
  if (entries(task, stage) < attempt) { // counted as a delivery here, so max_deliver bounds the wait
    log(`brief ahead of its task record, waiting aside task=${id} stage=${stage} attempt=${attempt}`);
    return m.nak(Math.min(30000, 1000 * 2 ** deliveries));
  }
  if (task.stage !== stage || entries(task, stage) > attempt) { // a replay: its change is in the record already
    log(`replayed brief skipped task=${id} stage=${stage} attempt=${attempt} task_stage=${task.stage}`);
    const move = task.history.filter((h) => h.from === stage)[attempt - 1]; // redelivered: its event may be missing
    if (move && deliveries > 1) await js.publish(...moveEvent(task, move, attempt));
    return m.ack();
  }
  Object.assign(status, { briefAckSubject: m.reply, briefStage: stage, briefAttempt: attempt, briefProgressAt: fetchedAt });
  await setState("busy", id);
  const progress = setInterval(() => { status.briefProgressAt = now(); m.working(); }, progressMs);
  try {
    const { code, output } = await lint(task);
    const verdict = `lint ${code ? `failed (${code})` : "passed"}: ${command}\n${tail(output)}`;
    await handOn(m, brief, task, stage, attempt, code === 0, verdict);
  } catch (e) {
    status.briefAckSubject = ""; // no NAK while the status names the brief (§4)
    await beat();
    if (deliveries >= maxDeliver) return dead(m, `gave up after ${deliveries} deliveries: ${e.message}`, id);
    log(`brief failed, handing it back task=${id}: ${e.message}`);
    m.nak(Math.min(60000, 1000 * 2 ** deliveries));
  } finally {
    clearInterval(progress);
    Object.assign(status, { briefAckSubject: "", briefStage: "", briefAttempt: 0, briefProgressAt: null });
  }
}
async function lint(task) { // in a fresh detached worktree of the task's branch (else the default), removed afterwards
  const p = project(task.project), repo = repoOption ?? p?.repo ?? ".", dir = mkdtempSync(`${tmpdir()}/lint-`);
  const git = (...a) => promisify(execFile)("git", ["-C", repo, ...a]);
  let added = false;
  try {
    await git("worktree", "add", "--detach", dir, task.branch || p?.default_branch || "HEAD");
    added = true;
    return await new Promise((resolve, reject) => {
      const child = spawn("sh", ["-c", command], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
      let output = "";
      for (const s of [child.stdout, child.stderr]) s.on("data", (d) => { output = tail(output + d, 65536); });
      child.on("error", reject).on("close", (code, signal) => resolve({ code: code ?? signal, output }));
    });
  } finally {
    if (added) await git("worktree", "remove", "--force", dir).catch((e) => log(`worktree not removed: ${e.message}`));
    rmSync(dir, { recursive: true, force: true });
  }
}
// §7: the next stage from the task's own pipeline; then the next brief, the record, the event, the ack.
async function handOn(m, brief, seen, stage, attempt, passed, verdict) {
  const steps = stagesOf(seen), here = steps.find((s) => s.name === stage), id = seen.id, first = seen.brief ?? {};
  let next = steps[steps.indexOf(here) + 1]?.name ?? "done", bounces = seen.bounces, reason = verdict;
  if (passed) reason = verdict.split("\n")[0];
  else if (here.optional) reason = `the optional stage ${stage} failed; going on: ${verdict}`;
  else if (!here.bounce) [next, reason] = ["blocked", `failed at ${stage}, which sends no task back: ${verdict}`];
  else if (++bounces <= bounceLimit) next = here.bounce;
  else [next, reason] = ["blocked", `sent back ${bounces} times (limit ${bounceLimit}), needs a person: ${verdict}`];
  const to = steps.find((s) => s.name === next), nextAttempt = entries(seen, next) + 1;
  if (to) { // 1. the next brief
    const out = { id: `${id}:${next}:${nextAttempt}`, project: seen.project, objective: brief.objective || first.objective,
      audience: first.audience, constraints: first.constraints, doneWhen: first.doneWhen, stage: next, taskId: id,
      priority: first.priority || brief.priority, tokenBudget: brief.tokenBudget, context: verdict, origin: agentId,
      attempt: nextAttempt, follows: `${stage}:${attempt}`, createdAt: now() };
    const suffix = ["", "scheduled"].includes(out.priority) ? "" : `.${out.priority}`;
    await js.publish(`agency.brief.${to.role}${suffix}`, ...pb(Brief, out, out.id));
  }
  let written = null; // 2. the record by compare-and-set, unless it has left this stage and attempt meanwhile
  for (let tries = 1; tries <= 32 && !written; tries++) {
    const [task, revision] = await load(id);
    if (task.stage !== stage || entries(task, stage) !== attempt) break;
    task.history.push({ from: stage, to: next, actor: agentId, reason, at: now() }); // bounded: 4 KiB of output
    Object.assign(task, { stage: next, bounces, attachments: { ...task.attachments, lint: verdict }, updatedAt: now(),
      blockedReason: next === "blocked" ? reason : task.blockedReason });
    written = await tasks.update(id, Task.encode(task).finish(), revision).then(() => task, (e) => {
      if (tries === 32 || !/wrong last sequence/.test(e.message)) throw e;
    });
  }
  if (!written) log(`result dropped task=${id}: a person moved it meanwhile; their move stands`);
  else await js.publish(...moveEvent(written, written.history.at(-1), attempt)); // 3. the event
  m.ack(); // 4.
  if (written) log(`stage changed task=${id} from=${stage} to=${next} attempt=${attempt} reason="${reason.split("\n")[0]}"`);
}

// One brief at a time, from the highest priority queue that may deliver one (§2), looking every second.
await setState("idle");
log(`up: role=${role} repo=${repoOption ?? "each task's project's, from AGENCY_CONFIG"} command="${command}"`);
while (!stopping && !draining) {
  let got = null;
  for (const { priority, consumer } of queues) {
    if (paused || stopping || draining) break; // no new brief from now on
    const fetchedAt = now(), info = await consumer.info().catch((e) => log(`queue ${priority}: ${e.message}`));
    const ready = !paused && info?.num_pending + info?.num_ack_pending > 0; // the order may have come meanwhile
    const m = ready && (await consumer.next({ expires: 1000 }).catch(log));
    if (m && (got = [m, priority, fetchedAt])) break;
  }
  if (got) await handle(...got).catch((e) => log(`brief not handled: ${e.stack}`));
  else await sleep(1000); // nothing may be delivered now (or paused): look again in a second
  if (status.state === "busy") await setState(paused ? "paused" : "idle");
}
clearInterval(heartbeat);
await fleet.delete(agentId).catch(() => {}); // a clean exit takes the heartbeat with it (§4)
await nc.drain();
process.exit(0);
