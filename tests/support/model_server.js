#!/usr/bin/env node
// A scripted model server on loopback, for engine tests: answers the
// Anthropic Messages API (as Claude Code calls it, server-sent events
// included) and OpenAI chat completions from a script, and logs every
// request with the usage it reported. No network beyond 127.0.0.1, no
// dependencies beyond Node itself. The script format is in
// tests/support/model_server.hpp.
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
let count = 0; // requests seen
const log = [];

function load(text) {
  const parsed = JSON.parse(text);
  if (!parsed || typeof parsed !== 'object') throw new Error('the script must be a JSON object');
  script = { replies: parsed.replies || [], default: parsed.default };
  next = 0;
}

if (argument('--script')) load(fs.readFileSync(argument('--script'), 'utf8'));

function record(entry) {
  log.push(entry);
  if (logPath) fs.appendFileSync(logPath, JSON.stringify(entry) + '\n');
}

function takeReply() {
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

function toolInput(input, bodyText) {
  const cwd = cwdOf(bodyText);
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
  const kind = path.endsWith('/messages') ? 'anthropic'
    : path.endsWith('/chat/completions') ? 'openai' : 'other';
  const entry = { n, method: req.method, path, kind, model: body.model, stream: !!body.stream,
    has_tools: Array.isArray(body.tools) && body.tools.length > 0, body,
    auth: { 'x-api-key': req.headers['x-api-key'] !== undefined,
      authorization: req.headers.authorization !== undefined } };
  if (kind === 'other') {
    // Claude Code says hello first; anything else unknown is a 404.
    entry.status = path === '/api/hello' ? 200 : 404;
    record(entry);
    sendJson(res, entry.status, {});
    return;
  }
  const reply = takeReply();
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
      const error = reply.error || { type: 'api_error', message: `scripted status ${reply.status}` };
      const errorBody = kind === 'anthropic' ? { type: 'error', error }
        : { error: { message: error.message, type: error.type, code: error.code ?? null } };
      sendJson(res, reply.status, errorBody, reply.headers || {});
      return;
    }
    entry.status = 200;
    if (kind === 'anthropic') anthropicAnswer(req, res, body, bodyText, reply, n, entry);
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
