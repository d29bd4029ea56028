// `serve(model, options)`: an OpenAI-compatible HTTP server on node:http.
//
//   GET  /v1/models             the one model
//   POST /v1/chat/completions   messages through the chat template; stream: server-sent events in
//                               OpenAI's chunk format ending with `data: [DONE]`, usage at the end
//   POST /v1/completions        raw text continuation, likewise
//
// Requests are served one generation at a time, in arrival order: the model uses every core for one
// sequence, so running two at once would only slow both. Each request has its own generator, so two
// streams never mix. A client that disconnects stops its generation (or leaves the queue). Errors come
// back as OpenAI's {"error": {message, type, param, code}} with the matching status. close() stops
// accepting, lets the running and queued requests finish, then resolves.
import { randomUUID, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { StopStrings, untilStop } from '../chat/stop-strings.js';
import { isCancelled, MinilmError } from '../errors.js';
import type { Model } from '../model/model.js';
import { ApiError, parseMessages, parsePrompt, parseSampling, type ParsedRequest } from './requests.js';

export interface ServeOptions {
  /** Default 127.0.0.1: only this machine can connect. */
  host?: string;
  /** Default 8000; 0 picks a free port. */
  port?: number;
  /** When set, every request must send `Authorization: Bearer KEY`. */
  apiKey?: string;
  /** The model's name in responses and /v1/models (default: the checkpoint folder's name). */
  modelName?: string;
  /** Largest request body in bytes (default 1 MiB). */
  maxBodyBytes?: number;
  /** Largest max_tokens a request may ask for, and the default (default 256, at most block_size). */
  maxTokens?: number;
  /** Requests waiting beyond the running one before new ones get 429 (default 32). */
  maxQueue?: number;
  /** Called with one line per request served. */
  onLog?: (line: string) => void;
}

export interface ServerHandle {
  url: string;
  port: number;
  /** Stops accepting connections, waits for the requests in hand, then resolves. */
  close(): Promise<void>;
}

export async function serve(model: Model, options: ServeOptions = {}): Promise<ServerHandle> {
  const host = options.host ?? '127.0.0.1';
  const modelName = options.modelName ?? (model.dir.split('/').filter(Boolean).slice(-2).join('/') || 'minilm');
  const limits = { maxTokens: Math.min(options.maxTokens ?? 256, model.config.block_size - 1) };
  const maxBody = options.maxBodyBytes ?? 1 << 20;
  const maxQueue = options.maxQueue ?? 32;
  const log = options.onLog ?? (() => {});
  const created = Math.floor(Date.now() / 1000);
  const queue = new GenerationQueue();
  let draining = false;

  const server = http.createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) {
        const api = toApiError(error);
        // After a body too large to read, the connection is not kept for another request.
        if (api.status === 413) response.setHeader('connection', 'close');
        sendJson(response, api.status, api.toJson());
      } else response.end();
    });
  });

  async function handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    // `/v1//models` (a base URL that ends in /, as Open WebUI sends it) is `/v1/models`.
    const route = (request.url ?? '/')
      .split('?')[0]
      .replace(/\/{2,}/g, '/')
      .replace(/\/+$/, '');
    if (options.apiKey !== undefined && !authorized(request.headers.authorization, options.apiKey)) {
      throw new ApiError(401, 'missing or wrong API key: send Authorization: Bearer KEY', 'invalid_request_error', null, 'invalid_api_key');
    }
    if (draining) throw new ApiError(503, 'the server is shutting down', 'server_error');
    if (route === '/v1/models' || route === '/models') {
      if (request.method !== 'GET') throw new ApiError(405, `${request.method} ${route} is not supported; use GET`);
      return sendJson(response, 200, { object: 'list', data: [{ id: modelName, object: 'model', created, owned_by: 'minilm' }] });
    }
    const chat = route === '/v1/chat/completions' || route === '/chat/completions';
    const completion = route === '/v1/completions' || route === '/completions';
    if (!chat && !completion)
      throw new ApiError(404, `no route ${request.method} ${route}; minilm serves /v1/chat/completions, /v1/completions and /v1/models`);
    if (request.method !== 'POST') throw new ApiError(405, `${request.method} ${route} is not supported; use POST`);
    const body = await readJson(request, maxBody);
    const parsed = parseSampling(body, limits);
    const job = chat ? { messages: parseMessages(body) } : { prompt: parsePrompt(body) };
    if (queue.waiting >= maxQueue) throw new ApiError(429, `${queue.waiting} requests are already waiting; try again shortly`, 'rate_limit_error');

    // A client that goes away stops its generation, or leaves the queue.
    const gone = new AbortController();
    response.on('close', () => {
      if (!response.writableFinished) gone.abort();
    });
    let made: Counts | null = null;
    await queue.run(gone.signal, async () => {
      made = await generate(model, job, parsed, gone.signal, response, { chat, modelName });
    });
    const tokens = (made as Counts | null)?.newTokens ?? 0;
    if (gone.signal.aborted) log(`${route}: the client disconnected; generation stopped after ${tokens} tokens`);
    else log(`${route}: ${tokens} tokens${parsed.stream ? ', streamed' : ''}`);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new MinilmError(
          `cannot listen on ${host}:${options.port ?? 8000}: ${error.code === 'EADDRINUSE' ? 'the port is in use' : error.message}`,
          'InvalidArg',
        ),
      ),
    );
    server.listen(options.port ?? 8000, host, resolve);
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    close: async () => {
      draining = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await queue.idle();
      await closed;
    },
  };
}

