import { type ConnectOptions, connect, queueError, type RedisConnection } from "./connection.js";

/** Options of {@link redisStreamSink}. */
export interface RedisStreamSinkOptions<T> extends ConnectOptions {
  /** A `redis://host:port/db` URL (the sink opens and closes its client) or a client. */
  readonly connection: RedisConnection;
  readonly stream: string;
  /** Keep the stream near this length (`MAXLEN ~`); default: unbounded. */
  readonly maxLen?: number;
  /** An item's fields (default: `{ data: JSON.stringify(item) }`). */
  readonly encode?: (item: T) => Record<string, string | number>;
}

/** Appends items to a Redis stream, for work that a later stage of a larger flow picks up. */
export interface RedisStreamSink<T> {
  /** Appends one item; resolves with its entry id. */
  write(item: T): Promise<string>;
  /** Appends items in one round trip (a batch stage's output); resolves with their ids. */
  writeAll(items: readonly T[]): Promise<string[]>;
  /** Closes the client the sink opened (not a client it was given). */
  close(): Promise<void>;
}

/**
 * A sink that appends each item to a Redis stream (`XADD`): use `write` in a `map` stage, or
 * `writeAll` after a `batch` stage for one round trip per batch.
 *
 * @example
 * ```ts
 * const sink = redisStreamSink<{ path: string }>({ connection: "redis://127.0.0.1:6379", stream: "files" });
 * await StreamingPipeline.start<{ path: string }>().batch("b", 100).map("ids", sink.writeAll).executeFrom(files.map((path) => ({ path }))).next();
 * await sink.close();
 * ```
 */
export function redisStreamSink<T>(options: RedisStreamSinkOptions<T>): RedisStreamSink<T> {
  if (typeof options.stream !== "string" || options.stream === "") {
    throw new TypeError(
      `redisStreamSink: stream must be a non-empty string, got ${String(options.stream)}`,
    );
  }
  if (options.maxLen !== undefined && (!Number.isInteger(options.maxLen) || options.maxLen < 1)) {
    throw new RangeError(
      `redisStreamSink: maxLen must be a positive integer, got ${String(options.maxLen)}`,
    );
  }
  const { client, owned, where } = connect(options.connection, options);
  const encode = options.encode ?? ((item: T) => ({ data: JSON.stringify(item) }));
  const trim = options.maxLen === undefined ? [] : ["MAXLEN", "~", String(options.maxLen)];
  const args = (item: T): (string | number)[] => {
    const fields = Object.entries(encode(item)).flat();
    if (fields.length === 0) throw new TypeError("redisStreamSink: encode returned no fields");
    return [options.stream, ...trim, "*", ...fields];
  };
  return {
    async write(item) {
      try {
        return (await client.xadd(...(args(item) as [string, ...string[]]))) as string;
      } catch (error) {
        throw queueError(error, where, `XADD to ${options.stream}`);
      }
    },
    async writeAll(items) {
      if (items.length === 0) return [];
      const pipeline = client.pipeline();
      for (const item of items) pipeline.xadd(...(args(item) as [string, ...string[]]));
      let replies: [Error | null, unknown][] | null;
      try {
        replies = await pipeline.exec();
      } catch (error) {
        throw queueError(error, where, `XADD to ${options.stream}`);
      }
      return (replies ?? []).map(([error, id]) => {
        if (error) throw queueError(error, where, `XADD to ${options.stream}`);
        return id as string;
      });
    },
    async close() {
      if (owned) await client.quit().catch(() => client.disconnect());
    },
  };
}
