// The web console in a real browser: `agency console` against a real NATS
// server and the four pipeline agents (scripted engine), driven with
// playwright-core in Debian's chromium. A person sends briefs from the
// page, watches cards move without reloading, unblocks a task from its
// page; what the bus carries is shown as text, and a POST without the CSRF
// token is refused.
//   cd tests/e2e && AGENCY_BIN_DIR=../../build/release/bin node --test console.test.js
// AGENCY_UPDATE_DOC_SCREENSHOTS=1 also copies the screenshots to docs/.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import {
  agency, binDir, freePort, pipelineFixture, startPipelineAgents, startProcess, startServer,
} from "./harness.js";

// The builder fails (a non-zero `run`) on a task whose objective asks for a
// hand, on its first entry to ready-for-dev: with max_deliver 2 the task is
// blocked; unblocked, it enters ready-for-dev again and takes the second
// step. Each step takes 300 ms, so a card stays in a column long enough to
// be seen there.
const SCENARIO = `planner:
  - spec: "Add GREETING.md that says hello from {task_id}"
    sleep_ms: 300
builder:
  - write: {path: GREETING.md, content: "hello from {task_id}\\n"}
    run: "case '{objective}' in *needs-a-hand*) echo 'failing on purpose'; exit 1;; esac"
    summary: "added GREETING.md"
    sleep_ms: 300
  - write: {path: GREETING.md, content: "hello again from {task_id}\\n"}
    summary: "rewrote GREETING.md after the note"
    sleep_ms: 300
adversary:
  - verdict: pass
    sleep_ms: 300
reviewer:
  - verdict: pass
    sleep_ms: 300
`;

const WAIT = 60000;
const artifacts = join(binDir, "..", "console-artifacts");
const docs = new URL("../../docs/", import.meta.url).pathname;

