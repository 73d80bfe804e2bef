// The bus fuzzer (issue 13): a real `agency up` fleet on the scripted
// engine takes a seeded flood of hostile messages on every subject and
// bucket the mesh reads, with good briefs mixed in, and must come out of it
// whole:
//   1. no agent exits or is restarted, `agency up` still runs;
//   2. every good brief's task reaches done;
//   3. every message its receiver cannot decode (or must refuse) is a dead
//      letter with a reason;
//   4. nothing stalls: no good task waits more than 10 s at one stage, and
//      every queue the fleet reads drains once the flood is over;
//   5. every request to a subject someone serves gets a reply.
//
// AGENCY_FUZZ_SEED (default: a new one each run, printed), AGENCY_FUZZ_COUNT
// (hostile messages, default 10000), AGENCY_FUZZ_RATE (messages per second,
// default 250), AGENCY_FUZZ_SKIP (a regex of category names to leave out,
// to tell one defect from another). The same seed sends the same messages in
// the same order.
// Not named *.test.js: `node --test tests/e2e/` leaves it to its own ctest
// entry (e2e-busfuzz), which has its own timeout.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { randomInt } from "node:crypto";
import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, headers as natsHeaders, nkeyAuthenticator } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { binDir } from "./harness.js";
import { decodePb, pbNum, pbStr, pbBytes, pbMsg, pbAll, pbTime, plan } from "./busfuzz.js";

const SEED = process.env.AGENCY_FUZZ_SEED ? Number(process.env.AGENCY_FUZZ_SEED) >>> 0 : randomInt(1, 2 ** 31);
const COUNT = Number(process.env.AGENCY_FUZZ_COUNT ?? 10000);
const RATE = Number(process.env.AGENCY_FUZZ_RATE ?? 250);
const SKIP = process.env.AGENCY_FUZZ_SKIP ? new RegExp(process.env.AGENCY_FUZZ_SKIP) : null;
// 25 good briefs in the full run, fewer in a quick one.
const GOOD = Math.min(30, Math.max(8, Math.round(COUNT / 400)));
// Good briefs come at least this far apart, so the wait of one is not the
// work of the good briefs before it (a builder turn takes a second or two);
// the flood slows down to keep that spacing.
const GOOD_SPACING_MS = 4000;
const STALL_MS = 10000;
const REQUEST_TIMEOUT_MS = 20000;
// After the flood: how long the fleet has to finish the good briefs and
// drain its queues before what is left counts as stuck.
const DRAIN_MS = Number(process.env.AGENCY_FUZZ_DRAIN_MS ?? 90000);
// After the drain: how long the last dead letters (usage the accountant is
// still reading) may take to appear.
const LETTERS_MS = 20000;
// Big messages are paced by bytes too, so ten 1 MiB briefs in a row do not
// arrive in one burst.
const BYTES_PER_SECOND = 16 * 1024 * 1024;

const PIPELINE = ["planner", "builder", "adversary", "reviewer"];
const ROLES = [...PIPELINE, "proxy", "sweeper", "accountant", "dispatcher", "synthesizer", "scout"];
const ENGINES = ["scripted", "claude", "codex", "openai"];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const secs = (ms) => `${(ms / 1000).toFixed(1)} s`;
const hex = (b, n = 64) => Buffer.from(b.subarray(0, n)).toString("hex");

function writeProject(dir) {
  const repo = join(dir, "project");
  mkdirSync(repo);
  const git = (...args) => execFileSync("git", args, { cwd: repo, stdio: "ignore" });
  git("init", "-q", "-b", "main");
  writeFileSync(join(repo, "README.md"), "# sample\n\nThe public API listens on port 8080.\n");
  git("add", "-A");
  git("-c", "user.name=fuzz", "-c", "user.email=fuzz@example.com", "commit", "-q", "-m", "initial");
  mkdirSync(join(dir, "claude"));
  const roles = ROLES.map((r) => `  ${r}: {engine: scripted}\n`).join("");
  writeFileSync(
    join(dir, "agency.yaml"),
    "state_dir: state\n" +
      "nats: {port: 0, monitor_port: -1}\n" +
      // Reviewed work stays on its branch: every good brief writes the same
      // file, and landing them all is the landing tests' business.
      "projects:\n  - {name: demo, repo: project, default_branch: main, test_command: test -f AGENCY_DEMO.md, landing: none}\n" +
      `roles:\n${roles}` +
      "proxy:\n  corpus:\n    - {name: docs, path: project}\n" +
      "accountant:\n  plan: max20\n  accounts:\n    - {name: personal, config_dir: claude}\n",
  );
}

