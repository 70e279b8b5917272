import type { Redis } from "ioredis";
import {
  type AcknowledgedSource,
  type AckOutcome,
  acknowledged,
  type Delivery,
  type PullSource,
} from "sluice";
import {
  type ConnectOptions,
  checkConnection,
  connect,
  type OwnedClient,
  queueError,
  type RedisConnection,
  RedisQueueError,
} from "./connection.js";

/** One stream entry as the pipeline sees it. */
export interface StreamEntry {
  /** The entry's id in the stream (`1700000000000-0`). */
  readonly id: string;
  /** Its field/value pairs. */
  readonly fields: Readonly<Record<string, string>>;
  /** How many times the group has delivered it, this delivery included. */
  readonly deliveries: number;
}

/** Options of {@link redisStreamSource}. */
export interface RedisStreamSourceOptions extends ConnectOptions {
  /** A `redis://host:port/db` URL (this source opens and closes its clients) or a client. */
  readonly connection: RedisConnection;
  readonly stream: string;
  /** The consumer group; created (with the stream) when missing. */
  readonly group: string;
  /** This consumer's name, unique within the group (e.g. host name + pid). */
  readonly consumer: string;
  /** Where a group created here starts: `"0"` (default) the whole stream, `"$"` new entries only. */
  readonly startId?: string;
  /** Longest blocking read while the stream is idle (default 2,000 ms). A stop interrupts it. */
  readonly blockMs?: number;
  /**
   * An entry pending this long with a consumer that did not acknowledge it (a crashed or
   * stuck worker) is claimed by this one (default 60,000 ms).
   */
  readonly claimIdleMs?: number;
  /** An entry delivered more than this many times goes to the dead-letter stream (default 5). */
  readonly maxDeliveries?: number;
  /** Where dead entries go (default `<stream>:dead`), with their last error. */
  readonly deadLetterStream?: string;
  /** Most entries one read asks for, whatever the demand (default 100). */
  readonly maxRead?: number;
  /**
   * End the source (the run completes) once the stream has nothing new and nothing is
   * pending in the group: for batch jobs that drain a queue. Default false: wait for more.
   */
  readonly exitWhenIdle?: boolean;
  /**
   * Ends the source when aborted: no more reads (a blocking one is interrupted), so the run
   * finishes what it has read, acknowledges it and completes. For a graceful stop (SIGTERM),
   * unlike the run's own signal, which abandons the work in flight.
   */
  readonly endSignal?: AbortSignal;
  /**
   * Called before an entry is acknowledged, left pending after a failure, or dead-lettered,
   * with whether that is its last delivery here (`final`: acknowledged, or dead-lettered).
   * Report an entry's result here: a consumer that dies between the report and the `XACK`
   * reports it again on redelivery, while one that acknowledged first could not. A rejection
   * fails the run (`AckError`) and leaves the entry pending.
   */
  readonly beforeAck?: (entry: StreamEntry, settled: EntrySettlement) => Promise<void> | void;
}

/** What became of a delivered entry, as {@link RedisStreamSourceOptions.beforeAck} hears it. */
export interface EntrySettlement {
  readonly outcome: AckOutcome;
  /** The last failure, with `failed`. */
  readonly error?: unknown;
  /** Whether the entry leaves the group's pending list now (done, filtered, or dead). */
  readonly final: boolean;
}

/**
 * A source of a Redis stream's entries for a consumer group, for `executeFrom`: each read
 * (`XREADGROUP`) asks for the pipeline's demand, blocking while the stream is idle (a stop
 * interrupts it). An entry is acknowledged (`XACK`) once it and everything derived from it
 * have left the pipeline, filtered or done; a failed entry stays pending, to be delivered
 * again, and after `maxDeliveries` goes to the dead-letter stream with its last error.
 * Entries that another consumer left pending for `claimIdleMs` are claimed (`XAUTOCLAIM`).
 * Delivery is at least once: make the sink idempotent (an upsert by id).
 *
 * @example
 * ```ts
 * const source = redisStreamSource({ connection: "redis://127.0.0.1:6379", stream: "jobs", group: "workers", consumer: "w1" });
 * for await (const entry of StreamingPipeline.start<StreamEntry>().executeFrom(source)) console.log(entry.fields);
 * ```
 */
export function redisStreamSource(
  options: RedisStreamSourceOptions,
): AcknowledgedSource<StreamEntry> {
  return acknowledged(new StreamReader(validate(options)));
}

type Settings = Required<
  Omit<RedisStreamSourceOptions, "unavailableAfterMs" | "endSignal" | "beforeAck">
> &
  Pick<RedisStreamSourceOptions, "unavailableAfterMs" | "endSignal" | "beforeAck">;

