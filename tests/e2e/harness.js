// Shared set-up for the end-to-end tests: a real nats-server on a free port
// in a temp dir, and the built `agency` binary.
import { spawn, execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
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
