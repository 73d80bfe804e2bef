// The plumbing any role written in JavaScript needs to keep docs/PROTOCOL.md (§N are its sections), apart from
// what the linter does with it (linter.js): the schemas and how agency reads and writes them (§12, §13), the
// pipelines and projects of agency.yaml, task ids (§3), the connection (§1).
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { dirname, resolve } from "node:path";
import { connect, headers, nkeyAuthenticator } from "@nats-io/transport-node";
import protobuf from "protobufjs";
import YAML from "yaml";

export const PROTOCOL = 1; // the version of docs/PROTOCOL.md this code keeps (§13)
const env = process.env;
const root = new protobuf.Root(); // the repository's own schemas; google/protobuf/* are protobufjs's
root.resolvePath = (_, file) => `${env.AGENCY_SCHEMAS || new URL("../../schemas", import.meta.url).pathname}/${file}`;
await root.load(["brief", "task", "fleet", "control", "dead"].map((f) => `agency/v1/${f}.proto`));
root.resolveAll();
export const [Brief, Task, TaskEvent, AgentStatus, Control, DeadLetter] =
  ["Brief", "Task", "TaskEvent", "AgentStatus", "Control", "DeadLetter"].map((t) => root.lookupType(`agency.v1.${t}`));
export const now = (ms = Date.now()) => ({ seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 });

export function pb(type, value, msgID) { // protobuf with the headers agency sends (§12, §13)
  const h = headers();
  h.set("Agency-Type", `agency.v1.${type.name}`);
  h.set("Content-Type", "application/protobuf");
  h.set("Agency-Protocol", String(PROTOCOL));
  return [type.encode(value).finish(), { headers: h, msgID }];
}
const utf8 = new TextDecoder("utf-8", { fatal: true });
// A message as agency's receivers read it (§12): protobuf; JSON when it says or looks so; for a type with a text
// field (Brief objective, Control command) plain text when it says so, or is UTF-8 but not exact protobuf.
export function decode(type, data, h, textField) {
  const version = h?.get("Agency-Protocol"), named = h?.get("Agency-Type");
  const ct = (h?.get("Content-Type") ?? "").toLowerCase();
  if (version && version.trim() !== String(PROTOCOL)) {
    throw new Error(`Agency-Protocol "${version}": this agent speaks protocol ${PROTOCOL} (docs/PROTOCOL.md, ` +
      `"Versioning"); a role of another version cannot work in this mesh`);
  }
  if (named && named !== `agency.v1.${type.name}`) throw new Error(`Agency-Type ${named} is not agency.v1.${type.name}`);
  if (/charset=/.test(ct) && !/charset="?(utf-8|us-ascii)"?(;|$)/.test(ct)) throw new Error(`${ct}: only UTF-8 is read`);
  if (ct.includes("protobuf")) return type.decode(data);
  let text = null;
  try { text = utf8.decode(data); } catch { /* not UTF-8: protobuf, or nothing */ }
  if (ct.includes("json") || (!ct && text?.trimStart().startsWith("{"))) {
    if (text === null) throw new Error("JSON that is not UTF-8");
    return fromJson(type, JSON.parse(text));
  }
  const plain = textField && text !== null && (ct.includes("text/plain") || (!ct && !exact(type, data)));
  if (!plain) return type.decode(data);
  if (/[\0-\x08\x0b\x0c\x0e-\x1f\x7f]/.test(text)) throw new Error("plain text with control characters");
  return type.create({ [textField]: text.trim() });
}
function exact(type, data) { // whether the bytes are a message's own protobuf encoding
  try { return Buffer.from(type.encode(type.decode(data)).finish()).equals(Buffer.from(data)); } catch { return false; }
}
// The protobuf JSON mapping: a field under its lowerCamelCase or its proto name, not both; unknown fields refused
// (protobufjs's fromObject would ignore them); timestamps as RFC 3339 strings or {seconds, nanos}.
function fromJson(type, object, depth = 0) {
  if (typeof object !== "object" || object === null || Array.isArray(object)) {
    throw new Error(`a ${type.name} is a JSON object, not ${JSON.stringify(object)}`);
  }
  if (depth > 32) throw new Error("JSON nested deeper than 32");
  const out = {};
  for (const [key, value] of Object.entries(object)) {
    const field = type.fields[protobuf.util.camelCase(key)];
    if (!field) throw new Error(`unknown field "${key}" in a ${type.name}`);
    if (field.name in out) throw new Error(`field ${field.name} of a ${type.name} given under both its names`);
    const sub = field.resolvedType instanceof protobuf.Type && !field.map ? field.resolvedType : null;
    const one = (v) => (sub?.fullName === ".google.protobuf.Timestamp" && typeof v === "string" ? rfc3339(v)
      : sub ? fromJson(sub, v, depth + 1) : v);
    out[field.name] = field.repeated && Array.isArray(value) ? value.map(one) : one(value);
  }
  return type.fromObject(out);
}
function rfc3339(text) {
  const ms = Date.parse(text);
  if (!/^\d{4}-\d\d-\d\dT/.test(text) || Number.isNaN(ms)) throw new Error(`"${text}" is no RFC 3339 time`);
  return now(ms);
}

