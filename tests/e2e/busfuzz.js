// The bus fuzzer's parts that need no server: a seeded PRNG, the protobuf
// wire format (enough of it to write agency.v1 messages, break them and read
// the records agents write), and the hostile messages themselves.
// busfuzz.fuzz.js runs them against a real fleet.
//
// Every hostile message says what the mesh must make of it (`expect`):
//   dead   the receiver cannot decode it (or must refuse it): a dead letter
//          with a reason on agency.dead.<role>
//   reply  a request: whoever serves the subject answers, if only to say
//          what was wrong
//   any    decodable but odd: either accepted or dead-lettered, never a jam
//   none   nobody must answer it (stored for an agent that does not run,
//          core messages without a reply subject): only survival counts

// ---- PRNG ---------------------------------------------------------------

// sfc32, seeded through splitmix32: small, fast, the same stream on every
// machine for the same seed.
export class Rng {
  constructor(seed) {
    let s = seed >>> 0;
    const mix = () => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = mix();
    this.b = mix();
    this.c = mix();
    this.d = mix();
    for (let i = 0; i < 12; ++i) this.u32();
  }
  u32() {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }
  // An integer in [0, n).
  int(n) {
    return Math.floor((this.u32() / 4294967296) * n);
  }
  range(lo, hi) {
    return lo + this.int(hi - lo + 1);
  }
  chance(p) {
    return this.u32() / 4294967296 < p;
  }
  pick(list) {
    return list[this.int(list.length)];
  }
  bytes(n) {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      const v = this.u32();
      out[i] = v & 0xff;
      if (i + 1 < n) out[i + 1] = (v >>> 8) & 0xff;
      if (i + 2 < n) out[i + 2] = (v >>> 16) & 0xff;
      if (i + 3 < n) out[i + 3] = (v >>> 24) & 0xff;
    }
    return out;
  }
  word() {
    return this.pick(WORDS);
  }
  words(n) {
    const out = [];
    for (let i = 0; i < n; ++i) out.push(this.word());
    return out.join(" ");
  }
}

const WORDS = [
  "add", "fix", "the", "rate", "limiter", "cache", "parser", "retry", "queue", "token", "user",
  "api", "test", "flaky", "login", "port", "config", "docs", "build", "refactor", "shard", "index",
];

// ---- protobuf wire format -----------------------------------------------

const enc = new TextEncoder();

export function concat(parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function varint(value) {
  let v = BigInt.asUintN(64, BigInt(value));
  const out = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v) byte |= 0x80;
    out.push(byte);
  } while (v);
  return Uint8Array.from(out);
}

// Builds one message field by field; numbers are field numbers of the schema.
export class Pb {
  constructor() {
    this.parts = [];
  }
  tag(field, wire) {
    this.parts.push(varint((field << 3) | wire));
    return this;
  }
  str(field, s) {
    return this.bytes(field, typeof s === "string" ? enc.encode(s) : s);
  }
  bytes(field, b) {
    this.tag(field, 2);
    this.parts.push(varint(b.length), b);
    return this;
  }
  int(field, n) {
    this.tag(field, 0);
    this.parts.push(varint(n));
    return this;
  }
  double(field, x) {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, x, true);
    this.tag(field, 1);
    this.parts.push(b);
    return this;
  }
  msg(field, m) {
    return this.bytes(field, m.done());
  }
  raw(b) {
    this.parts.push(b);
    return this;
  }
  done() {
    return concat(this.parts);
  }
}

export function timestamp(seconds, nanos = 0) {
  const m = new Pb().int(1, seconds);
  if (nanos) m.int(2, nanos);
  return m;
}