function validate(o: RedisStreamSourceOptions): Settings {
  checkConnection(o.connection);
  for (const name of ["stream", "group", "consumer"] as const) {
    if (typeof o[name] !== "string" || o[name] === "") {
      throw new TypeError(
        `redisStreamSource: ${name} must be a non-empty string, got ${String(o[name])}`,
      );
    }
  }
  const positive = (name: string, value: number) => {
    if (!Number.isInteger(value) || value < 1) {
      throw new RangeError(
        `redisStreamSource: ${name} must be a positive integer, got ${String(value)}`,
      );
    }
    return value;
  };
  return {
    ...o,
    startId: o.startId ?? "0",
    blockMs: positive("blockMs", o.blockMs ?? 2_000),
    claimIdleMs: positive("claimIdleMs", o.claimIdleMs ?? 60_000),
    maxDeliveries: positive("maxDeliveries", o.maxDeliveries ?? 5),
    deadLetterStream: o.deadLetterStream ?? `${o.stream}:dead`,
    maxRead: positive("maxRead", o.maxRead ?? 100),
    exitWhenIdle: o.exitWhenIdle ?? false,
  };
}

type RawEntry = [id: string, fields: string[] | null];

/** The last error of a failed entry, kept until it is retried or dead. */
const errorsKey = (stream: string) => `${stream}:errors`;

class StreamReader implements PullSource<Delivery<StreamEntry>> {
  private conn: OwnedClient | undefined;
  /** Blocking reads hold a connection: they get one of their own. */
  private blocking: Redis | undefined;
  private ready: Promise<void> | undefined;
  private nextClaimAt = 0;
  private claimCursor = "0-0";
  private closed = false;
  /** The source ended itself (`endSignal`, idle): acks of what it delivered are still to come. */
  private ended = false;
  /** Deliveries not acknowledged yet. */
  private unsettled = 0;
  private closeWhenSettled = false;
  /** The run's signal for this source's pulls: aborted when the run stops. */
  private signal: AbortSignal | undefined;

  constructor(private readonly s: Settings) {}

  async pull(demand: number, signal: AbortSignal): Promise<Delivery<StreamEntry>[] | null> {
    this.signal = signal;
    if (this.s.endSignal?.aborted) return this.end();
    await (this.ready ??= this.init());
    const n = Math.min(demand, this.s.maxRead);
    if (Date.now() >= this.nextClaimAt) {
      const claimed = await this.reclaim(n);
      if (claimed.length > 0) return claimed;
    }
    const blockMs = Math.max(1, Math.min(this.s.blockMs, this.nextClaimAt - Date.now()));
    const blocking = this.blocking as Redis;
    // A blocking read cannot be cancelled in the protocol: closing its connection ends it.
    // What it had read is pending in the group, and is claimed again later.
    const interrupt = () => blocking.disconnect();
    signal.addEventListener("abort", interrupt, { once: true });
    this.s.endSignal?.addEventListener("abort", interrupt, { once: true });
    let reply: [string, RawEntry[]][] | null;
    try {
      reply = (await blocking.xreadgroup(
        "GROUP",
        this.s.group,
        this.s.consumer,
        "COUNT",
        n,
        "BLOCK",
        blockMs,
        "STREAMS",
        this.s.stream,
        ">",
      )) as [string, RawEntry[]][] | null;
    } catch (error) {
      if (signal.aborted) return [];
      if (this.s.endSignal?.aborted) return this.end();
      throw queueError(error, this.where, `XREADGROUP on ${this.s.stream}`);
    } finally {
      signal.removeEventListener("abort", interrupt);
      this.s.endSignal?.removeEventListener("abort", interrupt);
    }
    if (signal.aborted) return [];
    const raw = reply?.[0]?.[1] ?? [];
    // Idle: nothing new and nothing pending in the group. Deliveries of this source may still be
    // on their way to their acks (another consumer claimed and acknowledged them meanwhile), so
    // this is an end like endSignal's: the client stays open until they settle.
    if (raw.length === 0) return this.s.exitWhenIdle && (await this.idle()) ? this.end() : [];
    return raw.map(([id, fields]) => this.delivery(id, fields ?? [], 1));
  }

  async close(): Promise<void> {
    this.blocking?.disconnect();
    // A source that ended itself still has deliveries on their way to their acks: its client
    // closes after the last of them, or when the run stops (the pulls' signal aborts), after
    // which they never come.
    if (this.ended && this.unsettled > 0 && this.signal?.aborted !== true) {
      this.closeWhenSettled = true;
      this.signal?.addEventListener("abort", () => void this.quit(), { once: true });
      return;
    }
    await this.quit();
  }

  private async quit(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const conn = this.conn;
    if (conn?.owned) await conn.client.quit().catch(() => conn.client.disconnect());
  }

  private end(): null {
    this.ended = true;
    return null;
  }

  private get where(): string {
    return this.conn?.where ?? "Redis";
  }

  private get client(): Redis {
    return (this.conn as OwnedClient).client;
  }

  private async init(): Promise<void> {
    this.conn = connect(this.s.connection, this.s);
    this.blocking = this.client.duplicate();
    this.blocking.on("error", () => {});
    try {
      await this.client.xgroup("CREATE", this.s.stream, this.s.group, this.s.startId, "MKSTREAM");
    } catch (error) {
      if (!(error instanceof Error && error.message.startsWith("BUSYGROUP"))) {
        throw queueError(error, this.where, `creating group ${this.s.group} on ${this.s.stream}`);
      }
    }
  }