// agency.yaml (AGENCY_CONFIG, as `agency up` gives its agents): the projects and the pipelines new tasks walk.
const configFile = env.AGENCY_CONFIG;
export const config = (configFile && YAML.parse(readFileSync(configFile, "utf8"))) || {};
export function project(name) { // by name; a brief that names none is for the one project, if there is one
  const all = config.projects ?? [];
  const p = all.find((x) => x.name === name) ?? (!name && all.length === 1 ? all[0] : null);
  return p && { ...p, repo: p.repo && resolve(dirname(configFile), p.repo) };
}
export const BUILTIN = [["ready-for-prep", "planner", ""], ["ready-for-dev", "builder", ""], ["qa", "adversary",
  "ready-for-dev"], ["review", "reviewer", "ready-for-dev"], ["ready-to-land", "integrator", "ready-for-dev", true]]
  .map(([name, role, bounce, landing = false]) => ({ name, role, bounce, optional: false, landing }));
export function pipelineFor(projectName) { // {name, stages}, as runtime/config_pipeline.cpp reads them (not checked)
  const p = project(projectName), name = p?.pipeline || "default";
  const listed = p?.pipeline ? config.pipelines?.[p.pipeline]?.stages : config.pipeline?.stages, stages = [];
  for (const entry of listed ?? []) {
    const e = typeof entry === "string" ? { role: entry } : entry, own = BUILTIN.find((b) => b.role === e.role);
    const role = e.role ?? BUILTIN.find((b) => b.name === e.stage)?.role, stage = e.stage ?? own?.name ?? role;
    const has = (s) => stages.some((x) => x.name === s), usual = BUILTIN.find((b) => b.name === stage)?.bounce;
    const bounce = e.bounce ?? (!stages.length ? "" : usual && has(usual) ? usual // else the built-in's,
      : has("ready-for-dev") ? "ready-for-dev" : stages.at(-1).name); // else the builder's, else the one before
    stages.push({ name: stage, role, bounce, optional: !!e.optional, landing: e.landing ?? !!own?.landing });
  }
  return { name, stages: (listed ? stages : BUILTIN).filter((s) => !s.landing || (p?.landing ?? "merge") !== "none") };
}

