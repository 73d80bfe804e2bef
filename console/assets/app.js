// The agency console's page (console/README.md has the HTTP and event
// contract). No library and no build step. Every value from the server is
// put in the page as text (textContent, text nodes, setAttribute), never as
// HTML, so a task titled <script>... shows as those characters.
//
// The board is built once from GET /api/tasks and then kept current by the
// event stream, one card at a time, whichever view is shown; the other views
// are filled when shown and kept current while they are.
"use strict";

const PRIORITIES = ["human", "interactive", "scheduled", "batch"];
const MAX_EVENT_ROWS = 500;
const USAGE_MIN_GAP_MS = 5000;

const state = {
  session: { csrf: "", readOnly: true },
  tasks: new Map(),         // id -> Task
  cards: new Map(),         // id -> <article>
  columnEls: new Map(),     // stage -> {list, count, n}
  agents: new Map(),        // agentId -> {status, row}
  view: "",
  taskId: "",               // the task page's task
  taskPage: null,           // its last GET /api/task answer
  usageShownAt: 0,          // when the chart was last fetched
  usageTimer: 0,
  usageStale: true,
  events: "unloaded",       // the decisions and dead letters: unloaded, loading, loaded
  eventQueue: [],           // what the stream sent while they load
  // Stream events that came before the first lists: applied after them.
  boardReady: false,
  fleetReady: false,
  early: [],
};

// For the latency benchmark (bench/console_bench.js): each card moved by a
// task event, with the event's time and when the page showed it.
window.agencyLatency = [];

// ------------------------------------------------------------------ helpers

const $ = (sel) => document.querySelector(sel);

// el("a", {href: "#/x", class: "id"}, "text", child...): attributes by
// setAttribute, strings as text nodes.
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function clear(node) {
  node.replaceChildren();
  return node;
}

const taskHref = (id) => "#/task/" + encodeURIComponent(id);
const taskLink = (id) => el("a", { href: taskHref(id), class: "id" }, id);

function fmtTime(at) {
  if (!at) return "";
  const d = new Date(at);
  if (Number.isNaN(d.getTime())) return String(at);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function fmtNum(v) {
  const n = Number(v || 0);
  return Number.isFinite(n) ? n.toLocaleString("en-US") : String(v);
}

const fmtPct = (v) => (Number(v || 0)).toFixed(1) + "%";
const fmtUsd = (v) => "$" + Number(v || 0).toFixed(2);
const priorityOf = (task) => (task.brief && task.brief.priority) || "scheduled";

async function api(path, options = {}) {
  const res = await fetch(path, { credentials: "same-origin", ...options });
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new Error(body && body.error ? body.error : `${res.status} ${res.statusText}`);
  return body;
}

// Resolved once GET /api/session answered (the CSRF token, read-only).
let sessionReady = Promise.resolve();

async function post(path, body) {
  await sessionReady;
  return api(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Agency-CSRF": state.session.csrf },
    body: JSON.stringify(body),
  });
}

function showLoadError(what, err) {
  $("#load-error").textContent = `${what}: ${err.message}`;
  $("#load-error").hidden = false;
}

// A table row of text cells (Nodes are kept as they are).
function row(cells, attrs) {
  return el("tr", attrs, ...cells.map((c) => el("td", null, c)));
}

function table(headers, rows, cls = "grid") {
  return el("table", { class: cls },
    el("thead", null, el("tr", null, ...headers.map((h) => el("th", null, h)))),
    el("tbody", null, ...rows));
}

// ------------------------------------------------------------------ board

function columnFor(stage) {
  let col = state.columnEls.get(stage);
  if (!col) {
    // A stage the server did not list (a pipeline of one's own): a column at the end.
    const count = el("span", { class: "count" }, "0");
    const list = el("div", { class: "cards" });
    $("#board").append(el("section", { class: "column", "data-stage": stage }, el("h2", null, stage, " ", count), list));
    col = { list, count, n: 0 };
    state.columnEls.set(stage, col);
  }
  return col;
}

function bumpCount(col, by) {
  col.n += by;
  col.count.textContent = String(col.n);
}

