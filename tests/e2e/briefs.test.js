// Any NATS user drives agency: the official JavaScript client publishes and
// reads with no agency code involved.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager, jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { agency, startServer } from "./harness.js";

test("a plain text publish from the JS client is queued for the role and shown by agency status", async () => {
  const server = await startServer();
  const nc = await connect({ servers: server.url });
  try {
    const init = await agency(server.url, "init");
    assert.equal(init.code, 0, init.stderr);

    nc.publish("agency.brief.planner", "Add rate limiting to the API");
    await nc.flush();

    const jsm = await jetstreamManager(nc);
    const info = await jsm.consumers.info("AGENCY_BRIEFS", "briefs-planner");
    assert.equal(info.num_pending, 1);

    const status = await agency(server.url, "status", "--json");
    assert.equal(status.code, 0, status.stderr);
    const queues = JSON.parse(status.stdout).queues;
    const planner = queues.find((q) => q.consumer === "briefs-planner");
    assert.equal(planner.pending, 1);
  } finally {
    await nc.close();
    await server.stop();
  }
});

test("a JS client picks a brief's priority by subject; agency brief --priority uses the same queue", async () => {
  const server = await startServer();
  const nc = await connect({ servers: server.url });
  try {
    assert.equal((await agency(server.url, "init")).code, 0);
    nc.publish("agency.brief.builder.human", "Fix production now");
    nc.publish("agency.brief.builder.batch", "Tidy the docs");
    nc.publish("agency.brief.builder.urgent", "Not a priority");
    await nc.flush();
    const sent = await agency(server.url, "brief", "builder", "--priority", "batch", "--print-json", "Rename a flag");
    assert.equal(sent.code, 0, sent.stderr);
    assert.equal(JSON.parse(sent.stdout).subject, "agency.brief.builder.batch");

    const jsm = await jetstreamManager(nc);
    assert.equal((await jsm.consumers.info("AGENCY_BRIEFS", "briefs-builder@human")).num_pending, 1);
    assert.equal((await jsm.consumers.info("AGENCY_BRIEFS", "briefs-builder@batch")).num_pending, 2);
    assert.equal((await jsm.consumers.info("AGENCY_BRIEFS", "briefs-builder")).num_pending, 0);

    const status = await agency(server.url, "status", "--json");
    assert.equal(status.code, 0, status.stderr);
    const queues = JSON.parse(status.stdout).queues.filter((q) => q.role === "builder");
    const byPriority = Object.fromEntries(queues.map((q) => [q.priority, q.pending]));
    assert.deepEqual(byPriority, { human: 1, interactive: 0, scheduled: 0, batch: 2 });
    // A subject that names no priority is kept, and shown as in no queue.
    const unqueued = JSON.parse(status.stdout).unqueued;
    assert.equal(unqueued.length, 1);
    assert.equal(unqueued[0].subject, "agency.brief.builder.urgent");
    assert.equal(unqueued[0].messages, 1);
    assert.match(unqueued[0].why, /human, interactive or batch/);
  } finally {
    await nc.close();
    await server.stop();
  }
});

test("agency brief writes what a JS client can read: the brief with its headers and the task record", async () => {
  const server = await startServer();
  const nc = await connect({ servers: server.url });
  try {
    assert.equal((await agency(server.url, "init")).code, 0);
    const sent = await agency(server.url, "brief", "builder", "Fix the flaky test");
    assert.equal(sent.code, 0, sent.stderr);
    const taskId = sent.stdout.trim();
    assert.match(taskId, /^t-[0-9A-Z]{16}$/);

    // The brief, read with an independent JetStream consumer.
    const js = jetstream(nc);
    const consumer = await js.consumers.get("AGENCY_BRIEFS", "briefs-builder");
    const msg = await consumer.next({ expires: 5000 });
    assert.ok(msg, "the brief is in the stream");
    assert.equal(msg.headers.get("Agency-Type"), "agency.v1.Brief");
    assert.equal(msg.headers.get("Content-Type"), "application/protobuf");
    assert.equal(msg.headers.get("Nats-Msg-Id"), `${taskId}:ready-for-dev:1`);
    assert.ok(Buffer.from(msg.data).includes("Fix the flaky test"));
    msg.nak(); // leave it for an agent

    // The task record, read with the JS KV client.
    const kv = await new Kvm(nc).open("agency-tasks");
    const entry = await kv.get(taskId);
    assert.ok(entry && entry.value.length > 0, "the task record exists");
    assert.ok(Buffer.from(entry.value).includes("Fix the flaky test"));

    // And agency reads back what it wrote.
    const shown = await agency(server.url, "task", "show", taskId, "--json");
    assert.equal(shown.code, 0, shown.stderr);
    assert.equal(JSON.parse(shown.stdout).stage, "ready-for-dev");
  } finally {
    await nc.close();
    await server.stop();
  }
});

test("agency watch decodes what a JS client publishes into one line each", async () => {
  const server = await startServer();
  const nc = await connect({ servers: server.url });
  try {
    assert.equal((await agency(server.url, "init")).code, 0);
    const { spawn } = await import("node:child_process");
    const { binDir } = await import("./harness.js");
    const watch = spawn(`${binDir}/agency`, ["--nats", server.url, "watch", "agency.brief.>", "agency.control.>", "--count", "2", "--timeout", "20"]);
    let out = "";
    let err = "";
    watch.stdout.on("data", (d) => (out += d));
    watch.stderr.on("data", (d) => (err += d));
    const deadline = Date.now() + 10000;
    while (!err.includes("watching")) {
      if (Date.now() > deadline) throw new Error(`watch did not start: ${err}`);
      await new Promise((r) => setTimeout(r, 20)); // polling output, not standing in for sync
    }
    nc.publish("agency.brief.reviewer", JSON.stringify({ objective: "Check the spec", priority: "batch" }));
    nc.publish("agency.control.all", "pause");
    await nc.flush();
    const code = await new Promise((r) => watch.once("exit", r));
    assert.equal(code, 0, err);
    const lines = out.trim().split("\n");
    assert.equal(lines.length, 2);
    assert.match(lines[0], /agency\.brief\.reviewer .*Check the spec/);
    assert.match(lines[1], /agency\.control\.all .*pause/);
  } finally {
    await nc.close();
    await server.stop();
  }
});
