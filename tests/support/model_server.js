#!/usr/bin/env node
// A scripted model server on loopback, for engine tests: answers the
// Anthropic Messages API (as Claude Code calls it, server-sent events
// included), OpenAI chat completions, the OpenAI Responses API (as the Codex
// CLI calls it) and the Gemini API's generateContent (as the Gemini CLI
// calls it) from a script, and logs every request with the usage it
// reported. No network beyond 127.0.0.1, no dependencies beyond Node
// itself. The script format is in tests/support/model_server.hpp.
//
//   node model_server.js --script script.json --log requests.jsonl
//
// Prints {"port": N} on its first stdout line once it listens.
// POST /_script replaces the script; GET /_log returns the log as JSON.
'use strict';

const http = require('node:http');
const fs = require('node:fs');

function argument(name) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

const logPath = argument('--log');
let script = { replies: [] };
let next = 0; // index of the next reply in script.replies
let nextByKey = {}; // the same per scripted key (script.keys)
let count = 0; // requests seen
const log = [];

function load(text) {
  const parsed = JSON.parse(text);
  if (!parsed || typeof parsed !== 'object') throw new Error('the script must be a JSON object');
  script = { replies: parsed.replies || [], default: parsed.default,
    usage_endpoint: parsed.usage_endpoint, keys: parsed.keys || {} };
  next = 0;
  nextByKey = {};
}

if (argument('--script')) load(fs.readFileSync(argument('--script'), 'utf8'));

function record(entry) {
  log.push(entry);
  if (logPath) fs.appendFileSync(logPath, JSON.stringify(entry) + '\n');
}

// The credential a request came with: x-api-key, else a bearer token.
function keyOf(req) {
  if (req.headers['x-api-key']) return req.headers['x-api-key'];
  const bearer = /^Bearer (.+)$/.exec(req.headers.authorization || '');
  return bearer ? bearer[1] : '';
}

// The next reply for a request with `key`: its own queue when the script
// has one for it (script.keys), else the common one.
function takeReply(key) {
  const own = script.keys[key];
  if (own) {
    const i = nextByKey[key] || 0;
    if (i < (own.replies || []).length) {
      nextByKey[key] = i + 1;
      return own.replies[i];
    }
    return own.default || script.default || { text: 'ok' };
  }
  if (next < script.replies.length) return script.replies[next++];
  return script.default || { text: 'ok' };
}

// Usage to report: the script's, else counted from what was asked and said,
// so no answer reports zero.
function usageFor(reply, bodyText, outputText) {
  const u = reply.usage || {};
  return {
    input_tokens: u.input_tokens ?? 10 + Math.floor(bodyText.length / 100),
    output_tokens: u.output_tokens ?? 5 + Math.floor(outputText.length / 4),
    cache_creation_input_tokens: u.cache_creation_input_tokens ?? 0,
    cache_read_input_tokens: u.cache_read_input_tokens ?? 0,
  };
}