// The fixed part of every card, cloned, its texts set in place: far cheaper
// than building each element of 1,000 cards one by one.
const blank = () => document.createTextNode("");
const CARD = el("article", { class: "card", tabindex: "0" }, el("h3", { class: "title" }, blank()),
  el("div", { class: "meta" }, el("span", { class: "id" }, blank()), el("span", { class: "project" }, blank()),
    el("span", { class: "priority" }, blank()), el("span", { class: "bounces", title: "times sent back" }, blank())));

// The card's inside, from the record (and its children's records). `fresh`:
// the card was just cloned from CARD.
function fillCard(card, task, fresh = false) {
  if (!fresh) card.replaceChildren(...CARD.cloneNode(true).childNodes);
  card.setAttribute("data-stage", task.stage || "");
  const title = card.firstChild;
  const [id, project, priority, bounces] = title.nextSibling.children;
  title.firstChild.data = task.title || "(untitled)";
  id.firstChild.data = task.id;
  project.firstChild.data = task.project || "-";
  priority.firstChild.data = priorityOf(task);
  priority.className = `priority p-${priorityOf(task)}`;
  bounces.firstChild.data = `bounces ${task.bounces || 0}`;
  if (task.bounces) bounces.className = "bounces some";
  if ((task.stage === "blocked" || task.stage === "cancelled") && task.blockedReason) {
    card.append(el("p", { class: "reason" }, task.blockedReason));
  }
  if (task.parent) card.append(el("p", { class: "parent" }, "part of ", task.parent));
  if (task.children && task.children.length) {
    const list = el("ul", { class: "children" });
    for (const childId of task.children) {
      const child = state.tasks.get(childId);
      list.append(el("li", { "data-child-id": childId },
        el("span", { class: "id" }, childId), " ", el("span", { class: "stage" }, child ? child.stage : "?")));
    }
    card.append(list);
  }
}

function makeCard(task) {
  const card = CARD.cloneNode(true);
  card.setAttribute("data-task-id", task.id);
  fillCard(card, task, true);
  state.cards.set(task.id, card);
  return card;
}

const updatedMs = (t) => Date.parse(t.updatedAt || t.createdAt || "") || 0;

// First render: every column, then each column's cards in one fragment.
function renderBoard(columns, tasks) {
  clear($("#board"));
  state.columnEls.clear();
  state.cards.clear();
  state.tasks.clear();
  for (const stage of columns) columnFor(stage);
  for (const t of tasks) state.tasks.set(t.id, t); // before the cards: an epic shows its children
  const frags = new Map();
  for (const t of [...tasks].sort((a, b) => updatedMs(b) - updatedMs(a))) {
    const col = columnFor(t.stage);
    if (!frags.has(col)) frags.set(col, document.createDocumentFragment());
    frags.get(col).append(makeCard(t));
    col.n++;
  }
  for (const [col, frag] of frags) {
    col.list.append(frag);
    bumpCount(col, 0);
  }
  refreshProjects();
}

// A record from the stream or a resync. Returns true when its card moved.
function upsertTask(task) {
  if (!task || !task.id) return false;
  const old = state.tasks.get(task.id);
  if (old && updatedMs(task) < updatedMs(old)) return false; // an older record arrived late
  state.tasks.set(task.id, task);
  const card = state.cards.get(task.id);
  const moved = !card || old.stage !== task.stage;
  if (card) fillCard(card, task);
  if (moved) {
    if (card) bumpCount(columnFor(old.stage), -1);
    const col = columnFor(task.stage);
    col.list.prepend(card || makeCard(task)); // the newest change on top
    bumpCount(col, 1);
  }
  // An epic's card shows its children's stages.
  if (task.parent && state.tasks.has(task.parent) && state.cards.has(task.parent)) {
    fillCard(state.cards.get(task.parent), state.tasks.get(task.parent));
  }
  return moved;
}

function removeTask(id) {
  const card = state.cards.get(id);
  if (card) card.remove();
  if (card && state.tasks.has(id)) bumpCount(columnFor(state.tasks.get(id).stage), -1);
  state.cards.delete(id);
  state.tasks.delete(id);
}

// A click on a card, or Enter on one, opens its page.
function openCard(ev) {
  if (ev.type === "keydown" && ev.key !== "Enter") return;
  const card = ev.target.closest("article.card");
  if (card) location.hash = taskHref(card.getAttribute("data-task-id"));
}

function refreshProjects() {
  const names = new Set([...state.tasks.values()].map((t) => t.project).filter(Boolean));
  clear($("#brief-projects")).append(...[...names].sort().map((n) => el("option", { value: n })));
}

