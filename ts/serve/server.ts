// `serve(model, options)`: an OpenAI-compatible HTTP server on node:http.
//
//   GET  /v1/models             the one model
//   POST /v1/chat/completions   messages through the chat template; stream: server-sent events in
//                               OpenAI's chunk format ending with `data: [DONE]`, usage at the end
//   POST /v1/completions        raw text continuation, likewise
//   GET  /health                {"status": "ok"} with what is running
//   GET  /metrics               Prometheus text (metrics.ts)
//
// Requests in flight generate together: the model's batcher (model/decode-batcher.ts) decodes up to
// --max_batch sequences per step, and a request's tokens are the same as if it ran alone. Beyond that
// requests wait in a queue of at most --max_queue; past it they get 429 with Retry-After. Nothing but
// generation waits for the model, so /health, /metrics and /v1/models answer at once. A client that
// disconnects leaves the batch (or the queue) at once. Errors come back as OpenAI's {"error":
// {message, type, param, code}} with the matching status. A client that sends its headers or body too
// slowly is cut off after --request_timeout. close() stops accepting, lets the requests in hand
// finish, then resolves.
import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { MinilmError } from '../errors.js';
import type { Model } from '../model/model.js';
import { sendChatPage } from './chat-page.js';
import { ApiError, parseMessages, parsePrompt, parseSampling } from './requests.js';
import { generate, toApiError } from './completion.js';
import { sendJson, sendText } from './send.js';
import { ServerMetrics } from './metrics.js';

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
  /** Sequences generating at once, decoded together (default 8). */
  maxBatch?: number;
  /** Requests waiting for room in the batch before new ones get 429 (default 32). */
  maxQueue?: number;
  /** Seconds a client may take to send its headers and body before it is cut off (default 30). */
  requestTimeoutSeconds?: number;
  /** Called with one line per request served. */
  onLog?: (line: string) => void;
}

export interface ServerHandle {
  url: string;
  port: number;
  /** What /metrics reports. */
  metrics: ServerMetrics;
  /** Stops accepting connections, waits for the requests in hand, then resolves. */
  close(): Promise<void>;
}

export async function serve(model: Model, options: ServeOptions = {}): Promise<ServerHandle> {
  const host = options.host ?? '127.0.0.1';
  const modelName = options.modelName ?? (model.dir.split('/').filter(Boolean).slice(-2).join('/') || 'minilm');
  const limits = { maxTokens: Math.min(options.maxTokens ?? 256, model.config.block_size - 1) };
  const maxBody = options.maxBodyBytes ?? 1 << 20;
  const maxQueue = options.maxQueue ?? 32;
  model.batcher.maxBatch = options.maxBatch ?? 8;
  const log = options.onLog ?? (() => {});
  const created = Math.floor(Date.now() / 1000);
  const metrics = new ServerMetrics();
  const inFlight = new InFlight();
  let draining = false;

  const timeoutMs = (options.requestTimeoutSeconds ?? 30) * 1000;
  const serverOptions: http.ServerOptions = {
    // Node's defaults let a slow client hold a connection for a minute or more; these cut one that
    // sends its headers, or its whole request, too slowly. Checked every second rather than every 30.
    headersTimeout: timeoutMs,
    requestTimeout: timeoutMs,
    connectionsCheckingInterval: Math.min(1000, timeoutMs),
  };
  const server = http.createServer(serverOptions, (request, response) => {
    const started = performance.now();
    response.on('finish', () => metrics.answered(response.statusCode, performance.now() - started));
    handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) {
        const api = toApiError(error);
        // After a body too large to read, the connection is not kept for another request.
        if (api.status === 413) response.setHeader('connection', 'close');
        if (api.retryAfterSeconds !== undefined) response.setHeader('retry-after', String(api.retryAfterSeconds));
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
    if (route === '/health' || route === '') {
      if (request.method !== 'GET') throw new ApiError(405, `${request.method} ${route || '/'} is not supported; use GET`);
      return route === '/health' ? sendJson(response, 200, { status: draining ? 'draining' : 'ok', ...model.batcher.stats() }) : sendChatPage(response);
    }
    if (route === '/metrics') return sendText(response, 200, metrics.render(model.batcher.stats()), 'text/plain; version=0.0.4; charset=utf-8');
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
    if (parsed.n > model.batcher.maxBatch)
      throw new ApiError(400, `n is ${parsed.n}, more than this server's --max_batch of ${model.batcher.maxBatch}`, 'invalid_request_error', 'n');
    // Refused only when it would have to wait and the queue is full (--max_queue 0: never wait).
    const { waiting } = model.batcher.stats();
    if (model.batcher.wouldWait(parsed.n) && waiting >= maxQueue) {
      // About how long until a place frees: the waiting requests' turns at the current pace.
      const retryAfter = Math.max(1, Math.ceil(metrics.secondsPerRequest() * (waiting / model.batcher.maxBatch + 1)));
      throw new ApiError(
        429,
        `${waiting} requests are already waiting for the model; try again in ${retryAfter} s`,
        'rate_limit_error',
        null,
        null,
        retryAfter,
      );
    }

    // A client that goes away stops its generation, or leaves the queue.
    const gone = new AbortController();
    response.on('close', () => {
      if (!response.writableFinished) gone.abort();
    });
    const made = await inFlight.track(generate(model, job, parsed, gone.signal, response, { chat, modelName }));
    const tokens = made?.newTokens ?? 0;
    metrics.generated(made);
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
    metrics,
    port,
    close: async () => {
      draining = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await inFlight.idle();
      await closed;
    },
  };
}

/** The requests being answered, so that close() can wait for them. */
class InFlight {
  private readonly running = new Set<Promise<unknown>>();

  track<T>(work: Promise<T>): Promise<T> {
    this.running.add(work);
    const done = () => this.running.delete(work);
    work.then(done, done);
    return work;
  }

  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
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
