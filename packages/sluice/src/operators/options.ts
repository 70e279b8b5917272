/** Throws a `RangeError` naming the option and stage unless `value` is a positive integer. */
export function positiveInt(value: unknown, option: string, key: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw new RangeError(
      `Stage "${key}": ${option} must be a positive integer, got ${String(value)}`,
    );
  }
  return value;
}

/** Throws a `RangeError` naming the option and stage unless `value` is an integer ≥ 0. */
export function nonNegativeInt(value: unknown, option: string, key: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0) {
    throw new RangeError(
      `Stage "${key}": ${option} must be a non-negative integer, got ${String(value)}`,
    );
  }
  return value;
}

/** Throws a `RangeError` unless `value` is a finite number > 0. */
export function positiveNumber(value: unknown, option: string, key: string): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new RangeError(
      `Stage "${key}": ${option} must be a finite number greater than 0, got ${String(value)}`,
    );
  }
  return value;
}

/** Throws a `TypeError` unless `value` is a function. */
export function requireFunction(value: unknown, what: string, key: string): void {
  if (typeof value !== "function") {
    throw new TypeError(`Stage "${key}": ${what} must be a function, got ${typeof value}`);
  }
}