async function loadBoard(answer = api("/api/tasks")) {
  const { tasks = [], columns = [] } = await answer;
  renderBoard(columns, tasks);
  if (window.agencyBoardRenderedAt === undefined) window.agencyBoardRenderedAt = performance.now();
  state.boardReady = true;
  replayEarly();
}

// After a reconnect: events may have been missed, so compare with the
// server's list and touch only what differs.
async function resyncBoard() {
  const { tasks = [] } = await api("/api/tasks");
  const seen = new Set();
  for (const t of tasks) {
    seen.add(t.id);
    const old = state.tasks.get(t.id);
    if (!old || old.updatedAt !== t.updatedAt || old.stage !== t.stage) upsertTask(t);
  }
  for (const id of [...state.tasks.keys()]) if (!seen.has(id)) removeTask(id);
}

// ------------------------------------------------------------------ fleet

const fleetCells = (s) => [s.agentId, s.role || "", el("span", { class: `state s-${s.state || "unknown"}` }, s.state || ""),
  s.taskId ? taskLink(s.taskId) : "", s.lastProgress || "", s.engine || "", fmtNum(s.windowTokens), fmtTime(s.heartbeatAt)];

function upsertAgent(status) {
  if (!status || !status.agentId) return;
  const known = state.agents.get(status.agentId);
  if (status.gone) {
    if (known) known.row.remove();
    state.agents.delete(status.agentId);
  } else {
    const fresh = row(fleetCells(status), { "data-agent-id": status.agentId });
    if (known) known.row.replaceWith(fresh);
    else insertAgentRow(status.agentId, fresh);
    state.agents.set(status.agentId, { status, row: fresh });
  }
  $("#fleet-empty").hidden = state.agents.size > 0;
}

// Rows stay sorted by agent id.
function insertAgentRow(id, tr) {
  const body = $("#fleet-rows");
  body.insertBefore(tr, [...body.children].find((r) => r.getAttribute("data-agent-id") > id) || null);
}

async function loadFleet(answer = api("/api/fleet")) {
  const { agents = [] } = await answer;
  clear($("#fleet-rows"));
  state.agents.clear();
  for (const a of agents) upsertAgent(a);
  $("#fleet-empty").hidden = state.agents.size > 0;
  state.fleetReady = true;
  replayEarly();
}

// ------------------------------------------------------------------ task page

const pre = (text) => el("pre", { class: "text" }, text);

function field(label, value) {
  if (value === undefined || value === null || value === "") return null;
  return el("div", { class: "field" }, el("dt", null, label), el("dd", null, value));
}