type Job = { messages: import('../chat/template.js').ChatMessage[] } | { prompt: string };

async function generate(
  model: Model,
  job: Job,
  parsed: ParsedRequest,
  signal: AbortSignal,
  response: http.ServerResponse,
  context: { chat: boolean; modelName: string },
): Promise<Counts | null> {
  if (signal.aborted) return null;
  const id = `${context.chat ? 'chatcmpl' : 'cmpl'}-${randomUUID().replaceAll('-', '')}`;
  const created = Math.floor(Date.now() / 1000);
  const { chat, modelName } = context;
  const object = chat ? 'chat.completion' : 'text_completion';
  const { pieces, stats } = stream(model, job, parsed, signal);
  const choice = (text: string, finish: string | null, first = false) =>
    chat
      ? { index: 0, delta: first ? { role: 'assistant', content: text } : { content: text }, finish_reason: finish }
      : { index: 0, text, logprobs: null, finish_reason: finish };
  if (parsed.stream) {
    // The first piece comes before the headers: a request that cannot run (a conversation longer than
    // the context, say) still gets its status and error JSON rather than an event stream.
    const iterator = pieces[Symbol.asyncIterator]();
    let next: IteratorResult<string>;
    try {
      next = await iterator.next();
    } catch (error) {
      if (signal.aborted || isCancelled(error)) return null;
      throw error;
    }
    response.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const send = (payload: unknown) => response.write(`data: ${JSON.stringify(payload)}\n\n`);
    const chunk = (choices: unknown[], usage?: unknown) =>
      send({ id, object: chat ? 'chat.completion.chunk' : 'text_completion', created, model: modelName, choices, ...(usage ? { usage } : {}) });
    let first = true;
    try {
      if (chat) {
        chunk([choice('', null, true)]);
        first = false;
      }
      for (; !next.done; next = await iterator.next()) chunk([choice(next.value, null, first)]);
    } catch (error) {
      if (signal.aborted || isCancelled(error)) return stats();
      send(toApiError(error).toJson());
      response.end('data: [DONE]\n\n');
      return null;
    }
    const s = stats();
    chunk([choice('', finishReason(s.stop))]);
    if (parsed.includeUsage) chunk([], usage(s));
    response.end('data: [DONE]\n\n');
    return s;
  }
  let text = '';
  try {
    for await (const piece of pieces) text += piece;
  } catch (error) {
    if (signal.aborted || isCancelled(error)) return stats();
    throw error;
  }
  const s = stats();
  const finish = finishReason(s.stop);
  const choices = chat
    ? [{ index: 0, message: { role: 'assistant', content: text }, logprobs: null, finish_reason: finish }]
    : [{ index: 0, text, logprobs: null, finish_reason: finish }];
  sendJson(response, 200, { id, object, created, model: modelName, choices, usage: usage(s) });
  return s;
}

