// Shared set-up for the end-to-end tests: a real nats-server on a free port
// in a temp dir, and the built `agency` binary.
import { spawn, execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const execFileP = promisify(execFile);

export const binDir = process.env.AGENCY_BIN_DIR ?? new URL("../../build/release/bin", import.meta.url).pathname;

export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function accepts(port) {
  return new Promise((resolve) => {
    const s = tcpConnect(port, "127.0.0.1");
    s.on("connect", () => { s.destroy(); resolve(true); });
    s.on("error", () => resolve(false));
  });
}

export async function startServer() {
  const dir = mkdtempSync(join(tmpdir(), "agency-e2e-"));
  const port = await freePort();
  const proc = spawn("nats-server", ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", join(dir, "js")], {
    stdio: "ignore",
  });
  const deadline = Date.now() + 10000;
  while (!(await accepts(port))) {
    if (Date.now() > deadline) throw new Error("nats-server did not start");
    await new Promise((r) => setTimeout(r, 20)); // polling a port, not standing in for sync
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    dir,
    async stop() {
      proc.kill("SIGTERM");
      await new Promise((r) => proc.once("exit", r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// Runs `agency ARGS...` against url; resolves {code, stdout, stderr}.
export async function agency(url, ...args) {
  const env = { ...process.env, NATS_URL: url };
  delete env.NATS_CONTEXT;
  try {
    const { stdout, stderr } = await execFileP(join(binDir, "agency"), args, { env, timeout: 30000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    return { code: e.code ?? -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

// Polls fn until it returns something truthy; fails after ms.
export async function until(what, fn, ms = 20000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50)); // polling, with a deadline
  }
}

// A long-running binary of binDir (an agent, `agency console`) with `env`
// added. `started` resolves once it runs, or with `ready`, a RegExp, to the
// first match of it in the output (stdout and stderr); it rejects if the
// binary cannot start or exits first. output() is everything printed so
// far, for failure messages.
export function startProcess(name, args, { env = {}, ready = null, cwd } = {}) {
  const proc = spawn(join(binDir, name), args, { env: { ...process.env, NATS_CONTEXT: "", ...env }, cwd });
  let out = "";
  let failed = false;
  let waiter = null;
  const seen = () => {
    const m = waiter && ready.exec(out);
    if (m) {
      waiter.resolve(m);
      waiter = null;
    }
  };
  const fail = (why) => {
    if (waiter) waiter.reject(new Error(`${name} ${why}:\n${out}`));
    waiter = null;
  };
  const started = new Promise((resolve, reject) => { waiter = { resolve, reject }; });
  started.catch(() => {}); // a caller that never awaits it still sees the failure in output()
  proc.stdout.on("data", (d) => { out += d; seen(); });
  proc.stderr.on("data", (d) => { out += d; seen(); });
  proc.on("spawn", () => {
    if (!ready && waiter) waiter.resolve(null);
    if (!ready) waiter = null;
  });
  proc.on("error", (e) => {
    failed = true;
    out += `${e.message}\n`;
    fail("did not start");
  });
  proc.on("exit", (code, signal) => fail(`exited (${code ?? signal}) before it was ready`));
  return {
    proc,
    started,
    output: () => out,
    async stop() {
      if (failed || proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill("SIGTERM");
      await new Promise((r) => proc.once("exit", r));
    },
  };
}

export const PIPELINE_ROLES = ["planner", "builder", "adversary", "reviewer"];

// A temp dir with a git repository `project` (branch main, one commit), the
// scripted scenario `scenario.yaml` and an agency.yaml running the four
// pipeline roles on it with the scripted engine. `pipeline` and `project`
// are YAML lines for those sections; `extra` is appended (other sections).
// Resolves {dir, config, repo}.
export async function pipelineFixture(scenario, {
  pipeline = "  bounce_limit: 2\n  max_deliver: 2\n  ack_wait_seconds: 5\n",
  project = "    landing: none\n    test_command: test -f GREETING.md\n",
  extra = "",
} = {}) {
  const dir = mkdtempSync(join(tmpdir(), "agency-e2e-fleet-"));
  const repo = join(dir, "project");
  mkdirSync(repo);
  writeFileSync(join(repo, "README.md"), "sample project\n");
  const git = (...args) => execFileP("git", args, { cwd: repo });
  await git("init", "-q", "-b", "main");
  await git("add", "-A");
  await git("-c", "user.name=test", "-c", "user.email=test@example.com", "commit", "-q", "-m", "initial");
  writeFileSync(join(dir, "scenario.yaml"), scenario);
  const roles = PIPELINE_ROLES.map((r) => `  ${r}:\n    engine: scripted\n    scenario: scenario.yaml\n`).join("");
  const config = join(dir, "agency.yaml");
  writeFileSync(config, `state_dir: state\npipeline:\n${pipeline}projects:\n  - name: demo\n    repo: project\n    default_branch: main\n${project}roles:\n${roles}${extra}`);
  return { dir, config, repo };
}

// One agent per pipeline role (`perRole` each) against url with config;
// returns their startProcess handles.
export function startPipelineAgents(url, config, perRole = 1) {
  const agents = [];
  for (const role of PIPELINE_ROLES) {
    for (let i = 1; i <= perRole; i++) {
      agents.push(startProcess(`agency-${role}`, [], {
        env: { NATS_URL: url, AGENCY_CONFIG: config, AGENCY_AGENT_ID: `${role}-${i}`, AGENCY_HEARTBEAT_MS: "1000" },
      }));
    }
  }
  return agents;
}