function renderTaskPage(data) {
  const page = $("#task-page");
  // What the person was typing survives a redraw.
  const kept = {};
  for (const input of page.querySelectorAll("input[id^=action-], textarea[id^=action-], select[id^=action-]")) {
    kept[input.id] = input.value;
  }
  const focused = document.activeElement ? document.activeElement.id : "";
  clear(page);
  const t = data.task || {};
  page.append(el("h2", null, t.title || "(untitled)"));
  page.append(el("p", { class: "task-head" },
    el("span", { class: "id" }, t.id), " ",
    el("span", { class: `stage-badge st-${t.stage}`, id: "task-stage" }, t.stage)));

  const dl = el("dl", { class: "fields" });
  const c = data.commit;
  for (const f of [
    field("project", t.project),
    field("priority", priorityOf(t)),
    field("bounces", String(t.bounces || 0)),
    field("tokens used", fmtNum(t.tokensUsed)),
    field("branch", t.branch),
    field("last commit", c ? `${(c.sha || "").slice(0, 12)} ${c.subject || ""} (${c.author || ""}, ${fmtTime(c.date)})` : null),
    field("epic", t.parent ? taskLink(t.parent) : null),
    field("after", t.dependsOn && t.dependsOn.length ? el("span", null, ...t.dependsOn.flatMap((d) => [taskLink(d), " "])) : null),
    field("created", fmtTime(t.createdAt)),
    field("updated", fmtTime(t.updatedAt)),
  ]) if (f) dl.append(f);
  page.append(dl);
  if (t.blockedReason) page.append(el("p", { class: "reason" }, `${t.stage}: ${t.blockedReason}`));

  if (state.session.readOnly) {
    page.append(el("p", { class: "readonly-line" }, "The console is read-only: no action can be taken from here."));
  } else if ((data.actions || []).length) {
    page.append(renderActions(data));
  }

  const b = t.brief || {};
  page.append(el("h3", null, "Objective"), pre(b.objective || ""));
  if (b.doneWhen) page.append(el("h3", null, "Done when"), pre(b.doneWhen));
  page.append(el("h3", null, "Spec"), t.spec ? pre(t.spec) : el("p", { class: "muted" }, "No spec yet."));

  const attachments = t.attachments || {};
  const order = ["findings", "tests", "review", "note", "comments"];
  const keys = [...order.filter((k) => k in attachments), ...Object.keys(attachments).filter((k) => !order.includes(k)).sort()];
  if (keys.length) {
    page.append(el("h3", null, "Attachments"));
    for (const k of keys) page.append(el("h4", { "data-attachment": k }, k), pre(attachments[k]));
  }

  const subtasks = data.subtasks || [];
  if (subtasks.length) {
    page.append(el("h3", null, "Sub-tasks"),
      table(["task", "title", "stage"], subtasks.map((s) => row([taskLink(s.id), s.title || "", s.stage || ""]))));
  }

  page.append(el("h3", null, "History"),
    table(["at", "from", "to", "actor", "reason"], (t.history || []).map((h) =>
      row([fmtTime(h.at), h.from || "", h.to || "", h.actor || "", h.reason || ""]))));

  page.append(el("h3", null, "Audit trail"),
    table(["at", "kind", "from", "to", "actor", "reason"], (data.events || []).map((e) =>
      row([fmtTime(e.at), e.kind || "", e.fromStage || "", e.toStage || "", e.actor || "", e.reason || ""]))));

  for (const [id, v] of Object.entries(kept)) {
    const input = document.getElementById(id);
    if (!input || (input.tagName === "SELECT" && ![...input.options].some((o) => o.value === v))) continue;
    input.value = v;
  }
  if (focused) document.getElementById(focused)?.focus();
}

// The buttons for what `actions` allows.
function renderActions(data) {
  const t = data.task;
  const can = new Set(data.actions || []);
  const box = el("div", { class: "actions", id: "actions" });
  const value = (id) => document.getElementById(id).value;
  const line = (...children) => box.append(el("div", { class: "action-line" }, ...children));
  const button = (id, action, label, body) => {
    const b = el("button", { id, type: "button", "data-action": action }, label);
    b.addEventListener("click", () => act(t.id, action, body()));
    return b;
  };
  const input = (label, id, hint) => el("label", null, label, " ", el("input", { id, placeholder: hint }));

  if (can.has("cancel") || can.has("move")) line(input("Reason", "action-reason", "why (for cancel or move)"));
  if (can.has("cancel")) line(button("action-cancel", "cancel", "Cancel task", () => ({ reason: value("action-reason") })));
  if (can.has("move")) {
    line(el("label", null, "Move to ", el("select", { id: "action-stage" }, ...(data.moves || []).map((m) => el("option", { value: m }, m)))),
      button("action-move", "move", "Move", () => ({ stage: value("action-stage"), reason: value("action-reason") })));
  }
  if (can.has("retry")) line(button("action-retry", "retry", "Retry", () => ({})));
  if (can.has("unblock")) {
    line(input("Note", "action-note", "what the next agent should know"),
      button("action-unblock", "unblock", "Unblock", () => ({ note: value("action-note") })));
  }
  if (can.has("priority")) {
    line(el("label", null, "Priority ", el("select", { id: "action-priority" },
      ...PRIORITIES.map((p) => el("option", { value: p, selected: p === priorityOf(t) }, p)))),
    button("action-set-priority", "priority", "Set priority", () => ({ priority: value("action-priority") })));
  }
  if (can.has("comment")) {
    line(el("label", { class: "wide" }, "Comment ", el("textarea", { id: "action-comment", rows: "3" })),
      button("action-add-comment", "comment", "Comment", () => ({ text: value("action-comment") })));
  }
  box.append(el("p", { id: "action-error", class: "error", role: "alert" }), el("p", { id: "action-result", class: "ok" }));
  return box;
}