  /** Nothing new was read: is anything pending anywhere in the group? */
  private async idle(): Promise<boolean> {
    const summary = (await this.command("XPENDING", () =>
      this.client.xpending(this.s.stream, this.s.group),
    )) as [number, ...unknown[]];
    return summary[0] === 0;
  }

  /** Claims entries left pending too long by any consumer; dead-letters the worn-out ones. */
  private async reclaim(n: number): Promise<Delivery<StreamEntry>[]> {
    const { stream, group, consumer, claimIdleMs } = this.s;
    const [next, raw] = (await this.command("XAUTOCLAIM", () =>
      this.client.xautoclaim(stream, group, consumer, claimIdleMs, this.claimCursor, "COUNT", n),
    )) as [string, RawEntry[], string[]];
    this.claimCursor = next;
    // A full sweep of the pending list: wait a while before the next one.
    if (next === "0-0") this.nextClaimAt = Date.now() + Math.min(claimIdleMs, 5_000);
    const live = raw.filter((e): e is [string, string[]] => e[1] !== null);
    if (live.length === 0) return [];
    const counts = await this.deliveryCounts(live.map((e) => e[0]));
    const out: Delivery<StreamEntry>[] = [];
    for (const [id, fields] of live) {
      const deliveries = counts.get(id) ?? 1;
      const entry = { id, fields: toRecord(fields), deliveries };
      if (deliveries > this.s.maxDeliveries) {
        const lastError =
          (await this.command("HGET", () => this.client.hget(errorsKey(stream), id))) ??
          `not acknowledged after ${deliveries - 1} deliveries`;
        await this.s.beforeAck?.(entry, {
          outcome: "failed",
          error: new Error(lastError),
          final: true,
        });
        await this.deadLetter(entry, lastError);
      } else {
        out.push(this.delivery(id, fields, deliveries));
      }
    }
    return out;
  }

  private async deliveryCounts(ids: readonly string[]): Promise<Map<string, number>> {
    const pipeline = this.client.pipeline();
    for (const id of ids) pipeline.xpending(this.s.stream, this.s.group, id, id, 1);
    const replies = (await this.command("XPENDING", () => pipeline.exec())) ?? [];
    const counts = new Map<string, number>();
    for (const [error, rows] of replies) {
      if (error) throw queueError(error, this.where, "XPENDING");
      const row = (rows as [string, string, number, number][])[0];
      if (row !== undefined) counts.set(row[0], row[3]);
    }
    return counts;
  }

  private delivery(id: string, fields: string[], deliveries: number): Delivery<StreamEntry> {
    const entry: StreamEntry = { id, fields: toRecord(fields), deliveries };
    this.unsettled += 1;
    return {
      value: entry,
      ack: async (outcome, error) => {
        try {
          await this.ack(entry, outcome, error);
        } finally {
          this.unsettled -= 1;
          if (this.closeWhenSettled && this.unsettled === 0) await this.quit();
        }
      },
    };
  }

  private async ack(entry: StreamEntry, outcome: AckOutcome, error: unknown): Promise<void> {
    const { stream, group } = this.s;
    const final = outcome !== "failed" || entry.deliveries >= this.s.maxDeliveries;
    await this.s.beforeAck?.(
      entry,
      outcome === "failed" ? { outcome, error, final } : { outcome, final },
    );
    if (outcome !== "failed") {
      await this.command("XACK", () => this.client.xack(stream, group, entry.id));
      if (entry.deliveries > 1)
        await this.command("HDEL", () => this.client.hdel(errorsKey(stream), entry.id));
      return;
    }
    const message = error instanceof Error ? error.message : String(error);
    if (entry.deliveries >= this.s.maxDeliveries) {
      await this.deadLetter(entry, message);
      return;
    }
    // Left pending: claimed again once idle for claimIdleMs, by this consumer or another.
    await this.command("HSET", () => this.client.hset(errorsKey(stream), entry.id, message));
  }

  private async deadLetter(entry: StreamEntry, error: string): Promise<void> {
    const { stream, group, deadLetterStream } = this.s;
    const fields = Object.entries(entry.fields).flat();
    const replies = await this.command("dead-letter", () =>
      this.client
        .multi()
        .xadd(
          deadLetterStream,
          "*",
          ...fields,
          "sluice:source-id",
          entry.id,
          "sluice:deliveries",
          String(entry.deliveries),
          "sluice:error",
          error,
        )
        .xack(stream, group, entry.id)
        .hdel(errorsKey(stream), entry.id)
        .exec(),
    );
    const failed = replies?.find(([e]) => e !== null);
    if (failed)
      throw queueError(failed[0], this.where, `moving ${entry.id} to ${deadLetterStream}`);
  }

  private async command<T>(what: string, run: () => Promise<T>): Promise<T> {
    if (this.closed)
      throw new RedisQueueError("REDIS_COMMAND_FAILED", `${what}: the source is closed`);
    try {
      return await run();
    } catch (error) {
      throw queueError(error, this.where, what);
    }
  }
}

function toRecord(fields: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) out[fields[i] as string] = fields[i + 1] as string;
  return out;
}
