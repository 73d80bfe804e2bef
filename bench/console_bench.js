// The web console's benchmark, run by hand after a release build and
// `bash scripts/install-deps.sh` (it uses tests/e2e's node_modules):
//
//   node bench/console_bench.js            (AGENCY_BIN_DIR=... for other binaries)
//
// A real nats-server, `agency console`, Debian's chromium (playwright-core):
//   1. the board's first load with 1,000 task records in agency-tasks, from
//      navigation start to window.agencyBoardRenderedAt (target 500 ms), in
//      a new tab and reloaded;
//   2. the console process's CPU while 50 fake agents heartbeat into
//      agency-fleet every 2 s for 30 s, with a page open (of one core);
//   3. from a task event on the bus to the card moved in the page, p50 and
//      p99 over the stage changes of 25 briefs run through the four scripted
//      pipeline agents (window.agencyLatency; target 250 ms).
import { createRequire } from "node:module";
import { readFileSync, rmSync } from "node:fs";
import { execFileSync } from "node:child_process";
import {
  agency, freePort, pipelineFixture, startPipelineAgents, startProcess, startServer, until,
} from "../tests/e2e/harness.js";

const require = createRequire(new URL("../tests/e2e/package.json", import.meta.url));
const { chromium } = require("playwright-core");
const { connect } = require("@nats-io/transport-node");
const { Kvm } = require("@nats-io/kv");
const { jetstream } = require("@nats-io/jetstream");

const TASKS = 1000;
const BOARD_LOADS = 5;
const FAKE_AGENTS = 50;
const HEARTBEAT_MS = 2000;
const CPU_SECONDS = 30;
const BRIEFS = 25;
const STAGES = ["ready-for-prep", "ready-for-dev", "qa", "review", "ready-to-land", "pending", "done", "done", "done", "blocked", "cancelled"];

const SCENARIO = `planner:
  - spec: "Add GREETING.md for {task_id}"
builder:
  - write: {path: GREETING.md, content: "hello from {task_id}\\n"}
adversary:
  - verdict: pass
reviewer:
  - verdict: pass
`;

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
const median = (xs) => percentile([...xs].sort((a, b) => a - b), 50);

// A task record in the protobuf JSON mapping (the console's codec reads
// JSON records as it reads protobuf ones).
function fakeTask(i) {
  const id = "t-BENCH" + String(i).padStart(11, "0");
  const stage = STAGES[i % STAGES.length];
  const at = new Date(Date.now() - (TASKS - i) * 60000).toISOString();
  const task = {
    id, title: `Benchmark task ${i}: tidy module ${i % 37}`, project: "demo", stage,
    bounces: i % 4, createdAt: at, updatedAt: at,
    brief: { objective: `Benchmark task ${i}`, priority: ["human", "interactive", "scheduled", "batch"][i % 4] },
    history: [{ to: "ready-for-prep", actor: "bench", at }, { from: "ready-for-prep", to: stage, actor: "bench", at }],
  };
  if (stage === "blocked" || stage === "cancelled") task.blockedReason = "benchmark: blocked on purpose";
  return task;
}

// The fields of an agency.v1.TaskEvent (protobuf, as agents publish it)
// the floor needs: task_id (1), to_stage (4), at (7: seconds 1, nanos 2).
function taskEvent(bytes) {
  let i = 0;
  const varint = () => {
    let v = 0n;
    for (let shift = 0n; ; shift += 7n) {
      const b = bytes[i++];
      v |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return v;
    }
  };
  const out = { taskId: "", toStage: "", atMs: 0 };
  while (i < bytes.length) {
    const key = Number(varint());
    const field = key >> 3;
    if ((key & 7) === 0) { varint(); continue; }
    if ((key & 7) !== 2) return null;  // no other wire type in a TaskEvent
    const len = Number(varint());
    const body = bytes.subarray(i, i + len);
    i += len;
    if (field === 1) out.taskId = new TextDecoder().decode(body);
    if (field === 4) out.toStage = new TextDecoder().decode(body);
    if (field === 7) {
      const t = taskEvent.timestamp(body);
      out.atMs = t;
    }
  }
  return out;
}
taskEvent.timestamp = (body) => {
  let i = 0;
  let seconds = 0;
  let nanos = 0;
  const varint = () => {
    let v = 0;
    let m = 1;
    for (;;) {
      const b = body[i++];
      v += (b & 0x7f) * m;
      m *= 128;
      if ((b & 0x80) === 0) return v;
    }
  };
  while (i < body.length) {
    const key = varint();
    const v = varint();
    if (key >> 3 === 1) seconds = v;
    if (key >> 3 === 2) nanos = v;
  }
  return seconds * 1000 + nanos / 1e6;
};