// POSTs an action; the page is drawn again from the server's record, and
// the server's words for a refusal are shown in #action-error.
async function act(id, action, body) {
  $("#action-error").textContent = "";
  $("#action-result").textContent = "";
  for (const b of document.querySelectorAll("#actions button")) b.disabled = true;
  try {
    const r = await post(`/api/task/${encodeURIComponent(id)}/${action}`, body);
    for (const input of document.querySelectorAll("#action-note, #action-reason, #action-comment")) input.value = "";
    if (r && r.record) upsertTask(r.record);
    await loadTaskPage(id);
    const done = $("#action-result");
    if (done) done.textContent = r && r.from && r.from !== r.to ? `${action}: ${r.from} → ${r.to}` : `${action}: done`;
  } catch (err) {
    const shown = $("#action-error");
    if (shown) shown.textContent = err.message;
  } finally {
    for (const b of document.querySelectorAll("#actions button")) b.disabled = false;
  }
}

// Only the newest of overlapping loads is drawn, and only while its task is shown.
let taskLoads = 0;
async function loadTaskPage(id) {
  const load = ++taskLoads;
  try {
    const [data] = await Promise.all([api(`/api/task/${encodeURIComponent(id)}`), sessionReady]);
    if (load !== taskLoads || state.taskId !== id) return;
    state.taskPage = data;
    renderTaskPage(data);
  } catch (err) {
    if (load !== taskLoads || state.taskId !== id) return;
    clear($("#task-page")).append(el("h2", null, id), el("p", { class: "error" }, err.message));
  }
}

// Several events of one task in a burst make one fetch.
let taskReload = 0;
function taskChanged(id) {
  if (state.view !== "task" || state.taskId !== id) return;
  clearTimeout(taskReload);
  taskReload = setTimeout(() => loadTaskPage(id), 100);
}

// ------------------------------------------------------------------ usage

function usageTables(report) {
  const box = clear($("#usage-tables"));
  if (!report) return;
  const windows = report.windows || [];
  box.append(el("h3", null, "Windows"));
  if (!windows.length) {
    box.append(el("p", { class: "muted" }, "No window has a limit or any use yet."));
  } else {
    box.append(table(
      ["account", "window", "limit", "human", "agents", "used", "pace", "projected", "resets", "unused", "limit from"],
      windows.map((w) => row([w.account, w.window, w.limit > 0 ? fmtNum(w.limit) : "-", fmtNum(w.human),
        fmtNum(w.agents), w.limit > 0 ? fmtPct(w.utilization) : "-", w.open ? fmtPct(w.pace) : "-",
        w.limit_at ? `limit at ${fmtTime(w.limit_at)}` : fmtNum(w.projected),
        w.open ? fmtTime(w.resets_at) : "no block", w.limit > 0 ? fmtNum(w.unused) : "-", w.limit_source || ""]))));
  }
  const spend = (title, key, rows, link) => {
    box.append(el("h3", null, title));
    if (!rows.length) return box.append(el("p", { class: "muted" }, "Nothing spent."));
    box.append(table([key, "counted", "input", "output", "cache write", "cache read", "calls", "cost"],
      rows.map((r) => {
        const tk = r.tokens || {};
        return row([link ? taskLink(r[key]) : r[key], fmtNum(tk.counted), fmtNum(tk.input), fmtNum(tk.output),
          fmtNum(tk.cache_creation), fmtNum(tk.cache_read), fmtNum(r.calls), fmtUsd(r.cost_usd)]);
      })));
  };
  spend(`Spend per role, last ${report.days || 7} days`, "role", report.roles || [], false);
  spend("Top tasks", "task", (report.tasks || []).slice(0, 10), true);
  box.append(el("h3", null, "Days"));
  box.append(table(["date", "human", "agents", "total", "cost"], (report.day_totals || []).map((d) =>
    row([d.date, fmtNum((d.human || {}).counted), fmtNum((d.agents || {}).counted), fmtNum((d.total || {}).counted), fmtUsd(d.cost_usd)]))));
  if (report.refused && report.refused.count) {
    box.append(el("p", { class: "muted" }, `${report.refused.count} usage messages were refused.`));
  }
  if (report.now) box.append(el("p", { class: "muted" }, `as of ${fmtTime(report.now)}`));
}

async function loadUsage() {
  state.usageStale = false;
  state.usageShownAt = Date.now();
  $("#usage-chart").setAttribute("src", `/api/usage.svg?days=7&t=${Date.now()}`);
  try {
    const { report } = await api("/api/usage");
    usageTables(report);
  } catch (err) {
    clear($("#usage-tables")).append(el("p", { class: "error" }, err.message));
  }
}

