import { Redis } from "ioredis";

/** Why a Redis queue operation failed, with a code to branch on. */
export class RedisQueueError extends Error {
  constructor(
    readonly code: "REDIS_UNAVAILABLE" | "REDIS_COMMAND_FAILED" | "INVALID_OPTIONS",
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "RedisQueueError";
  }
}

/** How to reach Redis: a URL (`redis://host:port/db`) or a client the caller owns. */
export type RedisConnection = string | Redis;

/** Options of a connection this package opens from a URL. */
export interface ConnectOptions {
  /**
   * How long commands keep waiting while Redis is unreachable before they fail with
   * `REDIS_UNAVAILABLE` (default 10,000 ms). The client reconnects with backoff meanwhile.
   */
  readonly unavailableAfterMs?: number;
}

/** A URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== "") u.password = "***";
    return u.toString();
  } catch {
    return "(unparsable Redis URL)";
  }
}

/** Throws `INVALID_OPTIONS` unless `connection` is a client or a redis:// / rediss:// URL. */
export function checkConnection(connection: RedisConnection): void {
  if (typeof connection === "string" && !/^rediss?:\/\//.test(connection)) {
    throw new RedisQueueError(
      "INVALID_OPTIONS",
      `Redis URL must start with redis:// or rediss://, got ${JSON.stringify(redactUrl(connection))}`,
    );
  }
}

/** An open client and whether this package must close it. */
export interface OwnedClient {
  readonly client: Redis;
  readonly owned: boolean;
  readonly where: string;
}

const RETRY_STEP_MS = 100;
const RETRY_MAX_MS = 2_000;

/**
 * Opens a client for a URL (reconnecting with backoff, commands failing once Redis has been
 * away for `unavailableAfterMs`), or wraps the caller's client, which stays the caller's.
 */
export function connect(connection: RedisConnection, options: ConnectOptions = {}): OwnedClient {
  if (typeof connection !== "string") {
    return { client: connection, owned: false, where: "the given Redis client" };
  }
  checkConnection(connection);
  const unavailableAfterMs = options.unavailableAfterMs ?? 10_000;
  // Reconnect attempts fit in the budget: each command waits for at most this many.
  const retries = Math.max(1, Math.ceil(unavailableAfterMs / RETRY_MAX_MS) + 4);
  const client = new Redis(connection, {
    lazyConnect: true,
    maxRetriesPerRequest: retries,
    retryStrategy: (times) => Math.min(times * RETRY_STEP_MS, RETRY_MAX_MS),
    connectTimeout: Math.min(unavailableAfterMs, 10_000),
  });
  // Connection errors surface through the failing commands; without a listener ioredis
  // would print each reconnect attempt's error.
  client.on("error", () => {});
  return { client, owned: true, where: redactUrl(connection) };
}

/** Turns a client error into a `RedisQueueError` that names where and what. */
export function queueError(error: unknown, where: string, what: string): RedisQueueError {
  if (error instanceof RedisQueueError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const unavailable =
    /max retries per request|connection is closed|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH/i.test(
      message,
    );
  return new RedisQueueError(
    unavailable ? "REDIS_UNAVAILABLE" : "REDIS_COMMAND_FAILED",
    unavailable
      ? `Redis at ${where} is unreachable (${what}): ${message}`
      : `Redis at ${where}: ${what} failed: ${message}`,
    { cause: error },
  );
}

/**
 * A client for a `redis://` URL with this package's reconnect policy (see {@link connect}),
 * for the commands a source and sink do not cover (results streams, `XPENDING`, `XDEL`).
 * The caller closes it with `quit()`; give it to a source as its `connection` to keep the
 * source's acknowledgements working until the caller is done.
 */
export function redisClient(url: string, options: ConnectOptions = {}): Redis {
  return connect(url, options).client;
}