// §2: what agency's codec refuses in a brief ("" for nothing).
export function briefProblem(b) {
  if (!b.objective && !b.taskId) return "it has neither objective nor task_id";
  if (b.stage && !/^[a-z0-9-]+$/.test(b.stage)) return `stage "${b.stage}" is no stage name`;
  if (["done", "blocked", "cancelled"].includes(b.stage)) return `stage "${b.stage}" is an end, not a stage to work`;
  if (!["", "human", "interactive", "scheduled", "batch"].includes(b.priority)) return `priority "${b.priority}"`;
  const bad = [b.taskId, b.project].find((v) => v && !/^[\w-]{1,128}$/.test(v));
  if (bad) return `"${bad}" as task_id or project: not 1 to 128 of A-Za-z0-9_-`;
  return Number(b.tokenBudget) < 0 ? "a negative token_budget" : "";
}
// §3, §7: the task record: its pipeline, the attempt at a stage (entries into it), a new one; its events.
export const stagesOf = (task) => (task.pipelineStages?.length ? task.pipelineStages : BUILTIN);
export const entries = (task, stage) => task.history.filter((h) => h.to === stage).length;
export function newTask(brief, walk, actor) { // as runtime/tasks.cpp makes it for a brief (with its task id)
  const at = now(), line = brief.objective.split("\n")[0].trimEnd();
  brief.id ||= `b-${brief.taskId.slice(2)}`;
  brief.createdAt ||= at;
  const title = line.length <= 80 ? line : `${line.slice(0, 79)}…`;
  return Task.create({ id: brief.taskId, title, project: brief.project, stage: brief.stage, brief, createdAt: at,
    updatedAt: at, pipeline: walk.name, pipelineStages: walk.stages,
    history: [{ to: brief.stage, actor, reason: `created from brief ${brief.id}`, at }] });
}
const event = (task, fields, msgID) =>
  [`agency.event.task.${task.id}`, ...pb(TaskEvent, { taskId: task.id, project: task.project, ...fields }, msgID)];
export const createdEvent = (task, [h] = task.history) => event(task, { kind: "created", toStage: h.to, actor: h.actor,
  reason: task.title, at: h.at }, `event:${task.id}:created`);
export const deadLetter = (m, fields) => [`agency.dead.${fields.role}`, ...pb(DeadLetter, { originalSubject: m.subject,
  payload: m.data.subarray(0, 4096), payloadSize: m.data.length, streamSequence: m.info.streamSequence,
  deliveries: m.info.deliveryCount, at: now(), ...fields }, `dead:${m.subject}:${m.info.streamSequence}`)]; // §8
export function moveEvent(task, h, attempt) { // the history entry h, the attempt-th move out of its stage
  const names = stagesOf(task).map((s) => s.name);
  const kind = ["done", "blocked"].includes(h.to) ? h.to
    : names.indexOf(h.to) > names.indexOf(h.from) ? "stage-changed" : "bounced";
  return event(task, { kind, fromStage: h.from, toStage: h.to, actor: h.actor, reason: h.reason, at: h.at },
    `event:${task.id}:${h.from}:${attempt}`);
}

// §3: the task id of a brief without one, from its stream timestamp and sequence (runtime/ids.cpp).
const base32 = (n, digits) => Array.from({ length: digits }, // Crockford's, the last `digits` of n
  (_, i) => "0123456789ABCDEFGHJKMNPQRSTVWXYZ"[Number((BigInt(n) >> BigInt(5 * (digits - 1 - i))) & 31n)]).join("");
export const taskIdFor = (m) => `t-${base32(m.timestampNanos / 1000000n, 10)}${base32(m.info.streamSequence, 6)}`;

// §1: connected as the agent, with the NKey seed and the CA when given, reconnecting forever.
export async function connectAs(agentId, options = {}) {
  const seed = env.NATS_NKEY && readFileSync(env.NATS_NKEY, "utf8").match(/^\s*(SU\w+)/m)?.[1];
  if (env.NATS_NKEY && !seed) throw new Error(`${env.NATS_NKEY} holds no NKey user seed (a line starting SU)`);
  return connect({ servers: (env.NATS_URL || "nats://127.0.0.1:4222").split(","), name: agentId,
    inboxPrefix: `_INBOX.${agentId}`, maxReconnectAttempts: -1, tls: env.NATS_CA ? { caFile: env.NATS_CA } : undefined,
    authenticator: seed ? nkeyAuthenticator(new TextEncoder().encode(seed)) : undefined, ...options });
}
export const defaultAgentId = (role) =>
  env.AGENCY_AGENT_ID || `${role}-${hostname()}-${process.pid}`.replace(/[^\w-]/g, "-");