// A `usage` event: fetch again, at most every 5 s, and only while shown.
function usageChanged() {
  state.usageStale = true;
  if (state.view !== "usage" || state.usageTimer) return;
  const wait = Math.max(0, state.usageShownAt + USAGE_MIN_GAP_MS - Date.now());
  state.usageTimer = setTimeout(() => {
    state.usageTimer = 0;
    if (state.view === "usage" && state.usageStale) loadUsage();
  }, wait);
}

// ------------------------------------------------------------------ events

function decisionRow(d) {
  return row([fmtTime(d.at), d.kind || "", d.actor || "", d.agentId || "", d.taskId ? taskLink(d.taskId) : "", d.reason || ""]);
}

function deadRow(d) {
  return row([fmtTime(d.at), d.role || "", d.agentId || "", d.originalSubject || "",
    d.taskId ? taskLink(d.taskId) : "", d.deliveries || "", d.reason || ""]);
}

function filterRow(tr) {
  const q = $("#events-filter").value.trim().toLowerCase();
  tr.hidden = q !== "" && !tr.textContent.toLowerCase().includes(q);
}

const EVENT_TABLES = { decision: ["#decision-rows", decisionRow], dead: ["#dead-rows", deadRow] };

function addEventRow(kind, d, atTop) {
  const [body, makeRow] = EVENT_TABLES[kind];
  const tr = makeRow(d);
  filterRow(tr);
  $(body)[atTop ? "prepend" : "append"](tr);
  while ($(body).children.length > MAX_EVENT_ROWS) $(body).lastElementChild.remove();
}

// A decision or dead letter from the stream: on top, once the lists are
// loaded; while they load it waits, and is dropped if the lists have it.
function onEventRow(kind, d) {
  if (!d || state.events === "unloaded") return; // the lists, when first shown, will have it
  if (state.events === "loading") return void state.eventQueue.push([kind, d]);
  addEventRow(kind, d, true);
}

async function loadEvents() {
  state.events = "loading";
  try {
    const [decisions, dead] = await Promise.all([api("/api/decisions?limit=200"), api("/api/dead?limit=200")]);
    const listed = new Set();
    for (const [kind, list] of [["decision", decisions.decisions || []], ["dead", dead.dead || []]]) {
      clear($(EVENT_TABLES[kind][0]));
      for (const d of list) {
        listed.add(kind + JSON.stringify(d));
        addEventRow(kind, d, false);
      }
    }
    state.events = "loaded";
    for (const [kind, d] of state.eventQueue.splice(0)) {
      if (!listed.has(kind + JSON.stringify(d))) addEventRow(kind, d, true);
    }
  } catch (err) {
    state.events = "unloaded";
    state.eventQueue = [];
    throw err;
  }
}

function applyEventsFilter() {
  for (const tr of document.querySelectorAll("#decision-rows tr, #dead-rows tr")) filterRow(tr);
}

// ------------------------------------------------------------------ brief

async function sendBrief(ev) {
  ev.preventDefault();
  const result = clear($("#brief-result"));
  const objective = $("#brief-objective").value;
  result.className = objective.trim() ? "" : "error";
  if (!objective.trim()) return void (result.textContent = "The objective is required.");
  const send = $("#brief-send");
  send.disabled = true;
  try {
    const r = await post("/api/brief", {
      role: $("#brief-role").value.trim(),
      project: $("#brief-project").value.trim(),
      priority: $("#brief-priority").value,
      objective,
      doneWhen: $("#brief-done-when").value,
    });
    result.className = "ok";
    result.append("Sent to ", r.subject || r.role || "", ": task ", taskLink(r.taskId));
    $("#brief-objective").value = "";
    $("#brief-done-when").value = "";
  } catch (err) {
    result.className = "error";
    result.textContent = err.message;
  } finally {
    send.disabled = false;
  }
}

// ------------------------------------------------------------------ stream

let streamWasDown = false;

function setLive(on) {
  $("#live").textContent = on ? "live" : "reconnecting";
  $("#live").className = on ? "live on" : "live off";
}

function parse(ev) {
  try {
    return JSON.parse(ev.data);
  } catch {
    return null; // not ours to show
  }
}

