/**
 * Validation of user options: every problem is a TypeError or RangeError
 * that names the option and the allowed range.
 *
 * @module
 */

/** Refuses keys an options object does not know: a misspelt `direct` or
 * `length` must not quietly give a buffered file or send a whole buffer.
 * `what` names the call ("openFile", "conn.write"). */
export function knownKeys(what: string, options: unknown, known: readonly string[]): void {
  const e = unknownKeyError(what, options, known);
  if (e !== null) throw e;
}

/** {@linkcode knownKeys}'s error, or null: for calls that reject instead. */
export function unknownKeyError(
  what: string,
  options: unknown,
  known: readonly string[],
): TypeError | null {
  if (options === undefined || options === null) return null; // null: the defaults, as before
  if (typeof options !== "object") {
    return new TypeError(`${what} options must be an object, got ${String(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      return new TypeError(`${what}: unknown option "${key}" (known: ${known.join(", ")})`);
    }
  }
  return null;
}

/** Longest `timeout` (ms): setTimeout fires at once beyond 2^31 - 1. */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** The error for bad request options `signal` / `timeout` (an AbortSignal,
 * milliseconds from 0 to MAX_TIMEOUT_MS), or null. Checked before anything
 * reaches the kernel: a request whose options fail after it was queued
 * would reject while the kernel still used its buffer. */
export function signalTimeoutError(
  what: string,
  options: { signal?: unknown; timeout?: unknown } | undefined | null,
): TypeError | RangeError | null {
  const signal = options?.signal;
  const timeout = options?.timeout;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    return new TypeError(`${what}: option signal must be an AbortSignal, got ${String(signal)}`);
  }
  if (timeout !== undefined && typeof timeout !== "number") {
    return new TypeError(
      `${what}: option timeout must be a number of milliseconds, got ${typeof timeout}`,
    );
  }
  if (timeout !== undefined && (!(timeout >= 0) || timeout > MAX_TIMEOUT_MS)) {
    return new RangeError(
      `${what}: option timeout must be milliseconds from 0 to ${MAX_TIMEOUT_MS}, got ${
        String(timeout)
      }`,
    );
  }
  return null;
}

/** unknownKeyError, then signalTimeoutError: a request's options. */
export function requestOptionsError(
  what: string,
  options: unknown,
  known: readonly string[],
): TypeError | RangeError | null {
  return unknownKeyError(what, options, known) ??
    signalTimeoutError(what, options as { signal?: unknown; timeout?: unknown } | undefined);
}

/** Checks an optional integer option and returns it or its default. */
export function intOption(
  name: string,
  value: unknown,
  min: number,
  max: number,
  fallback: number,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number") {
    throw new TypeError(`option ${name} must be a number, got ${typeof value}`);
  }
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(
      `option ${name} must be an integer from ${min} to ${max}, got ${value}`,
    );
  }
  return value;
}

/** Checks an optional enumerated string option. */
export function enumOption<T extends string>(
  name: string,
  value: unknown,
  allowed: readonly T[],
  fallback: T,
): T {
  if (value === undefined) return fallback;
  if (typeof value !== "string" || !allowed.includes(value as T)) {
    throw new TypeError(
      `option ${name} must be one of ${allowed.map((a) => `"${a}"`).join(", ")}, got ${
        String(value)
      }`,
    );
  }
  return value as T;
}

/** Checks an optional boolean option. */
export function boolOption(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean") {
    throw new TypeError(`option ${name} must be a boolean, got ${typeof value}`);
  }
  return value;
}

/** Checks an optional name option. */
export function nameOption(value: unknown, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== "string" || value.length === 0) {
    throw new TypeError(`option name must be a non-empty string`);
  }
  return value;
}

/** The error for an allocation size that is not an integer from 1 to
 * 2^32-1 (the C ABI's u32). */
export function sizeError(size: unknown): RangeError | TypeError {
  if (typeof size !== "number") {
    return new TypeError(`size must be a number of bytes, got ${typeof size}`);
  }
  return new RangeError(
    `size must be an integer from 1 to ${0xffffffff} bytes, got ${String(size)}`,
  );
}