// `agency up` with a clean NATS environment; resolves once its fleet runs.
async function startFleet(dir) {
  const env = { ...process.env, XDG_CONFIG_HOME: dir };
  for (const k of ["NATS_URL", "NATS_CONTEXT", "AGENCY_CONFIG"]) delete env[k];
  const up = spawn(join(binDir, "agency"), ["up", "--config", join(dir, "agency.yaml")], { cwd: dir, env });
  const fleet = { proc: up, out: "", err: "", agents: new Map() };
  up.stdout.on("data", (d) => (fleet.out += d));
  up.stderr.on("data", (d) => (fleet.err += d));
  const deadline = Date.now() + 60000;
  while (!fleet.out.includes("running;")) {
    if (up.exitCode !== null || Date.now() > deadline) {
      throw new Error(`agency up did not start (exit ${up.exitCode}):\n${fleet.out}\n${fleet.err}`);
    }
    await sleep(50); // polling output, with a deadline
  }
  for (const m of fleet.out.matchAll(/^\s+([a-z][\w-]*-\d+)\s+(\d+)\s+\//gm)) fleet.agents.set(m[1], Number(m[2]));
  fleet.url = readFileSync(join(dir, "state", "nats.url"), "utf8").trim();
  return fleet;
}

function natsHeadersOf(list) {
  if (!list) return undefined;
  const h = natsHeaders();
  for (const [k, v] of list) h.append(k, v);
  return h;
}

// Every message of `stream` on `filter`, oldest first.
async function readAll(js, stream, filter) {
  const consumer = await js.consumers.get(stream, { filter_subjects: filter });
  const out = [];
  for (;;) {
    const batch = await consumer.fetch({ max_messages: 500, expires: 1000 });
    let n = 0;
    let pending = 1;
    for await (const m of batch) {
      out.push(m);
      n++;
      pending = m.info.pending;
    }
    if (n === 0 || pending === 0) return out;
  }
}

function tryDecode(data) {
  try {
    return decodePb(data);
  } catch {
    return null;
  }
}

// The records agents write, read with the wire format alone.
function readTask(data) {
  const m = tryDecode(data);
  if (!m || !pbStr(m, 1).startsWith("t-")) return null;
  try {
    return { id: pbStr(m, 1), stage: pbStr(m, 4), blocked: pbStr(m, 9), objective: pbStr(pbMsg(m, 10), 3) };
  } catch {
    return null;
  }
}
function readEvent(data) {
  const m = tryDecode(data);
  if (!m) return null;
  try {
    return { task: pbStr(m, 1), kind: pbStr(m, 2), from: pbStr(m, 3), to: pbStr(m, 4), actor: pbStr(m, 5), reason: pbStr(m, 6), at: pbTime(m, 7) };
  } catch {
    return null;
  }
}
function readDeadLetter(data) {
  const m = tryDecode(data);
  if (!m) return null;
  try {
    return { subject: pbStr(m, 1), payload: pbBytes(m, 3), reason: pbStr(m, 4), role: pbStr(m, 5), agent: pbStr(m, 6), seq: pbNum(m, 7), deliveries: pbNum(m, 8), headers: pbAll(m, 2).length };
  } catch {
    return null;
  }
}
function readStatus(data) {
  const m = tryDecode(data);
  if (!m) return null;
  try {
    return { id: pbStr(m, 1), state: pbStr(m, 3), task: pbStr(m, 4), progress: pbStr(m, 6), pid: pbNum(m, 10), ack: pbStr(m, 15) };
  } catch {
    return null;
  }
}

// The start of a payload as a person reads it: text as text, bytes as hex.
function preview(data) {
  const head = Buffer.from(data.subarray(0, 48));
  const text = head.toString("utf8");
  const printable = !text.includes("\ufffd") && !/[\x00-\x08\x0e-\x1f\x7f]/.test(text);
  return (printable ? JSON.stringify(text) : `0x${head.toString("hex").slice(0, 32)}`) + (data.length > 48 ? "..." : "");
}

// Stream, stream sequence and delivery count of a brief from its ack subject
// ($JS.ACK.<stream>.<consumer>.<delivered>.<sseq>..., or with a domain and
// account hash after $JS.ACK).
function ackInfo(subject) {
  const t = subject.split(".");
  const at = t.length >= 11 ? 4 : 2;
  if (t.length < 9 || t[0] !== "$JS" || t[1] !== "ACK") return null;
  return { stream: t[at], delivered: Number(t[at + 2]), seq: Number(t[at + 3]) };
}

const streamOf = (subject) =>
  subject.startsWith("agency.brief.") ? "AGENCY_BRIEFS" : subject.startsWith("agency.mail.") ? "AGENCY_MAIL" : subject.startsWith("agency.usage.") ? "AGENCY_USAGE" : "";

function tail(file, lines) {
  if (!existsSync(file)) return "(no log)";
  return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
}

test(`bus fuzzer: ${COUNT} hostile messages (seed ${SEED}) leave the fleet whole`, { timeout: 150000 + (COUNT / RATE) * 2000 + DRAIN_MS }, async (t) => {
  const began = Date.now();
  const say = (line) => console.log(`busfuzz: ${line}`);
  say(`seed ${SEED} (AGENCY_FUZZ_SEED=${SEED} AGENCY_FUZZ_COUNT=${COUNT} reproduces this run), ${GOOD} good briefs, rate ${RATE}/s${SKIP ? `, skipping ${SKIP}` : ""}`);
  const dir = mkdtempSync(join(tmpdir(), "agency-busfuzz-"));
  writeProject(dir);
  let fleet = null;
  let nc = null;
  let keep = false;
  let watching = false;
  try {
    fleet = await startFleet(dir);
    // agency up lets in only its own users: the fuzzer holds admin's key,
    // the one that may publish anywhere (docs/STREAMS.md, "Permissions").
    const seed = readFileSync(join(dir, "state", "auth", "admin.creds"), "utf8")
      .split("\n").map((l) => l.trim()).find((l) => l.startsWith("SU"));
    nc = await connect({
      servers: fleet.url, name: "busfuzz", maxReconnectAttempts: -1,
      authenticator: nkeyAuthenticator(new TextEncoder().encode(seed)),
    });
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    const kvm = new Kvm(nc);
    const kv = {};
    for (const b of ["agency-tasks", "agency-fleet", "agency-memory"]) kv[b] = await kvm.open(b);
    const agents = [...fleet.agents.keys()];
    assert.equal(agents.length, ROLES.length, `agency up started ${agents.length} agents:\n${fleet.out}\n${fleet.err}`);

    // Every agent has written its first heartbeat: its consumers and
    // subscriptions are in place.
    const readyBy = Date.now() + 30000;
    for (const id of agents) {
      while (!(await kv["agency-fleet"].get(id))) {
        if (Date.now() > readyBy) throw new Error(`${id} never wrote a heartbeat:\n${tail(join(dir, "state", "logs", `${id}.log`), 20)}`);
        await sleep(100); // polling a bucket, with a deadline
      }
    }
    const startedIn = Date.now() - began;

    const ctx = { roles: ROLES, pipelineRoles: PIPELINE, agents, maxPayload: nc.info.max_payload, engines: ENGINES, now: Math.floor(Date.now() / 1000) };
    const items = plan(SEED, COUNT, GOOD, ctx, SKIP);
    const requests = [];

    // ---- the flood ----------------------------------------------------
    // What each agent has in hand, from its heartbeats, through the flood
    // and the drain: a brief held long or delivered again and again is what
    // jams a role.
    const held = new Map(); // "stream:seq" -> {agents, delivered, first, last}
    watching = true;
    const watcher = (async () => {
      while (watching) {
        for (const id of agents) {
          const e = await kv["agency-fleet"].get(id).catch(() => null);
          const s = e && readStatus(e.value);
          const a = s?.ack ? ackInfo(s.ack) : null;
          if (!a) continue;
          const key = `${a.stream}:${a.seq}`;
          const h = held.get(key) ?? { agents: new Set(), delivered: 0, first: Date.now(), last: 0 };
          h.agents.add(id);
          h.delivered = Math.max(h.delivered, a.delivered);
          h.last = Date.now();
          held.set(key, h);
        }
        await sleep(1000); // sampling heartbeats, not waiting for anything
      }
    })();
    const rate = Math.min(RATE, COUNT / ((GOOD * GOOD_SPACING_MS) / 1000));
    const floodStart = Date.now();
    let due = floodStart;
    for (const item of items) {
      // Pacing: a steady rate, not a burst (a sender the server would
      // slow down anyway); the wait is the schedule, not synchronisation.
      due += 1000 / rate + (item.data.length * 1000) / BYTES_PER_SECOND;
      const ahead = due - Date.now();
      if (ahead > 1) await sleep(ahead);
      const opts = { headers: natsHeadersOf(item.headers) };
      item.sentAt = Date.now();
      try {
        if (item.kind === "js") {
          const ack = await js.publish(item.subject, item.data, opts);
          item.stream = ack.stream;
          item.seq = ack.seq;
          if (ack.duplicate) item.expect = "none";
        } else if (item.kind === "pub") {
          nc.publish(item.subject, item.data, opts);
        } else if (item.kind === "req") {
          const started = Date.now();
          requests.push(
            nc.request(item.subject, item.data, { ...opts, timeout: REQUEST_TIMEOUT_MS }).then(
              () => (item.replyMs = Date.now() - started),
              (e) => (item.replyError = e.message),
            ),
          );
        } else if (item.kind === "kv") {
          await kv[item.bucket].put(item.key, item.data);
        }
      } catch (e) {
        item.unsent = e.message; // refused by the client or the server: nobody received it
        item.expect = "none";
      }
    }
    await nc.flush();
    const floodMs = Date.now() - floodStart;
    say(`flood: ${items.length} messages (${COUNT} hostile) in ${secs(floodMs)}, ${(items.length / (floodMs / 1000)).toFixed(0)} msg/s (aimed at ${rate.toFixed(0)})`);

    // ---- the drain: good tasks finish, queues empty ---------------------
    const goods = items.filter((i) => i.good);
    const taskOf = new Map(); // objective -> task
    const otherKeys = new Set(); // keys that hold no good brief's task
    const readTasks = async () => {
      const keys = [];
      for await (const key of await kv["agency-tasks"].keys()) keys.push(key);
      const watched = new Set([...taskOf.values()].filter((t) => t.stage !== "done").map((t) => t.id));
      for (const key of keys) {
        if (otherKeys.has(key) || ([...taskOf.values()].some((t) => t.id === key) && !watched.has(key))) continue;
        const e = key.startsWith("t-") && !key.startsWith("t-FZ") ? await kv["agency-tasks"].get(key) : null;
        const task = e && readTask(e.value);
        if (task && goods.some((g) => g.objective === task.objective)) taskOf.set(task.objective, task);
        else otherKeys.add(key);
      }
    };
    const queues = async () => {
      const out = [];
      for (const role of ROLES) {
        // One queue per priority: briefs-<role> (scheduled), briefs-<role>@<priority>.
        for (const suffix of ["", "@human", "@interactive", "@batch"]) {
          const c = await jsm.consumers.info("AGENCY_BRIEFS", `briefs-${role}${suffix}`);
          out.push({ name: `briefs-${role}${suffix}`, pending: c.num_pending, inFlight: c.num_ack_pending, redelivered: c.num_redelivered });
        }
      }
      for (const id of agents) {
        const c = await jsm.consumers.info("AGENCY_MAIL", `mail-${id}`).catch(() => null);
        if (c) out.push({ name: `mail-${id}`, pending: c.num_pending, inFlight: c.num_ack_pending, redelivered: c.num_redelivered });
      }
      return out;
    };
    let requestsSettled = false;
    Promise.allSettled(requests).then(() => (requestsSettled = true));
    const drainStart = Date.now();
    let lastQueues = [];
    for (;;) {
      await readTasks();
      lastQueues = await queues();
      const goodsEnded = goods.every((g) => ["done", "blocked"].includes(taskOf.get(g.objective)?.stage));
      const drained = lastQueues.every((q) => q.pending === 0 && q.inFlight === 0);
      if ((goodsEnded && drained && requestsSettled) || Date.now() - drainStart > DRAIN_MS) break;
      await sleep(500); // polling the fleet's state, with a deadline
    }
    await Promise.allSettled(requests);
    watching = false;
    await watcher;
    const drainMs = Date.now() - drainStart;
    say(`drain: ${secs(drainMs)} after the flood`);

    // ---- what happened --------------------------------------------------
    const failures = [];
    const byCat = new Map();
    const cat = (name) => {
      if (!byCat.has(name)) byCat.set(name, { sent: 0, unsent: 0, expectDead: 0, dead: 0, missingDead: [], requests: 0, replies: 0, noReply: [] });
      return byCat.get(name);
    };

    // 1. Nobody exited.
    const exited = [];
    if (fleet.proc.exitCode !== null) exited.push(`agency up itself exited with ${fleet.proc.exitCode}`);
    for (const [id, pid] of fleet.agents) {
      let alive = true;
      try {
        process.kill(pid, 0);
      } catch {
        alive = false;
      }
      const restarts = fleet.err.split("\n").filter((l) => l.includes("agent exited") && l.includes(`agent=${id} `));
      if (!alive || restarts.length) {
        exited.push(
          `${id} (pid ${pid}) ${alive ? "" : "is gone; "}${restarts.length} exit(s): ${restarts.join(" | ")}\n` +
            `    its log before the first restart:\n${tail(join(dir, "state", "logs", `${id}.log`), 15).replace(/^/gm, "      ")}`,
        );
      }
    }
    // A connection the server closed (a protocol error, a payload over its
    // limit, a slow consumer) loses the agent's subscriptions for a while.
    const serverLog = existsSync(join(dir, "state", "nats", "nats-server.log")) ? readFileSync(join(dir, "state", "nats", "nats-server.log"), "utf8") : "";
    for (const id of agents) {
      const lines = serverLog.split("\n").filter((l) => /\[(ERR|WRN)\]/.test(l) && l.includes(`:${id}"`));
      const agentLog = existsSync(join(dir, "state", "logs", `${id}.log`)) ? readFileSync(join(dir, "state", "logs", `${id}.log`), "utf8") : "";
      const drops = agentLog.split("\n").filter((l) => l.includes("nats disconnected")).length;
      if (lines.length || drops) {
        exited.push(`${id} lost its connection ${drops} time(s); the server said: ${lines.slice(0, 3).map((l) => l.replace(/^\[\d+\] \S+ /, "")).join(" | ") || "(nothing)"}`);
      }
    }
    if (exited.length) failures.push(`1. agents exited, restarted or were disconnected:\n  ${exited.join("\n  ")}`);

    // 2. Every good brief is done. 4. Without a stall.
    const events = new Map();
    for (const m of await readAll(js, "AGENCY_EVENTS", "agency.event.task.>")) {
      const e = readEvent(m.data);
      if (!e || !e.task) continue;
      if (!events.has(e.task)) events.set(e.task, []);
      events.get(e.task).push(e);
    }
    const statuses = new Map();
    for (const id of agents) {
      const e = await kv["agency-fleet"].get(id);
      statuses.set(id, e ? readStatus(e.value) : null);
    }
    const notDone = [];
    const stalls = [];
    let worst = { gap: 0 };
    let doneDuringFlood = 0;
    const floodEnd = floodStart + floodMs;
    for (const g of goods) {
      const task = taskOf.get(g.objective);
      const trail = task ? (events.get(task.id) ?? []).slice().sort((a, b) => a.at - b.at) : [];
      const doneAt = trail.find((e) => e.to === "done")?.at;
      if (doneAt && doneAt <= floodEnd) doneDuringFlood++;
      // The waits: publish -> created -> each stage change -> done (or now).
      let prev = { at: g.sentAt, stage: `queued for ${g.role}` };
      let maxGap = { gap: 0 };
      for (const e of [...trail, ...(doneAt ? [] : [{ at: Date.now(), to: "(still waiting)" }])]) {
        const gap = e.at - prev.at;
        if (gap > maxGap.gap) maxGap = { gap, stage: prev.stage, until: e.to };
        prev = { at: e.at, stage: e.to };
        if (e.to === "done") break;
      }
      if (maxGap.gap > worst.gap) worst = { ...maxGap, brief: g.g };
      const show = trail.map((e) => `${e.kind}:${e.from || ""}>${e.to}@+${secs(e.at - g.sentAt)}${e.reason ? ` (${e.reason.slice(0, 80)})` : ""}`).join(" ");
      if (!task || task.stage !== "done") {
        const waiting = task ? ROLES.filter((r) => agents.some((a) => a.startsWith(r) && statuses.get(a)?.task === task.id)) : [];
        notDone.push(
          `good brief ${g.g} to ${g.role} (sent at +${secs(g.sentAt - floodStart)} into the flood): ` +
            (task ? `task ${task.id} at ${task.stage}${task.blocked ? ` blocked: ${task.blocked}` : ""}${waiting.length ? `, held by ${waiting.join(",")}` : ""}; trail: ${show || "(no events)"}` : "no task was ever created for it"),
        );
      }
      if (maxGap.gap >= STALL_MS) stalls.push(`good brief ${g.g} to ${g.role} (${task?.id ?? "no task"}) waited ${secs(maxGap.gap)} at "${maxGap.stage}" before "${maxGap.until}"; trail: ${show || "(no events)"}`);
    }
    if (notDone.length) failures.push(`2. ${notDone.length} of ${goods.length} good briefs did not reach done:\n  ${notDone.join("\n  ")}`);

    // 3. Every unreadable message is a dead letter with a reason. The
    // accountant files refused usage as it reads the stream, so the letters
    // of the flood's last samples may come a moment after the queues drain:
    // read until every expected letter is there, with a deadline.
    let letters = [];
    let unreadableLetters = 0;
    const readLetters = async () => {
      letters = [];
      unreadableLetters = 0;
      for (const m of await readAll(js, "AGENCY_DEAD", "agency.dead.>")) {
        const d = readDeadLetter(m.data);
        if (d) letters.push(d);
        else unreadableLetters++;
      }
    };
    const bySeq = new Map();
    const byPrefix = new Map();
    for (const item of items) {
      if (item.seq) bySeq.set(`${item.stream}:${item.seq}`, item);
      if (item.good) continue;
      const c = cat(item.cat);
      if (item.unsent) c.unsent++;
      else c.sent++;
      if (item.expect === "dead") {
        const p = hex(item.data);
        if (!byPrefix.has(p)) byPrefix.set(p, []);
        byPrefix.get(p).push(item);
      }
    }
    let emptyReasons = [];
    const matchLetters = () => {
      emptyReasons = [];
      for (const d of letters) {
        let hit = d.seq ? bySeq.get(`${streamOf(d.subject)}:${d.seq}`) : undefined;
        const matched = hit ? [hit] : (byPrefix.get(hex(d.payload)) ?? []);
        for (const item of matched) {
          item.deadLetter = d;
          if (!d.reason.trim()) emptyReasons.push(`${item.cat} #${item.i} on ${item.subject}`);
        }
      }
    };
    const lettersBy = Date.now() + LETTERS_MS;
    for (;;) {
      await readLetters();
      matchLetters();
      const missing = items.some((i) => !i.good && !i.unsent && i.expect === "dead" && !i.deadLetter);
      if (!missing || Date.now() > lettersBy) break;
      await sleep(500); // polling the dead letters, with a deadline
    }
    for (const item of items) {
      if (item.good || item.expect !== "dead") continue;
      const c = cat(item.cat);
      c.expectDead++;
      if (item.deadLetter) c.dead++;
      else c.missingDead.push(item);
    }
    const missing = [...byCat].filter(([, c]) => c.missingDead.length);
    if (missing.length || emptyReasons.length) {
      const lines = missing.map(([name, c]) => {
        const ex = c.missingDead.slice(0, 3).map((i) => `#${i.i} ${i.subject} ${i.data.length} B${i.seq ? ` seq ${i.seq}` : ""}${i.how ? ` (${i.how})` : ""} ${preview(i.data)}`);
        return `${name}: ${c.missingDead.length} of ${c.expectDead} without a dead letter, e.g. ${ex.join("; ")}`;
      });
      if (emptyReasons.length) lines.push(`dead letters with an empty reason: ${emptyReasons.slice(0, 5).join("; ")} (${emptyReasons.length} in all)`);
      failures.push(`3. unreadable messages that left no dead letter (${letters.length} dead letters read, ${unreadableLetters} unreadable):\n  ${lines.join("\n  ")}`);
    }

    // 4. No stall, and every queue drained.
    const stuckQueues = lastQueues.filter((q) => q.pending || q.inFlight);
    if (stalls.length || stuckQueues.length) {
      const lines = [...stalls];
      for (const q of stuckQueues) {
        const role = q.name.replace(/^briefs-|^mail-/, "").replace(/@.*$/, "").replace(/-\d+$/, "");
        const holders = agents.filter((a) => a.replace(/-\d+$/, "") === role).map((a) => {
          const s = statuses.get(a);
          return s ? `${a} ${s.state}${s.task ? ` on ${s.task}` : ""}${s.progress ? ` (${s.progress.slice(0, 80)})` : ""}` : `${a} (no readable heartbeat)`;
        });
        const suspects = items.filter((i) => !i.good && ["dead", "any"].includes(i.expect) && !i.deadLetter && i.subject === `agency.${q.name.startsWith("mail") ? "mail" : "brief"}.${q.name.replace(/^briefs-|^mail-/, "").replace("@", ".")}`);
        // What the role's agents last said about handing briefs back.
        const said = new Set();
        for (const a of agents.filter((x) => x.replace(/-\d+$/, "") === role)) {
          const log = existsSync(join(dir, "state", "logs", `${a}.log`)) ? readFileSync(join(dir, "state", "logs", `${a}.log`), "utf8").split("\n") : [];
          for (const l of log.filter((x) => /handing|hand(ed|s)? back|cannot|failed|refused|budget|deferred|rate limited/.test(x) && !x.includes("dead-lettered")).slice(-3)) said.add(`${a}: ${l.replace(/^\S+ /, "").slice(0, 240)}`);
        }
        lines.push(
          `${q.name} still holds ${q.pending} queued, ${q.inFlight} in flight (${q.redelivered} redelivered) ${secs(drainMs)} after the flood; agents: ${holders.join(", ")}` +
            (suspects.length ? `; unsettled hostile messages there: ${suspects.slice(0, 4).map((i) => `${i.cat} #${i.i} ${i.data.length} B seq ${i.seq}`).join(", ")}${suspects.length > 4 ? ` and ${suspects.length - 4} more` : ""}` : "") +
            (said.size ? `\n    last said: ${[...said].join("\n               ")}` : ""),
        );
      }
      const jammers = [...held]
        .map(([key, h]) => ({ key, ...h, span: h.last - h.first, item: bySeq.get(key) }))
        .filter((h) => h.delivered >= 3 || h.span >= STALL_MS)
        .sort((a, b) => b.span - a.span);
      if (jammers.length) {
        lines.push(
          `briefs agents held ${secs(STALL_MS)} or more, or took 3 or more times (from their heartbeats):\n    ` +
            jammers.slice(0, 12).map((h) => {
              const i = h.item;
              const what = !i ? "(not sent by the fuzzer)" : i.good ? `good brief ${i.g}` : `${i.cat} #${i.i} ${i.data.length} B${i.how ? ` (${i.how})` : ""} ${preview(i.data)}`;
              return `${h.key} ${what}: held by ${[...h.agents].join(",")} for ${secs(h.span)}, delivered ${h.delivered} times`;
            }).join("\n    ") + (jammers.length > 12 ? `\n    and ${jammers.length - 12} more` : ""),
        );
      }
      failures.push(`4. stalls (limit ${secs(STALL_MS)} at one stage; queues must drain within ${secs(DRAIN_MS)}):\n  ${lines.join("\n  ")}`);
    }

    // 5. Every request got a reply.
    for (const item of items) {
      if (item.kind !== "req" || item.unsent) continue;
      const c = cat(item.cat);
      c.requests++;
      if (item.replyMs !== undefined) {
        c.replies++;
        c.slowest = Math.max(c.slowest ?? 0, item.replyMs);
      } else c.noReply.push(item);
    }
    const silent = [...byCat].filter(([, c]) => c.noReply.length);
    if (silent.length) {
      failures.push(
        `5. requests without a reply within ${secs(REQUEST_TIMEOUT_MS)}:\n  ` +
          silent.map(([name, c]) => `${name}: ${c.noReply.length} of ${c.requests}, e.g. ${c.noReply.slice(0, 3).map((i) => `#${i.i} ${i.subject} ${i.data.length} B: ${i.replyError}`).join("; ")}`).join("\n  "),
      );
    }

    // ---- the report -----------------------------------------------------
    const totalMs = Date.now() - began;
    const rows = [...byCat].sort(([a], [b]) => a.localeCompare(b)).map(([name, c]) =>
      `  ${name.padEnd(26)} sent ${String(c.sent).padStart(5)}${c.unsent ? ` (+${c.unsent} refused by client/server)` : ""}` +
        (c.expectDead ? `  dead letters ${c.dead}/${c.expectDead}` : "") + (c.requests ? `  replies ${c.replies}/${c.requests}${c.replies ? `, slowest ${secs(c.slowest)}` : ""}` : ""),
    );
    say(`per category:\n${rows.join("\n")}`);
    say(
      `figures: start ${secs(startedIn)}, flood ${secs(floodMs)}, drain ${secs(drainMs)}, total ${secs(totalMs)}; ` +
        `${letters.length} dead letters; good briefs done ${goods.length - notDone.length}/${goods.length} (${doneDuringFlood} during the flood); ` +
        `longest wait of a good task at one stage ${secs(worst.gap)}${worst.stage ? ` (brief ${worst.brief} at "${worst.stage}")` : ""}`,
    );
    if (failures.length) {
      keep = !!process.env.AGENCY_FUZZ_KEEP;
      assert.fail(`bus fuzzer, seed ${SEED} (rerun: AGENCY_FUZZ_SEED=${SEED} AGENCY_FUZZ_COUNT=${COUNT}${SKIP ? ` AGENCY_FUZZ_SKIP='${SKIP.source}'` : ""}), ${failures.length} of 5 checks failed:\n\n${failures.join("\n\n")}\n\nstate dir: ${dir}${keep ? " (kept)" : " (AGENCY_FUZZ_KEEP=1 keeps it)"}`);
    }
  } finally {
    watching = false;
    if (nc) await nc.close().catch(() => {});
    if (fleet && fleet.proc.exitCode === null) {
      fleet.proc.kill("SIGTERM");
      // A grace for the fleet to stop; the timer is cleared, or it would
      // hold the test runner for its whole length after the fleet is gone.
      let timer;
      const gone = await Promise.race([
        new Promise((r) => fleet.proc.once("exit", () => r(true))),
        new Promise((r) => (timer = setTimeout(() => r(false), 45000))),
      ]);
      clearTimeout(timer);
      if (!gone) fleet.proc.kill("SIGKILL");
    }
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
});
