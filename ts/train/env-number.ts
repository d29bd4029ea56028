// The numbers a data-parallel rank reads from its environment (MINILM_BUCKET_MB,
// MINILM_COLLECTIVE_TIMEOUT, MINILM_RENDEZVOUS_TIMEOUT), read one way: a value that is not a number the
// setting accepts is refused, naming the rank and the variable, rather than quietly replaced by a default.
import { MinilmError } from '../errors.js';

/** The number in `env[name]`, undefined when unset; anything else than an `accepted` number is refused. */
export function numberFromEnv(env: NodeJS.ProcessEnv, name: string, rank: number, accepted: (value: number) => boolean, expected: string): number | undefined {
  const given = env[name];
  if (given === undefined) return undefined;
  const value = Number(given);
  if (given.trim() === '' || !Number.isFinite(value) || !accepted(value)) {
    throw new MinilmError(`rank ${rank}: ${name}=${given}: expected ${expected}`, 'InvalidArg');
  }
  return value;
}