function connectStream() {
  const stream = new EventSource("/api/stream");
  stream.onopen = () => {
    setLive(true);
    if (streamWasDown) {
      streamWasDown = false;
      resync();
    }
  };
  stream.onerror = () => {
    setLive(false);
    streamWasDown = true;
  };
  stream.addEventListener("task", (ev) => onTaskEvent(parse(ev)));
  stream.addEventListener("fleet", (ev) => onFleetEvent(parse(ev)));
  stream.addEventListener("decision", (ev) => onEventRow("decision", parse(ev)));
  stream.addEventListener("dead", (ev) => onEventRow("dead", parse(ev)));
  stream.addEventListener("usage", usageChanged);
}

function onTaskEvent(data) {
  if (!data || !data.task) return;
  if (!state.boardReady) return void state.early.push(() => onTaskEvent(data));
  const id = data.task.id;
  const moved = upsertTask(data.task);
  if (moved && data.event) {
    const latency = window.agencyLatency;
    latency.push({ taskId: id, stage: data.task.stage, eventAt: Date.parse(data.event.at), shownAt: Date.now() });
    if (latency.length > 10000) latency.splice(0, latency.length - 10000); // a page left open for weeks
  }
  taskChanged(id);
  // A sub-task's change shows on its epic's page too.
  if (state.view === "task" && state.taskPage && (state.taskPage.subtasks || []).some((s) => s.id === id)) {
    taskChanged(state.taskId);
  }
}

function onFleetEvent(status) {
  if (!state.fleetReady) return void state.early.push(() => onFleetEvent(status));
  upsertAgent(status);
}

function replayEarly() {
  const early = state.early;
  state.early = [];
  for (const f of early) f();
}

async function resync() {
  try {
    await Promise.all([state.boardReady ? resyncBoard() : loadBoard(), loadFleet()]);
    if (state.view === "task") loadTaskPage(state.taskId);
    if (state.events === "loaded") await loadEvents();
  } catch (err) {
    showLoadError("resync", err);
  }
}

// ------------------------------------------------------------------ views

function route() {
  const hash = location.hash || "#/board";
  const m = /^#\/([a-z]+)(?:\/(.*))?$/.exec(hash);
  let view = m ? m[1] : "board";
  if (!["board", "fleet", "task", "usage", "events", "brief"].includes(view)) view = "board";
  state.view = view;
  for (const section of document.querySelectorAll("main > .view")) section.hidden = section.id !== `view-${view}`;
  for (const a of document.querySelectorAll("nav a")) {
    a.classList.toggle("current", a.getAttribute("data-view") === view);
  }
  if (view === "task") {
    const id = decodeURIComponent((m && m[2]) || "");
    if (id !== state.taskId) {
      state.taskPage = null;
      clear($("#task-page")).append(el("h2", null, id), el("p", { class: "muted" }, "loading"));
    }
    state.taskId = id;
    loadTaskPage(id);
  } else {
    state.taskId = "";
  }
  if (view === "usage" && (state.usageStale || Date.now() - state.usageShownAt > USAGE_MIN_GAP_MS)) loadUsage();
  if (view === "events" && state.events === "unloaded") loadEvents().catch((err) => showLoadError("events", err));
}

async function start() {
  // The lists need no session: ask for all three at once.
  const tasks = api("/api/tasks");
  const fleet = api("/api/fleet");
  sessionReady = api("/api/session").then(applySession, (err) => showLoadError("session", err));
  $("#board").addEventListener("click", openCard);
  $("#board").addEventListener("keydown", openCard);
  $("#events-filter").addEventListener("input", applyEventsFilter);
  $("#brief-form").addEventListener("submit", sendBrief);
  window.addEventListener("hashchange", route);
  setLive(false);
  // The stream before the lists arrive, so nothing that happens meanwhile is
  // lost: an event that comes before the board is drawn is applied after it.
  connectStream();
  route();
  await Promise.all([
    loadBoard(tasks).catch((err) => showLoadError("tasks", err)),
    loadFleet(fleet).catch((err) => showLoadError("fleet", err)),
  ]);
}

function applySession(session) {
  state.session = session;
  if (!session.readOnly) return;
  $("#readonly-note").hidden = false;
  $("#brief-form").hidden = true;
  $("#brief-readonly").hidden = false;
}

start();
