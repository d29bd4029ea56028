// `minilm serve CHECKPOINT_DIR`: the OpenAI-compatible server (ts/serve/server.ts) until Ctrl-C or
// SIGTERM, which stop accepting, finish the requests in hand and exit.
import type { Argv } from 'yargs';
import { Model } from '../model/model.js';
import { serve } from '../serve/server.js';
import { nonNegativeInteger, positiveInteger } from './validate.js';

export function serveCommand(yargs: Argv): Argv {
  return yargs.command(
    'serve <checkpoint_dir>',
    'Serve a checkpoint over an OpenAI-compatible HTTP API (/v1/chat/completions, /v1/completions, /v1/models)',
    (y) =>
      y
        .positional('checkpoint_dir', { type: 'string', demandOption: true, describe: 'The model folder' })
        .option('host', { type: 'string', default: '127.0.0.1', describe: 'Address to listen on (0.0.0.0 opens it to the network)' })
        .option('port', { type: 'number', default: 8000, describe: 'Port to listen on (0 picks a free one)' })
        .option('api_key', {
          alias: 'api-key',
          type: 'string',
          describe: 'Require Authorization: Bearer KEY on every request [default: $MINILM_API_KEY, or no key]',
        })
        .option('max_tokens', { alias: 'max-tokens', type: 'number', default: 256, describe: 'The most tokens a request may generate (and the default)' })
        .option('max_batch', { alias: 'max-batch', type: 'number', default: 8, describe: 'Requests generating at once, decoded together' })
        .option('max_queue', {
          alias: 'max-queue',
          type: 'number',
          default: 32,
          describe: 'Requests waiting for room in the batch; past it a request gets 429 with Retry-After',
        })
        .option('request_timeout', {
          alias: 'request-timeout',
          type: 'number',
          default: 30,
          describe: 'Seconds a client may take to send its request (headers and body) before it is cut off',
        })
        .option('max_body_bytes', { alias: 'max-body-bytes', type: 'number', default: 1 << 20, describe: 'Largest request body accepted' })
        .option('model_name', { alias: 'model-name', type: 'string', describe: 'The model id clients see [default: the checkpoint folder]' })
        .option('tokenizer_dir', { alias: 'tokenizer-dir', type: 'string', describe: 'Tokenizer folder [default: the checkpoint folder]' })
        .option('device', { choices: ['cpu', 'cuda', 'auto'], default: 'cpu', describe: 'Where to run' }),
    async (argv) => {
      const model = await Model.load(argv.checkpoint_dir as string, {
        tokenizerDir: argv.tokenizer_dir as string | undefined,
        device: argv.device as 'cpu' | 'cuda' | 'auto',
      });
      const handle = await serve(model, {
        host: argv.host as string,
        port: nonNegativeInteger('port', argv.port as number),
        apiKey: (argv.api_key as string | undefined) ?? process.env.MINILM_API_KEY,
        maxTokens: positiveInteger('max_tokens', argv.max_tokens as number),
        maxBodyBytes: positiveInteger('max_body_bytes', argv.max_body_bytes as number),
        maxBatch: positiveInteger('max_batch', argv.max_batch as number),
        maxQueue: nonNegativeInteger('max_queue', argv.max_queue as number),
        requestTimeoutSeconds: positiveInteger('request_timeout', argv.request_timeout as number),
        modelName: argv.model_name as string | undefined,
        onLog: (line) => process.stderr.write(`${line}\n`),
      });
      process.stderr.write(`serving ${model.dir} at ${handle.url}/v1 (OpenAI-compatible; Ctrl-C stops)\n`);
      process.stderr.write(`chat page: ${handle.url}/\n`);
      await new Promise<void>((resolve) => {
        const stop = (name: NodeJS.Signals) => {
          process.stderr.write(`\n${name}: finishing the requests in hand, then exiting\n`);
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          handle.close().then(resolve, resolve);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
    },
  );
}