// utime + stime of a process, in seconds.
function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim());
  return (Number(fields[11]) + Number(fields[12])) / ticks;
}

async function main() {
  const server = await startServer();
  const fixture = await pipelineFixture(SCENARIO, { pipeline: "  max_deliver: 3\n" });
  const nc = await connect({ servers: server.url });
  let consoleProc = null;
  let browser = null;
  let agents = [];
  const rows = [];
  try {
    const init = await agency(server.url, "--config", fixture.config, "init");
    if (init.code !== 0) throw new Error(`agency init: ${init.stderr}`);
    const kvm = new Kvm(nc);
    const tasks = await kvm.open("agency-tasks");
    for (let i = 0; i < TASKS; i += 100) {
      await Promise.all(Array.from({ length: Math.min(100, TASKS - i) }, (_, k) =>
        tasks.put(fakeTask(i + k).id, JSON.stringify(fakeTask(i + k)))));
    }

    const port = await freePort();
    consoleProc = startProcess("agency", ["console", "--port", String(port), "--nats", server.url], {
      env: { AGENCY_CONFIG: fixture.config },
      ready: /console (http:\/\/127\.0\.0\.1:\d+\/)/,
    });
    const base = (await consoleProc.started)[1];
    browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });

    // 1. The board's first load: in a new tab (a new renderer process each
    // time) and reloaded in the same tab.
    const rendered = async (page) => {
      await page.waitForFunction(() => window.agencyBoardRenderedAt !== undefined, null, { timeout: 30000 });
      return page.evaluate(() => window.agencyBoardRenderedAt);
    };
    const fresh = [];
    const reloaded = [];
    let cards = 0;
    for (let i = 0; i < BOARD_LOADS; i++) {
      const tab = await browser.newPage({ viewport: { width: 1600, height: 900 } });
      await tab.goto(base);
      fresh.push(await rendered(tab));
      cards = await tab.$$eval("article.card", (c) => c.length);
      await tab.close();
    }
    const tab = await browser.newPage({ viewport: { width: 1600, height: 900 } });
    await tab.goto(base);
    await rendered(tab);
    for (let i = 0; i < BOARD_LOADS; i++) {
      await tab.reload();
      reloaded.push(await rendered(tab));
    }
    await tab.close();
    rows.push([`board first load, ${cards} cards, new tab (median of ${BOARD_LOADS}; first ${fresh[0].toFixed(0)} ms)`,
      `${median(fresh).toFixed(0)} ms`, "500 ms"]);
    rows.push([`board first load, ${cards} cards, reload (median of ${BOARD_LOADS})`, `${median(reloaded).toFixed(0)} ms`, "500 ms"]);

    // 2. CPU while fake agents heartbeat, with a page on the fleet view.
    const page = await browser.newPage({ viewport: { width: 1600, height: 900 } });
    await page.goto(`${base}#/fleet`);
    await page.waitForSelector("#live.on", { timeout: 30000 });
    const fleet = await kvm.open("agency-fleet");
    const ids = Array.from({ length: FAKE_AGENTS }, (_, i) => `bench-agent-${String(i).padStart(2, "0")}`);
    const beat = (n) => Promise.all(ids.map((id, i) => fleet.put(id, JSON.stringify({
      agentId: id, role: ["planner", "builder", "adversary", "reviewer"][i % 4], state: n % 3 ? "busy" : "idle",
      engine: "scripted", lastProgress: `step ${n}`, windowTokens: String(n * 1000 + i),
      pid: 10000 + i, host: "bench", heartbeatAt: new Date().toISOString(),
    }))));
    const pid = consoleProc.proc.pid;
    const cpuBefore = cpuSeconds(pid);
    const started = Date.now();
    for (let n = 0; Date.now() - started < CPU_SECONDS * 1000; n++) {
      await beat(n);
      await new Promise((r) => setTimeout(r, HEARTBEAT_MS)); // the heartbeat period being simulated
    }
    const cpu = (cpuSeconds(pid) - cpuBefore) / ((Date.now() - started) / 1000);
    const shownAgents = await page.$$eval("#fleet-rows tr", (r) => r.length);
    rows.push([`console CPU, ${FAKE_AGENTS} agents every ${HEARTBEAT_MS / 1000} s for ${CPU_SECONDS} s (${shownAgents} rows shown)`,
      `${(cpu * 100).toFixed(1)} % of a core`, "-"]);
    await Promise.all(ids.map((id) => fleet.delete(id)));

    // 3. Task event to card moved, over the scripted pipeline.
    await page.click("nav a[data-view=board]");
    agents = startPipelineAgents(server.url, fixture.config, 2);
    await Promise.all(agents.map((a) => a.started));
    const js = jetstream(nc);
    // The floor: the same events as a bare NATS subscriber sees them, from
    // the time the event says it happened to its arrival here.
    const floorSeen = new Map();
    const floorSub = nc.subscribe("agency.event.task.>", {
      callback: (_err, m) => {
        const arrived = Date.now();
        const e = taskEvent(m.data);
        if (e && e.atMs > 0) floorSeen.set(`${e.taskId} ${e.toStage}`, arrived - e.atMs);
      },
    });
    await nc.flush();
    await page.evaluate(() => { window.agencyLatency.length = 0; });
    for (let i = 0; i < BRIEFS; i++) await js.publish("agency.brief.planner", `Benchmark brief ${i}`);
    await until("every brief done", () => page.evaluate((n) =>
      new Set(window.agencyLatency.filter((x) => x.stage === "done").map((x) => x.taskId)).size >= n, BRIEFS), 180000);
    const seen = await page.evaluate(() => window.agencyLatency);
    floorSub.unsubscribe();
    const lat = seen.map((x) => x.shownAt - x.eventAt).sort((a, b) => a - b);
    const floor = seen.map((x) => floorSeen.get(`${x.taskId} ${x.stage}`)).filter((x) => x !== undefined)
      .sort((a, b) => a - b);
    const ratio = (p) => (percentile(lat, p) / Math.max(1, percentile(floor, p))).toFixed(1);
    rows.push([`task event -> card moved, p50 (${lat.length} changes)`, `${percentile(lat, 50)} ms`, "250 ms"]);
    rows.push([`task event -> card moved, p99`, `${percentile(lat, 99)} ms`, "250 ms"]);
    rows.push([`floor: same events at a bare NATS subscriber, p50 / p99 (${floor.length})`,
      `${percentile(floor, 50).toFixed(1)} / ${percentile(floor, 99).toFixed(1)} ms`, "-"]);
    rows.push([`page / floor, p50 / p99`, `${ratio(50)}x / ${ratio(99)}x`, "-"]);
  } catch (err) {
    console.error(`console_bench: ${err.message}`);
    if (consoleProc) console.error(consoleProc.output().slice(-3000));
    process.exitCode = 1;
  } finally {
    await browser?.close();
    await consoleProc?.stop();
    for (const a of agents) await a.stop();
    await nc.close();
    await server.stop();
    rmSync(fixture.dir, { recursive: true, force: true });
  }
  const width = Math.max(...rows.map((r) => r[0].length), 7);
  console.log(`${"measure".padEnd(width)}  ${"result".padStart(16)}  target`);
  for (const [what, result, target] of rows) console.log(`${what.padEnd(width)}  ${result.padStart(16)}  ${target}`);
}

await main();
