// Checks on numeric flags, with messages that name the flag.
import { MinilmError } from '../errors.js';

function fail(flag: string, expected: string, value: unknown): never {
  throw new MinilmError(`--${flag} must be ${expected}, not ${String(value)}`, 'InvalidArg');
}

export function nonNegativeInteger(flag: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) fail(flag, 'a whole number >= 0', value);
  return value;
}

export function positiveInteger(flag: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) fail(flag, 'a whole number >= 1', value);
  return value;
}

export function fraction(flag: string, value: number): number {
  if (!Number.isFinite(value) || value < 0 || value >= 1) fail(flag, 'a number from 0 up to (not including) 1', value);
  return value;
}

/** A share that may be all: above 0, at most 1. */
export function share(flag: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0 || value > 1) fail(flag, 'a number above 0 and at most 1', value);
  return value;
}
