// Errors the library raises. Messages from the native core are already written for the user
// (file, row or line, what was found, what was expected): the CLI prints them as they are.

export type ErrorCode = 'Cancelled' | 'InvalidArg' | 'GenericFailure';

export class MinilmError extends Error {
  readonly code: ErrorCode;

  constructor(message: string, code: ErrorCode = 'GenericFailure') {
    super(message);
    this.name = code === 'Cancelled' ? 'AbortError' : 'MinilmError';
    this.code = code;
  }
}

/** Turns an error thrown by the addon into a MinilmError with the same message. */
export function fromNative(error: unknown): MinilmError {
  if (error instanceof MinilmError) return error;
  const e = error as { message?: string; code?: string };
  const code: ErrorCode = e.code === 'Cancelled' || e.code === 'InvalidArg' ? e.code : 'GenericFailure';
  return new MinilmError(String(e.message ?? error), code);
}

export function isCancelled(error: unknown): boolean {
  return error instanceof MinilmError && error.code === 'Cancelled';
}