// Claude Code names its working directory in the system prompt; "{cwd}" in
// a tool input becomes it, so a script can write into a worktree whose path
// it cannot know in advance.
function cwdOf(bodyText) {
  // The newest mention: a resumed session's old messages name the
  // directories of earlier runs too, and a moved one reads
  // "<new> (was <old>)".
  const clean = (m) => m.trim().split(' (was ')[0];
  const all = [...bodyText.matchAll(/Primary working directory: ([^\\"\n]+)/g)];
  let body = {};
  try {
    body = JSON.parse(bodyText);
  } catch {
    return all.length ? clean(all[all.length - 1][1]) : '';
  }
  const system = JSON.stringify(body.system || '');
  const inSystem = /Primary working directory: ([^\\"\n]+)/.exec(system);
  if (inSystem) return clean(inSystem[1]);
  return all.length ? clean(all[all.length - 1][1]) : '';
}

// The Codex CLI names its working directory in an <environment_context>
// message ("<cwd>/path</cwd>"), the Gemini CLI in its session context
// ("Workspace Directories: - /path"); the newest mention counts.
function cliCwdOf(kind, bodyText) {
  const pattern = kind === 'responses' ? /<cwd>([^<\\"]+)<\/cwd>/g
    : /Workspace Directories:\*\*\\n\s*- ([^\\"]+)/g;
  const all = [...bodyText.matchAll(pattern)];
  return all.length ? all[all.length - 1][1].trim() : '';
}

function toolInput(input, bodyText, kind) {
  const cwd = kind === 'responses' || kind === 'gemini' ? cliCwdOf(kind, bodyText) : cwdOf(bodyText);
  return JSON.parse(JSON.stringify(input || {}).replaceAll('{cwd}', cwd));
}

function textOf(reply, n) {
  return reply.text === undefined ? '' : String(reply.text).replaceAll('{n}', String(n));
}

function sendJson(res, status, body, headers) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

function sse(res, event, data) {
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

function anthropicAnswer(req, res, body, bodyText, reply, n, entry) {
  const model = reply.model || body.model || 'scripted-model';
  const text = textOf(reply, n);
  const tools = (reply.tool_use || []).map((t) => ({ name: t.name, input: toolInput(t.input, bodyText) }));
  const toolText = tools.map((t) => JSON.stringify(t.input)).join('');
  const usage = usageFor(reply, bodyText, text + toolText);
  // Logged before the answer goes out, so a client that has its answer
  // finds it in the log.
  entry.usage = usage;
  record(entry);
  const id = `msg_scripted_${n}`;
  const stopReason = tools.length ? 'tool_use' : 'end_turn';
  const blocks = [];
  if (text) blocks.push({ type: 'text', text });
  tools.forEach((t, i) =>
    blocks.push({ type: 'tool_use', id: `toolu_scripted_${n}_${i}`, name: t.name, input: t.input || {} }),
  );
  const headers = reply.headers || {};
  if (!body.stream) {
    sendJson(res, 200, { id, type: 'message', role: 'assistant', model, content: blocks,
      stop_reason: stopReason, stop_sequence: null, usage }, headers);
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...headers });
  sse(res, 'message_start', { type: 'message_start', message: { id, type: 'message', role: 'assistant',
    model, content: [], stop_reason: null, stop_sequence: null,
    usage: { ...usage, output_tokens: 1 } } });
  blocks.forEach((block, index) => {
    if (block.type === 'text') {
      sse(res, 'content_block_start', { type: 'content_block_start', index,
        content_block: { type: 'text', text: '' } });
      // In two pieces, as a model streams.
      const half = Math.floor(block.text.length / 2);
      for (const piece of [block.text.slice(0, half), block.text.slice(half)]) {
        if (piece) sse(res, 'content_block_delta', { type: 'content_block_delta', index,
          delta: { type: 'text_delta', text: piece } });
      }
    } else {
      sse(res, 'content_block_start', { type: 'content_block_start', index,
        content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} } });
      sse(res, 'content_block_delta', { type: 'content_block_delta', index,
        delta: { type: 'input_json_delta', partial_json: JSON.stringify(block.input) } });
    }
    sse(res, 'content_block_stop', { type: 'content_block_stop', index });
  });
  sse(res, 'message_delta', { type: 'message_delta', delta: { stop_reason: stopReason, stop_sequence: null },
    usage: { output_tokens: usage.output_tokens } });
  sse(res, 'message_stop', { type: 'message_stop' });
  res.end();
}

function openaiAnswer(req, res, body, bodyText, reply, n, entry) {
  const model = reply.model || body.model || 'scripted-model';
  const text = textOf(reply, n);
  const tools = (reply.tool_use || []).map((t) => ({ name: t.name, input: toolInput(t.input, bodyText) }));
  const usage = usageFor(reply, bodyText, text);
  entry.usage = usage;
  record(entry);
  const cached = usage.cache_read_input_tokens;
  const oaUsage = { prompt_tokens: usage.input_tokens + cached, completion_tokens: usage.output_tokens,
    total_tokens: usage.input_tokens + cached + usage.output_tokens,
    prompt_tokens_details: { cached_tokens: cached } };
  const toolCalls = tools.map((t, i) => ({ id: `call_scripted_${n}_${i}`, type: 'function',
    function: { name: t.name, arguments: JSON.stringify(t.input || {}) } }));
  const message = { role: 'assistant', content: text };
  if (toolCalls.length) message.tool_calls = toolCalls;
  const finish = toolCalls.length ? 'tool_calls' : 'stop';
  const id = `chatcmpl-scripted-${n}`;
  const created = Math.floor(Date.now() / 1000);
  const headers = reply.headers || {};
  if (!body.stream) {
    sendJson(res, 200, { id, object: 'chat.completion', created, model,
      choices: [{ index: 0, message, finish_reason: finish }], usage: oaUsage }, headers);
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...headers });
  const chunk = (delta, finishReason, extra) => res.write(`data: ${JSON.stringify({ id,
    object: 'chat.completion.chunk', created, model,
    choices: [{ index: 0, delta, finish_reason: finishReason }], ...extra })}\n\n`);
  chunk({ role: 'assistant', content: '' }, null);
  if (text) chunk({ content: text }, null);
  if (toolCalls.length) chunk({ tool_calls: toolCalls.map((c, index) => ({ index, ...c })) }, null);
  chunk({}, finish);
  if (body.stream_options && body.stream_options.include_usage) {
    res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model,
      choices: [], usage: oaUsage })}\n\n`);
  }
  res.write('data: [DONE]\n\n');
  res.end();
}

// The OpenAI Responses API as the Codex CLI calls it (POST .../responses,
// streamed): a message item with the text, a function_call item per tool
// call ("tool_use" names codex's tool, e.g. exec_command with {"cmd": ...}),
// then response.completed with the usage.
function responsesAnswer(req, res, body, bodyText, reply, n, entry) {
  const model = reply.model || body.model || 'scripted-model';
  const text = textOf(reply, n);
  const tools = (reply.tool_use || []).map((t) => ({ name: t.name,
    input: toolInput(t.input, bodyText, 'responses') }));
  const toolText = tools.map((t) => JSON.stringify(t.input)).join('');
  const usage = usageFor(reply, bodyText, text + toolText);
  entry.usage = usage;
  record(entry);
  const cachedIn = usage.cache_read_input_tokens;
  const written = usage.cache_creation_input_tokens;
  const inputTotal = usage.input_tokens + cachedIn + written;
  const rUsage = { input_tokens: inputTotal,
    input_tokens_details: { cached_tokens: cachedIn, cache_write_tokens: written },
    output_tokens: usage.output_tokens, output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: inputTotal + usage.output_tokens };
  const id = `resp_scripted_${n}`;
  const created = Math.floor(Date.now() / 1000);
  const items = [];
  if (text) {
    items.push({ id: `msg_scripted_${n}`, type: 'message', status: 'completed', role: 'assistant',
      content: [{ type: 'output_text', text, annotations: [] }] });
  }
  tools.forEach((t, i) => items.push({ id: `fc_scripted_${n}_${i}`, type: 'function_call',
    status: 'completed', call_id: `call_scripted_${n}_${i}`, name: t.name,
    arguments: JSON.stringify(t.input) }));
  const response = (status, output, extra) => ({ id, object: 'response', created_at: created,
    status, model, output, ...extra });
  const headers = reply.headers || {};
  if (!body.stream) {
    sendJson(res, 200, response('completed', items, { usage: rUsage }), headers);
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...headers });
  let seq = 0;
  const event = (type, data) => sse(res, type, { type, sequence_number: seq++, ...data });
  event('response.created', { response: response('in_progress', []) });
  event('response.in_progress', { response: response('in_progress', []) });
  items.forEach((item, index) => {
    if (item.type === 'message') {
      event('response.output_item.added', { output_index: index,
        item: { ...item, status: 'in_progress', content: [] } });
      event('response.content_part.added', { item_id: item.id, output_index: index,
        content_index: 0, part: { type: 'output_text', text: '', annotations: [] } });
      // In two pieces, as a model streams.
      const half = Math.floor(text.length / 2);
      for (const piece of [text.slice(0, half), text.slice(half)]) {
        if (piece) event('response.output_text.delta', { item_id: item.id, output_index: index,
          content_index: 0, delta: piece });
      }
      event('response.output_text.done', { item_id: item.id, output_index: index,
        content_index: 0, text });
      event('response.content_part.done', { item_id: item.id, output_index: index,
        content_index: 0, part: item.content[0] });
    } else {
      event('response.output_item.added', { output_index: index,
        item: { ...item, status: 'in_progress', arguments: '' } });
      event('response.function_call_arguments.delta', { item_id: item.id, output_index: index,
        delta: item.arguments });
      event('response.function_call_arguments.done', { item_id: item.id, output_index: index,
        arguments: item.arguments });
    }
    event('response.output_item.done', { output_index: index, item });
  });
  event('response.completed', { response: response('completed', items, { usage: rUsage }) });
  res.end();
}

// The Gemini API as the Gemini CLI calls it: POST
// /v1beta/models/<model>:streamGenerateContent?alt=sse (server-sent events,
// data lines only) or :generateContent (one JSON answer). "tool_use" becomes
// functionCall parts (the Gemini CLI's tools: write_file {file_path,
// content}, run_shell_command {command}, ...). Gemini has no cache writes:
// cache_creation_input_tokens counts as input.
function geminiAnswer(req, res, body, bodyText, reply, n, entry) {
  const model = reply.model || entry.model || 'scripted-model';
  const text = textOf(reply, n);
  const tools = (reply.tool_use || []).map((t) => ({ name: t.name,
    input: toolInput(t.input, bodyText, 'gemini') }));
  const toolText = tools.map((t) => JSON.stringify(t.input)).join('');
  const counted = usageFor(reply, bodyText, text + toolText);
  const usage = { ...counted,
    input_tokens: counted.input_tokens + counted.cache_creation_input_tokens,
    cache_creation_input_tokens: 0 };
  entry.usage = usage;
  record(entry);
  const cached = usage.cache_read_input_tokens;
  const prompt = usage.input_tokens + cached;
  const usageMetadata = { promptTokenCount: prompt, candidatesTokenCount: usage.output_tokens,
    totalTokenCount: prompt + usage.output_tokens };
  if (cached) usageMetadata.cachedContentTokenCount = cached;
  const calls = tools.map((t) => ({ functionCall: { name: t.name, args: t.input } }));
  const responseId = `gemini_scripted_${n}`;
  const chunk = (parts, last) => {
    const candidate = { content: { role: 'model', parts }, index: 0 };
    if (last) candidate.finishReason = 'STOP';
    const c = { candidates: [candidate], modelVersion: model, responseId };
    if (last) c.usageMetadata = usageMetadata;
    return c;
  };
  const headers = reply.headers || {};
  const all = [];
  if (text) all.push({ text });
  all.push(...calls);
  if (!entry.stream) {
    sendJson(res, 200, chunk(all, true), headers);
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...headers });
  const pieces = [];
  // The text in two pieces, as a model streams; the calls and the usage last.
  const half = Math.floor(text.length / 2);
  if (text.slice(0, half)) pieces.push([{ text: text.slice(0, half) }]);
  if (text.slice(half)) pieces.push([{ text: text.slice(half) }]);
  if (calls.length) pieces.push(calls);
  if (!pieces.length) pieces.push([{ text: '' }]);
  pieces.forEach((parts, i) =>
    res.write(`data: ${JSON.stringify(chunk(parts, i === pieces.length - 1))}\r\n\r\n`));
  res.end();
}

// Gemini's error statuses for the HTTP ones.
function geminiStatus(code) {
  return { 400: 'INVALID_ARGUMENT', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED',
    404: 'NOT_FOUND', 429: 'RESOURCE_EXHAUSTED', 500: 'INTERNAL', 503: 'UNAVAILABLE',
    504: 'DEADLINE_EXCEEDED' }[code] || 'UNKNOWN';
}

function errorBody(kind, status, scripted) {
  const error = scripted || { type: 'api_error', message: `scripted status ${status}` };
  if (kind === 'anthropic') return { type: 'error', error };
  if (kind === 'openai') return { error: { message: error.message, type: error.type, code: error.code ?? null } };
  if (kind === 'responses') {
    // Codex reads more than OpenAI's three fields (a usage limit's
    // resets_at, plan_type): everything scripted goes out.
    return { error: { type: error.type, code: error.code ?? null, ...error } };
  }
  // gemini: {"error": {"code", "message", "status", "details"}}.
  const out = { code: status, message: error.message, status: error.status || geminiStatus(status) };
  if (error.details) out.details = error.details;
  return { error: out };
}

function handle(req, res, bodyText) {
  const path = req.url.split('?')[0];
  if (path === '/_script' && req.method === 'POST') {
    try {
      load(bodyText);
      sendJson(res, 200, { ok: true });
    } catch (e) {
      sendJson(res, 400, { error: String(e.message) });
    }
    return;
  }
  if (path === '/_log') {
    sendJson(res, 200, log);
    return;
  }
  const n = ++count;
  let body = {};
  try {
    body = bodyText ? JSON.parse(bodyText) : {};
  } catch {
    body = { unparsed: bodyText.slice(0, 200) };
  }
  const gemini = /\/models\/([^/:]+):(streamGenerateContent|generateContent)$/.exec(path);
  const kind = path.endsWith('/messages') ? 'anthropic'
    : path.endsWith('/chat/completions') ? 'openai'
    : path.endsWith('/responses') && req.method === 'POST' ? 'responses'
    : gemini && req.method === 'POST' ? 'gemini' : 'other';
  const entry = { n, method: req.method, path, kind, model: body.model, stream: !!body.stream,
    has_tools: Array.isArray(body.tools) && body.tools.length > 0, body,
    auth: { 'x-api-key': req.headers['x-api-key'] !== undefined,
      authorization: req.headers.authorization !== undefined } };
  if (gemini && kind === 'gemini') {
    // The model is in the path; streaming is the method's name.
    entry.model = decodeURIComponent(gemini[1]);
    entry.stream = gemini[2] === 'streamGenerateContent';
  }
  if (path === '/api/oauth/usage' && req.method === 'GET' && script.usage_endpoint) {
    // The subscription usage endpoint: the scripted answer to a GET with
    // the right bearer token and beta header, else a 401.
    const want = script.usage_endpoint;
    const ok = req.headers.authorization === `Bearer ${want.token}` &&
      req.headers['anthropic-beta'] === 'oauth-2025-04-20';
    entry.kind = 'usage';
    entry.status = ok ? 200 : 401;
    record(entry);
    sendJson(res, entry.status, ok ? want.answer : { error: 'unauthorized' });
    return;
  }
  if (kind === 'other') {
    // Claude Code says hello first, the Gemini CLI may count tokens;
    // anything else unknown is a 404.
    const countTokens = path.endsWith(':countTokens') && req.method === 'POST';
    entry.status = path === '/api/hello' || countTokens ? 200 : 404;
    record(entry);
    sendJson(res, entry.status,
      countTokens ? { totalTokens: 10 + Math.floor(bodyText.length / 100) } : {});
    return;
  }
  const key = keyOf(req);
  if (script.keys[key]) entry.key = key; // a scripted key: a test's, never a real one
  const reply = takeReply(key);
  const answer = () => {
    if (reply.drop) {
      entry.status = 0;
      record(entry);
      req.socket.destroy();
      return;
    }
    if (reply.body !== undefined) {
      entry.status = reply.status || 200;
      record(entry);
      res.writeHead(entry.status, { 'content-type': 'application/json', ...(reply.headers || {}) });
      res.end(String(reply.body));
      return;
    }
    if (reply.status && reply.status !== 200) {
      entry.status = reply.status;
      record(entry);
      sendJson(res, reply.status, errorBody(kind, reply.status, reply.error), reply.headers || {});
      return;
    }
    entry.status = 200;
    if (kind === 'anthropic') anthropicAnswer(req, res, body, bodyText, reply, n, entry);
    else if (kind === 'responses') responsesAnswer(req, res, body, bodyText, reply, n, entry);
    else if (kind === 'gemini') geminiAnswer(req, res, body, bodyText, reply, n, entry);
    else openaiAnswer(req, res, body, bodyText, reply, n, entry);
  };
  if (reply.delay_ms) setTimeout(answer, reply.delay_ms);
  else answer();
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => handle(req, res, Buffer.concat(chunks).toString('utf8')));
});
server.keepAliveTimeout = 1000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
});
process.on('SIGTERM', () => process.exit(0));
