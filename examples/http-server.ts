// A small HTTP server that streams completions from a minilm checkpoint: node:http, no framework.
//
//   node --import tsx examples/http-server.ts out/pretrain/108m/final          # 127.0.0.1:8787
//   curl -N localhost:8787/generate -d '{"prompt": "床前明月光", "max_new_tokens": 40}'
//
// POST /generate with a JSON body {prompt, max_new_tokens?, temperature?, top_k?, top_p?,
// repetition_penalty?, seed?}; the reply is text/plain, streamed as the tokens come. Safe by default:
// it listens on 127.0.0.1 (HOST=0.0.0.0 to open it), caps the body and max_new_tokens, answers bad JSON
// or options with 400 and a message, and stops generating for a client that disconnects.
import http from 'node:http';
import { isCancelled, MinilmError, Model } from 'minilm';

const MAX_BODY_BYTES = 64 * 1024;
const MAX_NEW_TOKENS_CAP = Number(process.env.MAX_NEW_TOKENS_CAP ?? 256);

class BadRequest extends Error {}

function readBody(request: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new BadRequest(`the request body is over ${MAX_BODY_BYTES} bytes`));
        request.destroy();
      } else chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

/** The request's options, checked: anything unexpected is a 400 with the reason. */
function parseRequest(body: string) {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new BadRequest('the body is not valid JSON; send {"prompt": "...", "max_new_tokens": 50}');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new BadRequest('the body must be a JSON object');
  const o = json as Record<string, unknown>;
  const known = new Set(['prompt', 'max_new_tokens', 'temperature', 'top_k', 'top_p', 'repetition_penalty', 'seed']);
  const unknown = Object.keys(o).filter((k) => !known.has(k));
  if (unknown.length > 0) throw new BadRequest(`unknown option ${unknown.join(', ')}; accepted: ${[...known].join(', ')}`);
  if (typeof o.prompt !== 'string' || o.prompt.length === 0) throw new BadRequest('prompt must be a non-empty string');
  const num = (key: string): number | undefined => {
    if (o[key] === undefined) return undefined;
    if (typeof o[key] !== 'number') throw new BadRequest(`${key} must be a number`);
    return o[key] as number;
  };
  const maxNewTokens = num('max_new_tokens') ?? 50;
  if (maxNewTokens > MAX_NEW_TOKENS_CAP) throw new BadRequest(`max_new_tokens is capped at ${MAX_NEW_TOKENS_CAP}`);
  return {
    prompt: o.prompt,
    options: {
      maxNewTokens,
      temperature: num('temperature'),
      topK: num('top_k'),
      topP: num('top_p'),
      repetitionPenalty: num('repetition_penalty'),
      seed: num('seed'),
    },
  };
}

export function createServer(model: Model): http.Server {
  return http.createServer(async (request, response) => {
    if (request.method !== 'POST' || request.url !== '/generate') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('POST /generate with {"prompt": "..."}\n');
      return;
    }
    const stop = new AbortController();
    // The client went away before the end: stop generating for it.
    response.on('close', () => stop.abort());
    try {
      const { prompt, options } = parseRequest(await readBody(request));
      const generation = model.generate(prompt, { ...options, signal: stop.signal });
      const pieces = generation[Symbol.asyncIterator]();
      const first = await pieces.next(); // option errors surface here, before any 200 is sent
      response.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      for (let item = first; !item.done; item = await pieces.next()) response.write(item.value);
      response.end();
    } catch (error) {
      if (isCancelled(error)) return; // the client disconnected
      const bad = error instanceof BadRequest || (error instanceof MinilmError && error.code === 'InvalidArg');
      if (!response.headersSent) response.writeHead(bad ? 400 : 500, { 'content-type': 'text/plain' });
      response.end(`${bad ? '' : 'error: '}${(error as Error).message}\n`);
    }
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dir = process.argv[2];
  if (!dir) {
    process.stderr.write('usage: node --import tsx examples/http-server.ts CHECKPOINT_DIR\n');
    process.exit(2);
  }
  const model = await Model.load(dir);
  const host = process.env.HOST ?? '127.0.0.1';
  const port = Number(process.env.PORT ?? 8787);
  createServer(model).listen(port, host, () => process.stdout.write(`listening on http://${host}:${port}/generate\n`));
}