describe("agency console in a browser", () => {
  let server, fixture, agents = [], consoleProc, browser, page, base;
  const dialogs = [];
  const pageErrors = [];

  before(async () => {
    server = await startServer();
    // A plan gives the usage page limits to draw against; leases stay off,
    // since no accountant runs.
    fixture = await pipelineFixture(SCENARIO, { extra: "accountant:\n  enabled: false\n  plan: max5\n" });
    const init = await agency(server.url, "--config", fixture.config, "init");
    assert.equal(init.code, 0, init.stderr);
    agents = startPipelineAgents(server.url, fixture.config);
    await Promise.all(agents.map((a) => a.started));
    const port = await freePort();
    consoleProc = startProcess("agency", ["console", "--port", String(port), "--nats", server.url], {
      env: { AGENCY_CONFIG: fixture.config },
      ready: /console (http:\/\/127\.0\.0\.1:\d+\/)/,
    });
    base = (await consoleProc.started)[1];
    browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
    page = await browser.newPage({ viewport: { width: 1800, height: 900 } });
    page.setDefaultTimeout(WAIT);
    page.on("dialog", (d) => {
      dialogs.push(d.message());
      d.dismiss().catch(() => {});
    });
    page.on("pageerror", (e) => pageErrors.push(e.message));
    await page.goto(base);
    await page.waitForSelector("section.column[data-stage=done]");
    await page.waitForSelector("#live.on");
    // Gone after a reload: proves the board changed in place.
    await page.evaluate(() => { window.sameDocument = true; });
  });

  after(async () => {
    await browser?.close();
    await consoleProc?.stop();
    for (const a of agents) await a.stop();
    await server?.stop();
    if (fixture) rmSync(fixture.dir, { recursive: true, force: true });
  });

  // Sends a brief from the form; resolves the task id the page shows.
  async function sendBrief(objective, doneWhen = "") {
    await page.click("nav a[data-view=brief]");
    await page.fill("#brief-role", "planner");
    await page.fill("#brief-objective", objective);
    await page.fill("#brief-done-when", doneWhen);
    await page.click("#brief-send");
    const link = await page.waitForSelector("#brief-result a");
    const id = (await link.textContent()).trim();
    assert.match(id, /^t-[0-9A-Z]{16}$/);
    assert.equal(await link.getAttribute("href"), `#/task/${id}`);
    return id;
  }

  const card = (id, stage) => `section.column[data-stage=${stage}] article.card[data-task-id="${id}"][data-stage=${stage}]`;

  it("a brief sent from the form moves through the columns to done without a reload", async () => {
    const id = await sendBrief("Add a greeting", "GREETING.md exists");
    await page.click("nav a[data-view=board]");
    await page.waitForSelector(card(id, "done"), { timeout: WAIT });
    assert.equal(await page.evaluate(() => window.sameDocument), true, "the page was reloaded");
    const seen = await page.evaluate((t) => window.agencyLatency.filter((x) => x.taskId === t).map((x) => x.stage), id);
    assert.equal(seen.at(-1), "done");
    assert.ok(seen.some((s) => s !== "done"), `the card was only ever seen at done: ${seen}`);
    const text = await page.textContent(card(id, "done"));
    for (const part of ["Add a greeting", id, "demo", "scheduled"]) assert.ok(text.includes(part), `${part} in ${text}`);

    // Its page: the card opens it.
    await page.click(`${card(id, "done")} .meta`);
    await page.waitForFunction((t) => location.hash === `#/task/${t}`, id);
    await page.waitForSelector("#task-stage:text('done')");
    const body = await page.textContent("#task-page");
    assert.ok(body.includes(`Add GREETING.md that says hello from ${id}`), "the spec");
    assert.ok(body.includes("GREETING.md exists"), "done when");
    assert.ok(body.includes(`agency/${id}`), "the branch");
    assert.ok(await page.$("#task-page h4[data-attachment=tests]"), "the tests attachment");
    const history = await page.$$eval("#task-page table", (ts) => ts.map((t) => t.textContent));
    assert.ok(history.some((t) => t.includes("review") && t.includes("done")), "history and audit trail");
    assert.ok(await page.$("#action-add-comment"), "a done task can be commented");
    assert.equal(await page.$("#action-unblock"), null, "a done task is not blocked");
    // What the server refuses is shown in its words (the page's own act(),
    // as a button offered before the task moved on would call it).
    await page.evaluate((t) => act(t, "unblock", { note: "too late" }), id);
    assert.notEqual((await page.textContent("#action-error")).trim(), "", "the refusal is shown");
  });

  it("the fleet view lists the four agents from their heartbeats", async () => {
    await page.click("nav a[data-view=fleet]");
    for (const a of ["planner-1", "builder-1", "adversary-1", "reviewer-1"]) {
      await page.waitForSelector(`#fleet-rows tr[data-agent-id=${a}]`);
    }
    const row = await page.textContent("#fleet-rows tr[data-agent-id=builder-1]");
    assert.ok(row.includes("builder") && row.includes("scripted"), row);
  });

  it("a task blocked by its builder is unblocked from its page and reaches done", async () => {
    const id = await sendBrief("Add a greeting; needs-a-hand");
    await page.click("nav a[data-view=board]");
    await page.waitForSelector(card(id, "blocked"), { timeout: WAIT });
    assert.match(await page.textContent(`${card(id, "blocked")} .reason`), /failing on purpose/);

    // Its dead letter is on the events page, and the filter finds it.
    await page.click("nav a[data-view=events]");
    const deadRow = `#dead-rows tr:has-text("${id}")`;
    await page.waitForSelector(deadRow);
    await page.fill("#events-filter", id);
    assert.equal(await page.isVisible(deadRow), true);
    await page.fill("#events-filter", "no-row-has-this-text");
    await page.waitForSelector(deadRow, { state: "hidden" });
    await page.fill("#events-filter", "");

    await page.click("nav a[data-view=board]");
    await page.click(`${card(id, "blocked")} .meta`);
    await page.waitForSelector("#action-unblock");
    await page.fill("#action-note", "Try the second step");
    await page.click("#action-unblock");
    await page.waitForSelector("#task-stage:text('done')", { timeout: WAIT });
    assert.equal(await page.textContent("#action-error"), "");
    assert.ok(await page.$("#task-page h4[data-attachment=note]"), "the note is kept");
    assert.ok((await page.textContent("#task-page")).includes("Try the second step"));

    // A comment, sent with the CSRF token, reaches the record.
    await page.fill("#action-comment", "Looks good from here");
    await page.click("#action-add-comment");
    await page.waitForSelector("#task-page h4[data-attachment=comments]");
    assert.equal(await page.textContent("#action-error"), "");

    await page.click("nav a[data-view=board]");
    await page.waitForSelector(card(id, "done"));
  });

  it("an objective of <script> is shown as text and runs nothing", async () => {
    const objective = "<script>alert(1)</script>";
    const id = await sendBrief(objective);
    await page.click("nav a[data-view=board]");
    await page.waitForSelector(card(id, "done"), { timeout: WAIT });
    assert.ok((await page.textContent(card(id, "done"))).includes(objective));
    assert.equal(await page.$$eval("#board script", (s) => s.length), 0);
    await page.click(`${card(id, "done")} .meta`);
    await page.waitForSelector("#task-stage:text('done')");
    assert.equal(await page.textContent("#task-page h2"), objective);
    assert.deepEqual(dialogs, [], "a dialog opened");
  });

  it("a POST without the CSRF token is refused with 403", async () => {
    // The page's own cookies, without the header.
    const brief = { role: "planner", objective: "Sneaked in" };
    let r = await page.request.post(`${base}api/brief`, { data: brief });
    assert.equal(r.status(), 403);
    assert.ok((await r.json()).error, "an error in words");
    r = await page.request.post(`${base}api/brief`, { data: brief, headers: { "X-Agency-CSRF": "not-the-token" } });
    assert.equal(r.status(), 403);
    // Neither cookie nor header, from outside the browser.
    const res = await fetch(`${base}api/brief`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(brief),
    });
    assert.equal(res.status, 403);
    assert.ok((await res.json()).error);
  });

  it("the board and usage pages render; screenshots are kept", async () => {
    mkdirSync(artifacts, { recursive: true });
    // Something in more than one column: a task that will block, one that will not.
    const blocked = await sendBrief("Add a farewell; needs-a-hand");
    await sendBrief("Add a farewell");
    await page.click("nav a[data-view=board]");
    await page.waitForSelector(card(blocked, "blocked"), { timeout: WAIT });
    await page.mouse.move(0, 890);
    await page.evaluate(() => { document.querySelector("#board").scrollLeft = 0; window.scrollTo(0, 0); });
    await page.screenshot({ path: join(artifacts, "board.png") });
    await page.click("nav a[data-view=usage]");
    await page.waitForSelector("#usage-tables h3");
    await page.waitForFunction(() => {
      const img = document.querySelector("#usage-chart");
      return img.complete && img.naturalWidth > 0;
    });
    await page.screenshot({ path: join(artifacts, "usage.png"), fullPage: true });
    if (process.env.AGENCY_UPDATE_DOC_SCREENSHOTS === "1") {
      copyFileSync(join(artifacts, "board.png"), join(docs, "console-board.png"));
      copyFileSync(join(artifacts, "usage.png"), join(docs, "console-usage.png"));
    }
    assert.deepEqual(pageErrors, [], "errors in the page");
    assert.deepEqual(dialogs, []);
  });
});
