// Lateral paths from outside: a plain NATS request from the official
// JavaScript client reaches the knowledge proxy and gets its answer; mail a
// JS client writes waits in JetStream for an agent that is not running yet.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, headers } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { agency, binDir, startServer, until } from "./harness.js";


test("a plain-text request on agency.ask.proxy gets the proxy's answer with its source", async () => {
  const server = await startServer();
  const dir = mkdtempSync(join(tmpdir(), "agency-e2e-proxy-"));
  mkdirSync(join(dir, "docs"));
  writeFileSync(join(dir, "docs", "api.md"), "# API\n\n## Ports\n\nThe public API listens on port 8080.\n");
  writeFileSync(
    join(dir, "agency.yaml"),
    "state_dir: state\nroles:\n  proxy: {engine: scripted}\nproxy:\n  corpus:\n    - {name: docs, path: docs}\n",
  );
  const proxy = spawn(join(binDir, "agency-proxy"), [], {
    env: { ...process.env, NATS_URL: server.url, AGENCY_CONFIG: join(dir, "agency.yaml"), AGENCY_AGENT_ID: "proxy-e2e" },
    stdio: "ignore",
  });
  const nc = await connect({ servers: server.url });
  try {
    const reply = await until("the proxy's answer", async () => {
      try {
        return await nc.request("agency.ask.proxy", "Which port does the public API listen on?", { timeout: 5000 });
      } catch {
        return null; // not subscribed yet: no responders
      }
    });
    assert.equal(reply.headers?.get("Agency-Type"), "agency.v1.Answer");
    // Protobuf keeps strings as UTF-8 bytes: the answer, who answered and the
    // source are readable without a schema.
    const bytes = Buffer.from(reply.data).toString("utf8");
    assert.match(bytes, /8080/);
    assert.match(bytes, /proxy-e2e/);
    assert.match(bytes, /docs\/api\.md:/);
  } finally {
    proxy.kill("SIGTERM");
    await new Promise((r) => proxy.once("exit", r));
    await nc.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("mail a JS client publishes as JSON waits for its agent and is read when it starts", async () => {
  const server = await startServer();
  const dir = mkdtempSync(join(tmpdir(), "agency-e2e-mail-"));
  writeFileSync(
    join(dir, "scenario.yaml"),
    'builder.mail:\n  - write: {path: MAIL.md, content: "{objective}"}\n',
  );
  writeFileSync(join(dir, "agency.yaml"), "state_dir: state\nroles:\n  builder: {engine: scripted, scenario: scenario.yaml}\n");
  const nc = await connect({ servers: server.url });
  let builder = null;
  try {
    assert.equal((await agency(server.url, "init")).code, 0);
    const js = jetstream(nc);
    const h = headers();
    h.set("Content-Type", "application/json");
    const ack = await js.publish(
      "agency.mail.builder-e2e",
      JSON.stringify({ from: "js-client", to: "builder-e2e", subject: "ports", body: "Use 8080." }),
      { headers: h },
    );
    assert.equal(ack.stream, "AGENCY_MAIL");

    builder = spawn(join(binDir, "agency-builder"), [], {
      env: { ...process.env, NATS_URL: server.url, AGENCY_CONFIG: join(dir, "agency.yaml"), AGENCY_AGENT_ID: "builder-e2e" },
      stdio: "ignore",
    });
    const file = join(dir, "state", "work", "scratch", "mail-builder-e2e", "MAIL.md");
    const text = await until("the mail turn's file", async () => {
      try {
        return readFileSync(file, "utf8");
      } catch {
        return null;
      }
    });
    assert.match(text, /From js-client: ports/);
    assert.match(text, /Use 8080\./);
  } finally {
    if (builder) {
      builder.kill("SIGTERM");
      await new Promise((r) => builder.once("exit", r));
    }
    await nc.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