interface Counts {
  promptTokens: number;
  newTokens: number;
  stop: string;
}

/** The pieces of one request's text, and its counts once they are all read. */
function stream(model: Model, job: Job, parsed: ParsedRequest, signal: AbortSignal): { pieces: AsyncIterable<string>; stats: () => Counts } {
  const { stop, fillContext, ...sampling } = parsed.options;
  if ('messages' in job) {
    const reply = model.chat(job.messages, { ...parsed.options, signal });
    return { pieces: reply, stats: () => reply.stats! };
  }
  const promptIds = model.tokenizer.encode(job.prompt);
  const room = model.config.block_size - promptIds.length;
  if (room < 1)
    throw new ApiError(
      400,
      `the prompt is ${promptIds.length} tokens; the model's block_size is ${model.config.block_size}`,
      'invalid_request_error',
      'prompt',
    );
  const maxNewTokens = fillContext ? Math.min(sampling.maxNewTokens!, room) : sampling.maxNewTokens;
  const generation = model.generateIds(promptIds, { ...sampling, maxNewTokens, signal });
  const stops = new StopStrings(stop ?? []);
  return { pieces: untilStop(generation, stops), stats: () => ({ ...generation.stats!, stop: stops.stopped ? 'stop' : generation.stats!.stop }) };
}

function finishReason(stop: string): 'stop' | 'length' {
  return stop === 'max_new_tokens' ? 'length' : 'stop';
}

function usage(s: Counts) {
  return { prompt_tokens: s.promptTokens, completion_tokens: s.newTokens, total_tokens: s.promptTokens + s.newTokens };
}

/** One generation at a time, first come first served. */
class GenerationQueue {
  private tail: Promise<void> = Promise.resolve();
  waiting = 0;

  run(signal: AbortSignal, work: () => Promise<void>): Promise<void> {
    this.waiting += 1;
    const turn = this.tail.then(async () => {
      this.waiting -= 1;
      if (!signal.aborted) await work();
    });
    this.tail = turn.catch(() => {});
    return turn;
  }

  idle(): Promise<void> {
    return this.tail;
  }
}

function authorized(header: string | undefined, key: string): boolean {
  const given = Buffer.from(header?.startsWith('Bearer ') ? header.slice(7).trim() : '');
  const expected = Buffer.from(key);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function readJson(request: http.IncomingMessage, maxBytes: number): Promise<Record<string, unknown>> {
  const tooLarge = (what: string) => new ApiError(413, `the request body is ${what}, over this server's limit of ${maxBytes} bytes (--max_body_bytes)`);
  const declared = Number(request.headers['content-length']);
  if (declared > maxBytes) {
    // Said up front: answered without reading it. The rest is read and dropped, so that the client
    // gets the answer rather than a reset connection.
    request.resume();
    return Promise.reject(tooLarge(`${declared} bytes`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const collect = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) return chunks.push(chunk);
      request.off('data', collect);
      request.resume(); // keep reading, dropping it: the 413 reaches the client
      reject(tooLarge('longer'));
    };
    request.on('data', collect);
    request.on('end', () => {
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch (error) {
        return reject(new ApiError(400, `the request body is not valid JSON (${(error as Error).message})`));
      }
      if (typeof body !== 'object' || body === null || Array.isArray(body)) return reject(new ApiError(400, 'the request body must be a JSON object'));
      resolve(body as Record<string, unknown>);
    });
    request.on('error', reject);
  });
}

function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof MinilmError && error.code === 'InvalidArg') return new ApiError(400, error.message);
  return new ApiError(500, `internal error: ${error instanceof Error ? error.message : String(error)}`, 'server_error');
}

function sendJson(response: http.ServerResponse, status: number, payload: unknown): void {
  const text = JSON.stringify(payload);
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}