// Reads a message into {field: [values]}: varints as BigInt, length-delimited
// fields as bytes. Throws on anything malformed.
export function decodePb(buf) {
  const out = new Map();
  let at = 0;
  const readVarint = () => {
    let v = 0n;
    for (let shift = 0n; ; shift += 7n) {
      if (at >= buf.length || shift > 63n) throw new Error("bad varint");
      const b = buf[at++];
      v |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
  };
  while (at < buf.length) {
    const key = readVarint();
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    let value;
    if (wire === 0) value = readVarint();
    else if (wire === 2) {
      const len = Number(readVarint());
      if (at + len > buf.length) throw new Error("truncated field");
      value = buf.subarray(at, at + len);
      at += len;
    } else if (wire === 1 || wire === 5) {
      const len = wire === 1 ? 8 : 4;
      if (at + len > buf.length) throw new Error("truncated field");
      value = buf.subarray(at, at + len);
      at += len;
    } else throw new Error(`wire type ${wire}`);
    if (!out.has(field)) out.set(field, []);
    out.get(field).push(value);
  }
  return out;
}

const dec = new TextDecoder();
export const pbStr = (m, f) => (m.has(f) ? dec.decode(m.get(f).at(-1)) : "");
export const pbBytes = (m, f) => (m.has(f) ? m.get(f).at(-1) : new Uint8Array());
export const pbNum = (m, f) => (m.has(f) ? Number(m.get(f).at(-1)) : 0);
export const pbMsg = (m, f) => (m.has(f) ? decodePb(m.get(f).at(-1)) : new Map());
export const pbAll = (m, f) => m.get(f) ?? [];
// google.protobuf.Timestamp as epoch milliseconds.
export const pbTime = (m, f) => {
  const t = pbMsg(m, f);
  return pbNum(t, 1) * 1000 + Math.floor(pbNum(t, 2) / 1e6);
};

// ---- building blocks of hostile payloads ----------------------------------

const utf8 = (s) => enc.encode(s);

// Bytes that are neither JSON, UTF-8 text nor protobuf: 0xFF is never UTF-8,
// and as a first byte its wire type (7) does not exist.
function junk(rng, n) {
  const b = rng.bytes(Math.min(n, 65536));
  b[0] = 0xff;
  if (n <= b.length) return b;
  // Big bodies repeat one random block: what matters is their size.
  const out = new Uint8Array(n);
  for (let at = 0; at < n; at += b.length) out.set(b.subarray(0, Math.min(b.length, n - at)), at);
  return out;
}

// Text whose first letter's low three bits (6 or 7) are no protobuf wire
// type, so the bytes cannot pass for a message.
const TEXT_START = ["Fix", "Write", "Grow", "Optimise", "Validate", "Normalise"];

function invalidUtf8(rng, marker) {
  const bad = [
    [0xc3, 0x28], // a lead byte without its continuation
    [0xa0, 0xa1], // a lone continuation byte
    [0xc0, 0xaf], // an overlong '/'
    [0xed, 0xa0, 0x80], // a UTF-16 surrogate
    [0xf4, 0x90, 0x80, 0x80], // past U+10FFFF
    [0xfe], [0xff],
  ];
  const parts = [utf8(`${rng.pick(TEXT_START)} the ${rng.words(3)} ${marker} `)];
  const n = rng.range(1, 4);
  for (let i = 0; i < n; ++i) parts.push(Uint8Array.from(rng.pick(bad)), utf8(` ${rng.word()}`));
  return concat(parts);
}

// Valid UTF-8 with a control character (ANSI escapes, bell, NUL, DEL...).
function controlText(rng, marker) {
  const ctl = rng.pick(["\x1b[2J\x1b[H", "\x07", "\x00", "\x7f", "\x1b]0;pwned\x07", "\x08\x08\x08", "\x1b[31m"]);
  return utf8(`${rng.pick(TEXT_START)} ${rng.words(2)} ${marker}${ctl}${rng.words(2)}`);
}

// Printable text of about n bytes (the 1 MiB text brief).
function bigText(rng, n, marker) {
  const head = `${rng.pick(TEXT_START)} ${marker} `;
  const out = new Uint8Array(n);
  out.set(utf8(head));
  const chunk = utf8(rng.words(40) + "\n");
  for (let at = head.length; at < n; at += chunk.length) out.set(chunk.subarray(0, Math.min(chunk.length, n - at)), at);
  return out;
}

// Valid UTF-8 a person would not write: direction overrides, zero-width
// characters, combining marks, emoji. Decodable text.
function oddUnicode(rng, marker) {
  const odd = rng.pick(["\u202egnirts desrever\u202c", "zero\u200bwidth\u200d", "e\u0301\u0301\u0301", "\u{1f6d1}\u{1f525}", "\ufeffbom inside", "\u2028line\u2029para"]);
  return utf8(`${rng.pick(TEXT_START)} ${odd} ${marker} ${rng.words(2)}`);
}

function randomTaskId(rng) {
  const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  let s = "t-FZ";
  for (let i = 0; i < 14; ++i) s += alphabet[rng.int(alphabet.length)];
  return s;
}

// JSON objects of the right message with a field of the wrong type, or
// shapes protobuf's JSON mapping refuses.
function wrongTypedBriefJson(rng, marker) {
  const o = `"objective":"${rng.pick(TEXT_START)} ${marker}"`;
  return rng.pick([
    `{"objective":${rng.range(1, 99999)}}`,
    `{"objective":["${marker}","not","a","string"]}`,
    `{"objective":{"nested":"${marker}"}}`,
    `{"objective":true,"fz":"${marker}"}`,
    `{${o},"attempt":"seven"}`,
    `{${o},"attempt":-${rng.range(1, 9)}}`,
    `{${o},"attempt":1e30}`,
    `{${o},"tokenBudget":"lots"}`,
    `{${o},"tokenBudget":[1]}`,
    `{${o},"constraints":"not a list"}`,
    `{${o},"constraints":[1,{"a":2}]}`,
    `{${o},"notBefore":"yesterday"}`,
    `{${o},"createdAt":12}`,
    `{${o},"priority":"urgent"}`,
    `{${o},"stage":"launch"}`,
    `{${o},"stage":"done"}`,
    `{${o},"unknownField":1}`,
    `{"objective":"","fz":"${marker}"}`,
    `{"fz":"${marker}"}`,
    `{"objective":null,"doneWhen":"${marker}"}`,
    `{${o},"objective":${"[".repeat(200)}${"]".repeat(200)}}`,
    `${"{\"a\":".repeat(300)}"${marker}"${"}".repeat(300)}`,
  ]);
}

// Not JSON, though a lenient parser would take it.
function lenientBriefJson(rng, marker) {
  const obj = `${rng.pick(TEXT_START)} ${marker}`;
  return rng.pick([
    `{"objective":"${obj}",}`,
    `{'objective':'${obj}'}`,
    `{objective:"${obj}"}`,
    `{"objective":"${obj}"} // a comment`,
    `{"objective":"${obj}" /* inline */}`,
    `{"objective":"${obj}","attempt":NaN}`,
    `{"objective":"${obj}","tokenBudget":Infinity}`,
    `{"objective":"${obj}","tokenBudget":0x10}`,
    `{"objective":"${obj}"}trailing garbage`,
    `{"objective":"${obj}"}{"objective":"again"}`,
    `{"objective":"${obj}\\x41"}`,
    `{"objective":"${obj}","priority":"batch",,}`,
    `{"objective":"${obj}`,
    `{"objective":"${obj}\\ud800"}`,
  ]);
}

// A Brief in protobuf, broken so that no parser can take it.
function corruptBriefPb(rng, marker) {
  const good = () =>
    new Pb().str(3, `${rng.pick(TEXT_START)} ${marker}`).str(6, rng.words(3)).str(9, "batch");
  const way = rng.int(7);
  switch (way) {
    case 0: { // the last field's bytes cut short
      const b = good().done();
      return { how: "truncated", data: b.subarray(0, b.length - rng.range(1, 4)) };
    }
    case 1: // a length prefix far past the end
      return { how: "huge length", data: new Pb().tag(3, 2).raw(varint(0x7fffffff)).raw(utf8(marker)).done() };
    case 2: // wire type 7 does not exist
      return { how: "bad wire type", data: concat([good().done(), Uint8Array.from([0x1f, 0x01])]) };
    case 3: // objective (a string) sent as a varint
      return { how: "wrong wire type", data: good().int(3, 12345).done() };
    case 4: // a field the schema does not have
      return { how: "unknown field", data: good().str(99, marker).done() };
    case 5: // a string field that is not UTF-8
      return { how: "string not UTF-8", data: good().bytes(12, Uint8Array.from([0xff, 0xfe, 0xc3, 0x28])).done() };
    default: // an 11-byte varint
      return { how: "varint overflow", data: concat([good().done(), Uint8Array.from([0x70, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])]) };
  }
}

// Headers that make an otherwise readable brief unreadable.
function badHeaderBrief(rng, marker) {
  const text = `${rng.pick(TEXT_START)} ${marker} ${rng.words(3)}`;
  return rng.pick([
    { how: "Agency-Type of another message", headers: [["Agency-Type", "agency.v1.Mail"]], data: utf8(text) },
    { how: "Agency-Type unknown", headers: [["Agency-Type", "agency.v9.Nonsense"]], data: utf8(text) },
    { how: "Content-Type unknown", headers: [["Content-Type", "text/html"]], data: utf8(`<b>${text}</b>`) },
    { how: "Content-Type latin1", headers: [["Content-Type", "text/plain; charset=iso-8859-1"]], data: utf8(text) },
    { how: "protobuf declared, JSON sent", headers: [["Content-Type", "application/protobuf"]], data: utf8(`{"objective":"${text}"}`) },
    { how: "JSON declared, binary sent", headers: [["Content-Type", "application/json"]], data: junk(rng, 64) },
    { how: "text declared, binary sent", headers: [["Content-Type", "text/plain"]], data: junk(rng, 64) },
    { how: "JSON declared, text sent", headers: [["Content-Type", "application/json"]], data: utf8(text) },
  ]);
}

// Headers that are odd but leave a readable brief readable.
function oddHeaderBrief(rng, marker) {
  const text = `${rng.pick(TEXT_START)} ${marker} ${rng.words(3)}`;
  const many = [];
  for (let i = 0; i < 150; ++i) many.push([`X-Fz-${i}`, rng.words(2)]);
  return rng.pick([
    { how: "150 headers", headers: many, data: utf8(text) },
    { how: "16 KiB header value", headers: [["X-Fz-Long", "v".repeat(16384)]], data: utf8(text) },
    { how: "empty header values", headers: [["Content-Type", ""], ["Agency-Type", " agency.v1.Brief "]], data: utf8(text) },
    { how: "repeated Content-Type", headers: [["Content-Type", "text/plain"], ["Content-Type", "application/json"]], data: utf8(text) },
    { how: "unicode header value", headers: [["X-Fz-Unicode", "\u202e\u{1f6d1}"]], data: utf8(text) },
    { how: "Agency-Task-Id header", headers: [["Agency-Task-Id", randomTaskId(rng)]], data: utf8(text) },
  ]);
}

const FAR_FUTURE = 253402300799; // 9999-12-31

// ---- the categories -------------------------------------------------------
//
// Each makes one message from (rng, ctx, marker). ctx: {roles, agents,
// pipelineRoles, maxPayload, engines, now (epoch seconds for timestamps)}. A category's weight is its share of
// the flood.

// The plain subject (scheduled) or one of the priority queues' subjects.
const briefSubject = (rng, ctx) => `agency.brief.${rng.pick(ctx.roles)}${rng.pick(["", "", ".human", ".interactive", ".batch"])}`;

export const CATEGORIES = [
  // Briefs: the work queue every role pulls from.
  { name: "brief.random-bytes", weight: 6, make: (rng, ctx) => ({ kind: "js", subject: briefSubject(rng, ctx), data: junk(rng, rng.range(1, 4096)), expect: "dead" }) },
  { name: "brief.binary-1mib", weight: 0.2, make: (rng, ctx) => ({ kind: "js", subject: briefSubject(rng, ctx), data: junk(rng, ctx.maxPayload - 8192), expect: "dead" }) },
  { name: "brief.text-1mib", weight: 0.2, make: (rng, ctx, m) => ({ kind: "js", subject: briefSubject(rng, ctx), data: bigText(rng, ctx.maxPayload - 8192, m), expect: "dead" }) },
  { name: "brief.invalid-utf8", weight: 4, make: (rng, ctx, m) => ({ kind: "js", subject: briefSubject(rng, ctx), data: invalidUtf8(rng, m), expect: "dead" }) },
  { name: "brief.control-bytes", weight: 3, make: (rng, ctx, m) => ({ kind: "js", subject: briefSubject(rng, ctx), data: controlText(rng, m), expect: "dead" }) },
  { name: "brief.json-wrong-types", weight: 6, make: (rng, ctx, m) => ({ kind: "js", subject: briefSubject(rng, ctx), data: utf8(wrongTypedBriefJson(rng, m)), expect: "dead" }) },
  { name: "brief.json-lenient", weight: 3, make: (rng, ctx, m) => ({ kind: "js", subject: briefSubject(rng, ctx), data: utf8(lenientBriefJson(rng, m)), expect: "dead" }) },
  {
    name: "brief.protobuf-corrupt", weight: 5, make: (rng, ctx, m) => {
      const c = corruptBriefPb(rng, m);
      return { kind: "js", subject: briefSubject(rng, ctx), data: c.data, how: c.how, expect: "dead", headers: rng.chance(0.5) ? [["Content-Type", "application/protobuf"]] : null };
    },
  },
  {
    name: "brief.headers-bad", weight: 3, make: (rng, ctx, m) => {
      const c = badHeaderBrief(rng, m);
      return { kind: "js", subject: briefSubject(rng, ctx), data: c.data, headers: c.headers, how: c.how, expect: "dead" };
    },
  },
  {
    // Names that end up in subjects (agency.log.<project>,
    // agency.event.task.<task-id>): spaces, dots and wildcards.
    name: "brief.subject-tokens", weight: 0.6, make: (rng, ctx, m) => ({
      kind: "js", subject: briefSubject(rng, ctx), expect: "dead",
      data: utf8(JSON.stringify(rng.pick([
        { objective: `x ${m}`, project: rng.pick(["a b.c>", "demo.*", "demo>", "de mo", "demo\t"]) },
        { objective: `x ${m}`, taskId: rng.pick(["t.*.>", "../../etc/passwd", "t- 1", "t-1.>", "*"]) },
      ]))),
    }),
  },
  {
    // A brief naming a task that does not exist, at an attempt far ahead
    // (the agent must not wait on a record that never comes).
    name: "brief.foreign-task", weight: 0.6, make: (rng, ctx, m) => ({
      kind: "js", subject: `agency.brief.${rng.pick(ctx.pipelineRoles)}`,
      data: utf8(JSON.stringify({ objective: `x ${m}`, taskId: randomTaskId(rng), attempt: rng.range(2, 9) })), expect: "any",
    }),
  },
  // Decodable oddities; each becomes a task (or a dead letter), so they are
  // few: their work is real work for the fleet.
  {
    name: "brief.headers-odd", weight: 0.1, make: (rng, ctx, m) => {
      const c = oddHeaderBrief(rng, m);
      return { kind: "js", subject: `agency.brief.${rng.pick(ctx.pipelineRoles)}`, data: c.data, headers: c.headers, how: c.how, expect: "any" };
    },
  },
  { name: "brief.unicode-odd", weight: 0.05, make: (rng, ctx, m) => ({ kind: "js", subject: `agency.brief.${rng.pick(ctx.pipelineRoles)}`, data: oddUnicode(rng, m), expect: "any" }) },
  {
    name: "brief.json-odd-values", weight: 0.05, make: (rng, ctx, m) => ({
      kind: "js", subject: `agency.brief.${rng.pick(ctx.pipelineRoles)}`, expect: "any",
      data: utf8(rng.pick([
        JSON.stringify({ objective: `x ${m}`, project: "no-such-project" }),
        JSON.stringify({ objective: `x ${m}`, tokenBudget: 1 }),
        JSON.stringify({ objective: `x ${m}`, constraints: Array.from({ length: 2000 }, (_, i) => `c${i}`) }),
        JSON.stringify({ objective: `x ${m}`, notBefore: "1970-01-01T00:00:00Z" }),
        JSON.stringify({ objective: `x ${m}`, priority: "human", origin: "\u202e" }),
        `[1,2,3] ${m}`,
        `"${m}"`,
      ])),
    }),
  },
  { name: "brief.no-agent-role", weight: 0.3, make: (rng, ctx, m) => ({ kind: "js", subject: `agency.brief.fz${rng.range(1, 3)}`, data: junk(rng, 32), expect: "none", note: m }) },

  // Mail: stored for an agent, read between briefs.
  { name: "mail.random-bytes", weight: 2.5, make: (rng, ctx) => ({ kind: "js", subject: `agency.mail.${rng.pick(ctx.agents)}`, data: junk(rng, rng.range(1, 2048)), expect: "dead" }) },
  { name: "mail.invalid-utf8", weight: 1.5, make: (rng, ctx, m) => ({ kind: "js", subject: `agency.mail.${rng.pick(ctx.agents)}`, data: invalidUtf8(rng, m), expect: "dead" }) },
  { name: "mail.json-wrong-types", weight: 2, make: (rng, ctx, m) => ({ kind: "js", subject: `agency.mail.${rng.pick(ctx.agents)}`, expect: "dead", data: utf8(rng.pick([`{"body":5,"fz":"${m}"}`, `{"body":"${m}","to":["a"]}`, `{"body":"${m}","sentAt":"noon"}`, `{"body":"${m}",}`])) }) },
  { name: "mail.binary-1mib", weight: 0.08, make: (rng, ctx) => ({ kind: "js", subject: `agency.mail.${rng.pick(ctx.agents)}`, data: junk(rng, ctx.maxPayload - 8192), expect: "dead" }) },
  { name: "mail.text-1mib", weight: 0.08, make: (rng, ctx, m) => ({ kind: "js", subject: `agency.mail.${rng.pick(ctx.agents)}`, data: bigText(rng, ctx.maxPayload - 8192, m), expect: "dead" }) },
  { name: "mail.text", weight: 0.3, make: (rng, ctx, m) => ({ kind: "js", subject: `agency.mail.${rng.pick(ctx.agents)}`, data: utf8(`Note ${m}: ${rng.words(6)}`), expect: "any" }) },
  { name: "mail.no-such-agent", weight: 0.4, make: (rng, ctx) => ({ kind: "js", subject: `agency.mail.fz-ghost-${rng.range(1, 5)}`, data: junk(rng, 64), expect: "none" }) },

  // Questions: core requests, answered by one agent of the role.
  { name: "ask.random-bytes", weight: 2, make: (rng, ctx) => ({ kind: "req", subject: `agency.ask.${rng.pick(ctx.roles)}`, data: junk(rng, rng.range(1, 2048)), expect: "reply" }) },
  { name: "ask.invalid-utf8", weight: 1.5, make: (rng, ctx, m) => ({ kind: "req", subject: `agency.ask.${rng.pick(ctx.roles)}`, data: invalidUtf8(rng, m), expect: "reply" }) },
  { name: "ask.json-wrong-types", weight: 1.5, make: (rng, ctx, m) => ({ kind: "req", subject: `agency.ask.${rng.pick(ctx.roles)}`, expect: "reply", data: utf8(rng.pick([`{"text":7,"fz":"${m}"}`, `{"text":"${m}","askedAt":"now"}`, `{"text":"${m}",}`, `{'text':'${m}'}`])) }) },
  { name: "ask.text-1mib", weight: 0.05, make: (rng, ctx, m) => ({ kind: "req", subject: `agency.ask.${rng.pick(ctx.roles)}`, data: bigText(rng, ctx.maxPayload - 8192, m), expect: "reply" }) },
  { name: "ask.text", weight: 0.6, make: (rng, ctx, m) => ({ kind: "req", subject: `agency.ask.${rng.pick(ctx.roles)}`, data: utf8(`Which ${rng.word()} does the ${rng.word()} use? ${m}`), expect: "reply" }) },
  { name: "ask.no-reply-subject", weight: 1, make: (rng, ctx) => ({ kind: "pub", subject: `agency.ask.${rng.pick(ctx.roles)}`, data: junk(rng, 128), expect: "none" }) },

  // Control: never a command the vocabulary knows (a real `stop` would
  // rightly stop an agent).
  {
    name: "control.unknown-command", weight: 3, make: (rng, ctx, m) => ({
      kind: "pub", subject: `agency.control.${rng.pick(["all", rng.pick(ctx.roles), rng.pick(ctx.agents)])}`, expect: "none",
      data: rng.pick([
        utf8(rng.pick(["explode", "halt", "restart", "pause now please", "kill -9", "st0p", "\u{1f6d1}", "x".repeat(65536)])),
        utf8(`{"command":"launch","fz":"${m}"}`),
        utf8(`{"command":5}`),
        utf8(`{"command":"pause"`),
        new Pb().str(1, "dance").str(2, m).done(),
      ]),
    }),
  },
  { name: "control.random-bytes", weight: 2, make: (rng, ctx) => ({ kind: "pub", subject: `agency.control.${rng.pick(["all", rng.pick(ctx.roles), rng.pick(ctx.agents)])}`, data: junk(rng, rng.range(1, 1024)), expect: "none" }) },
  { name: "control.control-bytes", weight: 1, make: (rng, ctx, m) => ({ kind: "pub", subject: `agency.control.${rng.pick(["all", rng.pick(ctx.agents)])}`, data: controlText(rng, m), expect: "none" }) },

  // Service discovery: every agent answers $SRV.PING/INFO/STATS.
  {
    name: "srv.garbage-request", weight: 5, make: (rng, ctx) => {
      const agent = rng.pick(ctx.agents);
      const service = `agency-${agent.replace(/-\d+$/, "")}`;
      return { kind: "req", subject: rng.pick(["$SRV.PING", `$SRV.PING.${service}`, `$SRV.INFO.${service}`, `$SRV.STATS.${service}.${agent}`]), data: junk(rng, rng.range(0, 512)), expect: "reply" };
    },
  },

  // Usage samples and limit readings: the accountant's ledger.
  { name: "usage.random-bytes", weight: 2, make: (rng, ctx) => ({ kind: "js", subject: `agency.usage.${rng.pick(ctx.engines)}.${rng.pick(ctx.roles)}`, data: junk(rng, rng.range(1, 1024)), expect: "dead" }) },
  {
    name: "usage.json-wrong-types", weight: 1.5, make: (rng, ctx, m) => ({
      kind: "js", subject: `agency.usage.${rng.pick(ctx.engines)}.${rng.pick(ctx.roles)}`, expect: "dead",
      data: utf8(rng.pick([`{"id":"${m}","inputTokens":"many"}`, `{"id":"${m}","costUsd":"free"}`, `{"id":"${m}","at":"today"}`, `{"id":"${m}","inputTokens":12,}`, `{"id":"${m}","inputTokens":[1]}`])),
    }),
  },
  {
    // Figures no engine turn has: negative or absurd token counts and costs.
    name: "usage.absurd-figures", weight: 2, make: (rng, ctx, m) => {
      const engine = rng.pick(ctx.engines);
      const role = rng.pick(ctx.roles);
      const field = rng.pick([["inputTokens", 8], ["outputTokens", 9], ["cacheCreationTokens", 10], ["cacheReadTokens", 11]]);
      const value = rng.pick(["-1", `-${rng.range(2, 1e9)}`, "9223372036854775807", "1000000000000000", "-9223372036854775808"]);
      const asJson = rng.chance(0.5);
      const data = asJson
        ? utf8(`{"id":"${m}","engine":"${engine}","role":"${role}","model":"fz","${field[0]}":"${value}","at":"${new Date(ctx.now * 1000).toISOString()}"}`)
        : new Pb().str(1, m).str(2, engine).str(3, "fz").str(4, role).int(field[1], BigInt(value)).msg(16, timestamp(ctx.now)).done();
      return { kind: "js", subject: `agency.usage.${engine}.${role}`, data, expect: "dead", how: `${field[0]}=${value}`, headers: asJson ? null : [["Content-Type", "application/protobuf"], ["Agency-Type", "agency.v1.UsageSample"]] };
    },
  },
  {
    name: "usage.absurd-cost", weight: 0.6, make: (rng, ctx, m) => {
      const engine = rng.pick(ctx.engines);
      const cost = rng.pick([-5, 1e300, NaN, Infinity]);
      return {
        kind: "js", subject: `agency.usage.${engine}.${rng.pick(ctx.roles)}`, expect: "dead", how: `costUsd=${cost}`,
        headers: [["Content-Type", "application/protobuf"], ["Agency-Type", "agency.v1.UsageSample"]],
        data: new Pb().str(1, m).str(2, engine).str(3, "fz").int(8, 10).double(12, cost).msg(16, timestamp(ctx.now)).done(),
      };
    },
  },
  { name: "usage.binary-1mib", weight: 0.05, make: (rng, ctx) => ({ kind: "js", subject: `agency.usage.${rng.pick(ctx.engines)}.${rng.pick(ctx.roles)}`, data: junk(rng, ctx.maxPayload - 8192), expect: "dead" }) },
  { name: "samples.random-bytes", weight: 1, make: (rng, ctx) => ({ kind: "js", subject: `agency.usage.samples.${rng.pick(ctx.engines)}`, data: junk(rng, rng.range(1, 1024)), expect: "dead" }) },
  { name: "limits.random-bytes", weight: 1.5, make: (rng, ctx) => ({ kind: "js", subject: `agency.usage.limits.${rng.pick(ctx.engines)}`, data: junk(rng, rng.range(1, 1024)), expect: "dead" }) },
  {
    // Readings no engine reports: negative or absurd utilization, negative
    // remaining or limit, a reset before 1971 or in the year 9999.
    name: "limits.bad-reading", weight: 2.5, make: (rng, ctx, m) => {
      const engine = rng.pick(ctx.engines);
      const bad = rng.pick([
        { how: "utilization -3", f: (p) => p.double(7, -3) },
        { how: "utilization 1e9", f: (p) => p.double(7, 1e9) },
        { how: "utilization NaN", f: (p) => p.double(7, NaN) },
        { how: "utilization Infinity", f: (p) => p.double(7, Infinity) },
        { how: "remaining -5", f: (p) => p.int(8, -5n).int(9, 100) },
        { how: "limit -7", f: (p) => p.int(9, -7n) },
        { how: "resets in 1970", f: (p) => p.double(7, 0.5).msg(10, timestamp(5)) },
        { how: "resets in 9999", f: (p) => p.double(7, 0.5).msg(10, timestamp(FAR_FUTURE)) },
        { how: "status unknown", f: (p) => p.double(7, 0.5).str(11, `fz-${m}`) },
      ]);
      const p = new Pb().str(1, engine).str(2, "fz").str(3, `fz-${m}`).str(6, rng.pick(["five_hour", "seven_day", "fz-window"]));
      bad.f(p);
      p.msg(13, timestamp(ctx.now));
      return { kind: "js", subject: `agency.usage.limits.${engine}`, data: p.done(), how: bad.how, expect: "dead", headers: [["Content-Type", "application/protobuf"], ["Agency-Type", "agency.v1.LimitReading"]] };
    },
  },
  { name: "limits.json-wrong-types", weight: 1, make: (rng, ctx, m) => ({ kind: "js", subject: `agency.usage.limits.${rng.pick(ctx.engines)}`, expect: "dead", data: utf8(rng.pick([`{"account":"${m}","utilization":"high"}`, `{"account":"${m}","resetsAt":"soon"}`, `{"account":"${m}","remaining":"none"}`])) }) },

  // Budget leases and settlements: core requests the accountant answers.
  { name: "lease.random-bytes", weight: 1.5, make: (rng) => ({ kind: "req", subject: "agency.budget.lease", data: junk(rng, rng.range(1, 512)), expect: "reply" }) },
  {
    name: "lease.absurd-request", weight: 1, make: (rng, ctx, m) => ({
      kind: "req", subject: "agency.budget.lease", expect: "reply",
      data: utf8(rng.pick([
        JSON.stringify({ id: m, agentId: "fz-ghost", role: "fz", priority: "human", estimateTokens: "1000000000000000" }),
        JSON.stringify({ id: m, agentId: "fz-ghost", priority: "human", estimateTokens: "-5" }),
        JSON.stringify({ id: m, priority: "warp-speed", estimateTokens: "10" }),
        JSON.stringify({ id: m, taskId: randomTaskId(rng), estimateTokens: "9223372036854775807" }),
        `{"id":"${m}","estimateTokens":"lots"}`,
      ])),
    }),
  },
  { name: "settle.garbage", weight: 1, make: (rng, ctx, m) => ({ kind: "req", subject: "agency.budget.settle", data: rng.chance(0.5) ? junk(rng, 64) : utf8(JSON.stringify({ leaseId: `fz-${m}`, inputTokens: "-99" })), expect: "reply" }) },

  // agency up's scaler: nothing here may start or retire a real agent.
  {
    name: "scale.garbage", weight: 1, make: (rng, ctx, m) => ({
      kind: "req", subject: "agency.up.scale", expect: "reply",
      data: rng.pick([
        junk(rng, 64),
        utf8(JSON.stringify({ action: "explode", role: "planner", reason: m })),
        utf8(JSON.stringify({ action: "start", role: "fz-no-such-role", reason: m })),
        utf8(JSON.stringify({ action: "stop", agentId: "fz-ghost-1", reason: m })),
        utf8(`{"action":7}`),
      ]),
    }),
  },

  // Events and work logs other roles read.
  { name: "event.garbage", weight: 1.5, make: (rng) => ({ kind: "js", subject: rng.pick([`agency.event.task.${randomTaskId(rng)}`, "agency.event.sweep", "agency.event.dispatch", "agency.event.digest", "agency.event.budget"]), data: junk(rng, rng.range(1, 512)), expect: "none" }) },
  { name: "log.garbage", weight: 1, make: (rng) => ({ kind: "js", subject: rng.pick(["agency.log.demo", "agency.log._"]), data: junk(rng, rng.range(1, 512)), expect: "none" }) },

  // Straight into the buckets, never under a good task's key.
  {
    name: "kv.tasks-garbage", weight: 4, make: (rng, ctx, m) => ({
      kind: "kv", bucket: "agency-tasks", key: rng.chance(0.7) ? randomTaskId(rng) : `fz.${rng.word()}.${rng.range(1, 1e6)}`, expect: "none",
      data: rng.pick([
        junk(rng, rng.range(1, 2048)),
        utf8(`{"id":7,"stage":"qa","fz":"${m}"}`),
        new Pb().str(1, "x").str(4, "not-a-stage").done(),
        utf8(`{"id":"${m}","stage":"review"`),
      ]),
    }),
  },
  {
    name: "kv.fleet-garbage", weight: 3, make: (rng, ctx) => ({
      // Real agents' keys too: the next heartbeat writes over them.
      kind: "kv", bucket: "agency-fleet", key: rng.chance(0.5) ? rng.pick(ctx.agents) : `fz-ghost-${rng.range(1, 50)}`, expect: "none",
      data: rng.pick([junk(rng, rng.range(1, 1024)), utf8(`{"agentId":5,"state":"melting"}`), new Pb().str(1, "fz").str(3, "melting").done()]),
    }),
  },
  {
    name: "kv.memory-garbage", weight: 3, make: (rng, ctx, m) => ({
      kind: "kv", bucket: "agency-memory", expect: "none",
      key: rng.pick([
        `session.${rng.pick(ctx.agents)}`,
        `deferred.briefs-${rng.pick(ctx.roles)}.${rng.range(1, 5000)}`,
        `question.${rng.pick(ctx.agents)}.fz${rng.range(1, 1e6)}`,
        "sweeper.state", `sweeper.fz${rng.range(1, 99)}`, "synthesizer.last", "scout.seen",
        "accountant.transcripts.personal",
        `dispatcher.schedule.fz${rng.range(1, 9)}`, `dispatcher.rotation.${rng.pick(ctx.roles)}`,
        `fz.${rng.word()}.${m}`,
      ]),
      data: rng.pick([junk(rng, rng.range(1, 2048)), utf8(`{"fz":"${m}","count":"many"}`), utf8("-1"), utf8("99999999999999999999999")]),
    }),
  },
];

// The plan: `count` hostile messages and `good` good briefs spread evenly
// among them, the last good brief after the flood's last message. The plan
// depends on the seed alone, so a seed reproduces a run.
// `skip` (a RegExp, or null) leaves out the categories whose names it
// matches, to tell one defect from another.
export function plan(seed, count, good, ctx, skip = null) {
  const rng = new Rng(seed);
  const categories = CATEGORIES.filter((c) => !skip || !skip.test(c.name));
  const total = categories.reduce((s, c) => s + c.weight, 0);
  const picks = [];
  for (let i = 0; i < count; ++i) {
    let r = (rng.u32() / 4294967296) * total;
    let cat = categories[categories.length - 1];
    for (const c of categories) {
      if (r < c.weight) {
        cat = c;
        break;
      }
      r -= c.weight;
    }
    picks.push(cat);
  }
  // Every category at least once, however short the run: a rare one (the
  // 1 MiB brief) replaces a message of the most common one.
  if (count >= categories.length) {
    const common = categories.reduce((a, c) => (c.weight > a.weight ? c : a));
    for (const c of categories) {
      if (picks.includes(c)) continue;
      const slots = picks.map((p, i) => (p === common ? i : -1)).filter((i) => i >= 0);
      picks[slots[rng.int(slots.length)]] = c;
    }
  }
  const items = picks.map((cat, i) => {
    const marker = `fz${seed}-${i}`;
    return { i, cat: cat.name, marker, headers: null, ...cat.make(rng, ctx, marker) };
  });
  const goods = [];
  for (let g = 0; g < good; ++g) {
    const objective = `Fuzz good brief ${g} of seed ${seed}: say hello`;
    const role = g % 2 === 0 ? "planner" : "builder";
    const json = g % 4 >= 2;
    goods.push({
      g, good: true, cat: "good", kind: "js", subject: `agency.brief.${role}`, objective, role,
      data: utf8(json ? JSON.stringify({ objective, doneWhen: "AGENCY_DEMO.md exists" }) : objective),
      headers: json ? [["Content-Type", "application/json"]] : null, expect: "done",
    });
  }
  // Good brief g goes after hostile message floor((g + 1) * count / good) - 1.
  const out = [];
  let next = 0;
  for (let i = 0; i < count; ++i) {
    out.push(items[i]);
    while (next < good && Math.floor(((next + 1) * count) / good) - 1 === i) out.push(goods[next++]);
  }
  while (next < good) out.push(goods[next++]);
  return out;
}
