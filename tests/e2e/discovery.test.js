// Agents are NATS services (ADR-32): the official @nats-io/services client,
// what `nats micro ls` uses, finds a running agent and reads its info and
// stats, and a control message from a plain client pauses it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { Svcm } from "@nats-io/services";
import { Kvm } from "@nats-io/kv";
import { binDir, startServer, until } from "./harness.js";


// Replies to a discovery request; none (yet) when nobody answers.
async function collect(request) {
  const out = [];
  try {
    for await (const r of await request) out.push(r);
  } catch (e) {
    if (e.name !== "NoResponders" && !String(e).includes("no responders")) throw e;
  }
  return out;
}

test("a running agent answers service discovery and obeys a plain control message", async () => {
  const server = await startServer();
  const dir = mkdtempSync(join(tmpdir(), "agency-e2e-agent-"));
  writeFileSync(join(dir, "agency.yaml"), "state_dir: state\nroles:\n  planner: {engine: scripted}\n");
  const agent = spawn(join(binDir, "agency-planner"), [], {
    env: { ...process.env, NATS_URL: server.url, AGENCY_CONFIG: join(dir, "agency.yaml"), AGENCY_AGENT_ID: "planner-e2e", AGENCY_HEARTBEAT_MS: "200" },
    stdio: "ignore",
  });
  const nc = await connect({ servers: server.url });
  try {
    const client = new Svcm(nc).client();
    const pings = await until("the agent's ping", async () => {
      const found = (await collect(client.ping("agency-planner"))).filter((p) => p.id === "planner-e2e");
      return found.length ? found : null;
    });
    assert.equal(pings[0].name, "agency-planner");
    assert.match(pings[0].version, /^\d+\.\d+\.\d+/);
    assert.equal(pings[0].metadata.role, "planner");

    const [info] = await collect(client.info("agency-planner", "planner-e2e"));
    assert.equal(info.type, "io.nats.micro.v1.info_response");
    const brief = info.endpoints.find((e) => e.name === "brief");
    assert.equal(brief.subject, "agency.brief.planner");
    const [stats] = await collect(client.stats("agency-planner", "planner-e2e"));
    assert.equal(stats.type, "io.nats.micro.v1.stats_response");
    assert.ok(Date.parse(stats.started) > 0);

    // A plain text control message, as `nats pub agency.control.planner-e2e pause` sends it.
    nc.publish("agency.control.planner-e2e", "pause");
    const fleet = await new Kvm(nc).open("agency-fleet");
    await until("state paused in agency-fleet", async () => {
      const e = await fleet.get("planner-e2e");
      return e && Buffer.from(e.value).includes("paused");
    });
    await until("state paused in the service metadata", async () => {
      const [p] = await collect(client.ping("agency-planner", "planner-e2e"));
      return p && p.metadata.state === "paused";
    });
    // The control message counts as a request in the stats the client reads.
    const control = await until("the control message in the service stats", async () => {
      const [s] = await collect(client.stats("agency-planner", "planner-e2e"));
      const c = s && s.endpoints.find((e) => e.name === "control");
      return c && c.num_requests >= 1 ? c : null;
    });
    assert.equal(control.num_errors, 0);
    assert.ok(control.processing_time > 0);
  } finally {
    agent.kill("SIGTERM");
    await new Promise((r) => agent.once("exit", r));
    await nc.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
