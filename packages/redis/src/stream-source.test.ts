import { Redis } from "ioredis";
import { StreamingPipeline } from "sluice";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisQueueError } from "./connection.js";
import { redisStreamSink } from "./stream-sink.js";
import {
  type RedisStreamSourceOptions,
  redisStreamSource,
  type StreamEntry,
} from "./stream-source.js";
import { type RedisServer, startRedisServer } from "./testing/redis-server.js";

let server: RedisServer;
let admin: Redis;
let streams = 0;
/** A fresh stream name per test, so tests share one server without seeing each other. */
const fresh = () => `jobs-${++streams}`;

beforeAll(async () => {
  server = await startRedisServer();
  admin = new Redis(server.url);
});

afterAll(async () => {
  await admin?.quit();
  await server?.stop();
});

async function enqueue(stream: string, n: number): Promise<void> {
  const sink = redisStreamSink<{ n: number }>({ connection: server.url, stream });
  await sink.writeAll(Array.from({ length: n }, (_, i) => ({ n: i })));
  await sink.close();
}

const numberOf = (e: StreamEntry) => (JSON.parse(e.fields.data as string) as { n: number }).n;

/** Pending entries of the group: [count, ...]. */
const pending = async (stream: string, group = "g") =>
  ((await admin.xpending(stream, group)) as [number])[0];

/**
 * A run of one entry that its pipeline holds until `release()`, read by consumer "a" with
 * `exitWhenIdle`; `endedWhileHeld()` has consumer "b" claim and acknowledge that entry, then
 * waits until "a" has found the group idle and ended its source, the entry still in flight.
 */
async function heldEntryRun(beforeAck?: RedisStreamSourceOptions["beforeAck"]) {
  const stream = fresh();
  await enqueue(stream, 1);
  let release = () => {};
  const gate = new Promise<void>((r) => {
    release = r;
  });
  let started = () => {};
  const inFlight = new Promise<void>((r) => {
    started = r;
  });
  const run = StreamingPipeline.start<StreamEntry>()
    .map(
      "held",
      async (e) => {
        started();
        await gate;
        return numberOf(e);
      },
      { concurrency: 2 }, // reads ahead: the source is pulled again while the entry is held
    )
    .executeFrom(
      redisStreamSource({
        connection: server.url,
        stream,
        group: "g",
        consumer: "a",
        blockMs: 20,
        claimIdleMs: 60_000,
        exitWhenIdle: true,
        ...(beforeAck ? { beforeAck } : {}),
      }),
    );
  const endedWhileHeld = async () => {
    await inFlight;
    const [row] = (await admin.xpending(stream, "g", "-", "+", 10)) as [string, ...unknown[]][];
    await admin.xclaim(stream, "g", "b", 0, row?.[0] as string);
    await admin.xack(stream, "g", row?.[0] as string);
    // Long enough for "a" to read nothing new, find the group idle and end its source.
    await new Promise((r) => setTimeout(r, 300));
  };
  return { stream, run, release, endedWhileHeld };
}

describe("redisStreamSource", () => {
  it("delivers every entry once, acknowledges filtered and done ones, and ends when idle", async () => {
    const stream = fresh();
    await enqueue(stream, 120);
    const source = redisStreamSource({
      connection: server.url,
      stream,
      group: "g",
      consumer: "c1",
      blockMs: 50,
      exitWhenIdle: true,
    });
    const seen: number[] = [];
    for await (const n of StreamingPipeline.start<StreamEntry>()
      .map("n", numberOf)
      .filter("even", (n) => n % 2 === 0)
      .executeFrom(source)) {
      seen.push(n);
    }
    expect(seen).toEqual(Array.from({ length: 60 }, (_, i) => i * 2));
    expect(await pending(stream)).toBe(0);
    const info = (await admin.xinfo("GROUPS", stream)) as unknown[][];
    // entries-read counts what the group delivered: each entry once.
    const group = Object.fromEntries(
      (info[0] as unknown[]).reduce<[unknown, unknown][]>((acc, v, i, a) => {
        if (i % 2 === 0) acc.push([v, a[i + 1]]);
        return acc;
      }, []),
    );
    expect(group["entries-read"]).toBe(120);
  });

  it("reads what the pipeline asks for, and a consumer that breaks leaves the rest to others", async () => {
    const stream = fresh();
    await enqueue(stream, 200);
    const slow = StreamingPipeline.start<StreamEntry>().map("n", async (e) => {
      await new Promise((r) => setTimeout(r, 2));
      return numberOf(e);
    });
    const first: number[] = [];
    const run = slow.executeFrom(
      redisStreamSource({ connection: server.url, stream, group: "g", consumer: "a", blockMs: 50 }),
    );
    for await (const n of run) {
      first.push(n);
      if (first.length === 10) break;
    }
    // Read on demand: a handful pending with "a", not a read-ahead of the whole stream.
    const pendingWithA = await pending(stream);
    expect(pendingWithA).toBeGreaterThanOrEqual(1);
    expect(pendingWithA).toBeLessThan(30);

    // A second consumer drains the stream and, after claimIdleMs, claims what "a" left.
    const rest: number[] = [];
    for await (const n of slow.executeFrom(
      redisStreamSource({
        connection: server.url,
        stream,
        group: "g",
        consumer: "b",
        blockMs: 50,
        claimIdleMs: 100,
        exitWhenIdle: true,
      }),
    )) {
      rest.push(n);
    }
    // "a" acknowledged the 9 it moved past; the 10th was in hand at the break.
    const all = new Set([...first.slice(0, 9), ...rest]);
    expect(all.size).toBe(200);
    expect(rest.length).toBe(200 - 9);
    expect(await pending(stream)).toBe(0);
  });

  it("leaves a failed entry pending, retries it, and dead-letters it with its last error", async () => {
    const stream = fresh();
    await enqueue(stream, 5);
    const source = redisStreamSource({
      connection: server.url,
      stream,
      group: "g",
      consumer: "c",
      blockMs: 30,
      claimIdleMs: 50,
      maxDeliveries: 3,
      exitWhenIdle: true,
    });
    const attempts: number[] = [];
    const out: number[] = [];
    for await (const n of StreamingPipeline.start<StreamEntry>()
      .map(
        "parse",
        (e) => {
          const n = numberOf(e);
          if (n === 3) {
            attempts.push(e.deliveries);
            throw new Error(`cannot parse job ${n}`);
          }
          return n;
        },
        { errorStrategy: "SKIP_FAILED" },
      )
      .executeFrom(source)) {
      out.push(n);
    }
    expect(out).toEqual([0, 1, 2, 4]);
    expect(attempts).toEqual([1, 2, 3]);
    expect(await pending(stream)).toBe(0);
    const dead = (await admin.xrange(`${stream}:dead`, "-", "+")) as [string, string[]][];
    expect(dead).toHaveLength(1);
    const fields = dead[0]?.[1] ?? [];
    const record = Object.fromEntries(
      fields.flatMap((v, i) => (i % 2 === 0 ? [[v, fields[i + 1]]] : [])),
    );
    expect(record.data).toBe(JSON.stringify({ n: 3 }));
    expect(record["sluice:deliveries"]).toBe("3");
    expect(record["sluice:error"]).toMatch(/cannot parse job 3/);
  });

  it("tells beforeAck each entry's outcome before acknowledging it, final only on its last delivery", async () => {
    const stream = fresh();
    await enqueue(stream, 4);
    const heard: string[] = [];
    const source = redisStreamSource({
      connection: server.url,
      stream,
      group: "g",
      consumer: "c",
      blockMs: 30,
      claimIdleMs: 50,
      maxDeliveries: 2,
      exitWhenIdle: true,
      beforeAck: async (entry, { outcome, error, final }) => {
        // Still pending while the hook runs: a result reported here is never lost.
        const stillPending = (await admin.xpending(stream, "g", entry.id, entry.id, 1)).length;
        heard.push(
          `${numberOf(entry)}:${entry.deliveries}:${outcome}:${final}:${stillPending}` +
            (error === undefined
              ? ""
              : `:${(error as Error).message.includes("odd") ? "odd" : "?"}`),
        );
      },
    });
    for await (const _ of StreamingPipeline.start<StreamEntry>()
      .map(
        "even",
        (e) => {
          if (numberOf(e) === 1) throw new Error("odd one");
          return e;
        },
        { errorStrategy: "SKIP_FAILED" },
      )
      .filter("notThree", (e) => numberOf(e) !== 3)
      .executeFrom(source)) {
      // consumed
    }
    expect(heard.sort()).toEqual([
      "0:1:done:true:1",
      "1:1:failed:false:1:odd",
      "1:2:failed:true:1:odd",
      "2:1:done:true:1",
      "3:1:filtered:true:1",
    ]);
    expect(await pending(stream)).toBe(0);
  });

  it("endSignal stops reading and lets the run finish and acknowledge what it read", async () => {
    const stream = fresh();
    await enqueue(stream, 50);
    const end = new AbortController();
    const source = redisStreamSource({
      connection: server.url,
      stream,
      group: "g",
      consumer: "c",
      blockMs: 30_000,
      endSignal: end.signal,
    });
    const seen: number[] = [];
    for await (const n of StreamingPipeline.start<StreamEntry>()
      .map(
        "slow",
        async (e) => {
          await new Promise((r) => setTimeout(r, 5));
          return numberOf(e);
        },
        { concurrency: 4 },
      )
      .executeFrom(source)) {
      seen.push(n);
      if (seen.length === 10) end.abort();
    }
    // Everything it read was finished and acknowledged; the rest is left for others.
    expect(seen.length).toBeGreaterThanOrEqual(10);
    expect(seen.length).toBeLessThan(50);
    expect(await pending(stream)).toBe(0);
    const info = (await admin.xinfo("GROUPS", stream)) as unknown[][];
    const fields = info[0] as unknown[];
    expect(fields[fields.indexOf("entries-read") + 1]).toBe(seen.length);

    // An idle source blocked on an empty stream ends at once too.
    const idle = new AbortController();
    const run = StreamingPipeline.start<StreamEntry>().executeFrom(
      redisStreamSource({
        connection: server.url,
        stream: fresh(),
        group: "g",
        consumer: "c",
        blockMs: 30_000,
        endSignal: idle.signal,
      }),
    );
    const next = run.next();
    await new Promise((r) => setTimeout(r, 200));
    const t0 = Date.now();
    idle.abort();
    await expect(next).resolves.toEqual({ value: undefined, done: true });
    expect(Date.now() - t0).toBeLessThan(5_000);
  });

  it("an idle end leaves the client open until the source's own deliveries are acknowledged", async () => {
    // Another consumer claimed and acknowledged an entry this one still works on (its
    // claimIdleMs passed): the group is then idle, so this source ends while its delivery is
    // in flight, and that delivery's acknowledgement must still go through (XACK of an entry
    // already acknowledged is a no-op), not fail the run because the client was closed.
    const acks: string[] = [];
    const held = await heldEntryRun((entry, { outcome }) => {
      acks.push(`${numberOf(entry)} ${outcome}`);
    });
    const seen = (async () => {
      const out: number[] = [];
      for await (const n of held.run) out.push(n);
      return out;
    })();
    await held.endedWhileHeld();
    held.release();
    expect(await seen).toEqual([0]);
    expect(acks).toEqual(["0 done"]);
    expect(await pending(held.stream)).toBe(0);
  });

  it("a run stopped after its source ended closes the client its unacknowledged deliveries held", async () => {
    const clients = async () => ((await admin.client("LIST")) as string).trim().split("\n").length;
    const before = await clients();
    const held = await heldEntryRun();
    const first = held.run.next();
    await held.endedWhileHeld();
    const stopped = held.run.return();
    held.release();
    await stopped;
    await first.catch(() => {});
    // Never acknowledged (the run stopped), so nothing would close the client but the stop.
    const deadline = Date.now() + 2_000;
    while ((await clients()) > before && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(await clients()).toBe(before);
  });

  it("a stop interrupts a blocking read at once", async () => {
    const stream = fresh();
    const run = StreamingPipeline.start<StreamEntry>().executeFrom(
      redisStreamSource({
        connection: server.url,
        stream,
        group: "g",
        consumer: "c",
        blockMs: 30_000,
      }),
    );
    const next = run.next();
    await new Promise((r) => setTimeout(r, 200)); // the read is blocked on the empty stream
    const t0 = Date.now();
    await run.return();
    await expect(next).resolves.toEqual({ value: undefined, done: true });
    expect(Date.now() - t0).toBeLessThan(5_000);
  });

  it("fails the run with REDIS_UNAVAILABLE when Redis goes away, acknowledging nothing more", async () => {
    const own = await startRedisServer();
    try {
      const stream = "jobs";
      const sink = redisStreamSink<{ n: number }>({ connection: own.url, stream });
      await sink.writeAll(Array.from({ length: 50 }, (_, n) => ({ n })));
      await sink.close();
      const run = StreamingPipeline.start<StreamEntry>()
        .map("slow", async (e) => {
          await new Promise((r) => setTimeout(r, 5));
          return numberOf(e);
        })
        .executeFrom(
          redisStreamSource({
            connection: own.url,
            stream,
            group: "g",
            consumer: "c",
            blockMs: 50,
            unavailableAfterMs: 1_000,
          }),
        );
      const t0 = Date.now();
      const error = await (async () => {
        let i = 0;
        for await (const _ of run) if (++i === 5) await own.stop();
      })().catch((e: unknown) => e);
      expect(error).toMatchObject({ code: expect.stringMatching(/REDIS_UNAVAILABLE|ACK_FAILED/) });
      const cause = error instanceof RedisQueueError ? error : (error as { cause?: unknown }).cause;
      expect(cause).toBeInstanceOf(RedisQueueError);
      expect((cause as RedisQueueError).message).toContain(`127.0.0.1:${own.port}`);
      expect(Date.now() - t0).toBeLessThan(15_000);
      expect(run.metadata().status).toBe("failed");
    } finally {
      await own.stop();
    }
  });

  it("rejects bad options when it is made", () => {
    expect(() =>
      redisStreamSource({ connection: "http://x", stream: "s", group: "g", consumer: "c" }),
    ).toThrow(/Redis URL must start with redis:\/\/ or rediss:\/\//);
    expect(() =>
      redisStreamSource({ connection: server.url, stream: "", group: "g", consumer: "c" }),
    ).toThrow("redisStreamSource: stream must be a non-empty string, got ");
    expect(() =>
      redisStreamSource({
        connection: server.url,
        stream: "s",
        group: "g",
        consumer: "c",
        maxDeliveries: 0,
      }),
    ).toThrow("redisStreamSource: maxDeliveries must be a positive integer, got 0");
    expect(() => redisStreamSink({ connection: "http://x", stream: "s" })).toThrow(
      /Redis URL must start with redis:\/\/ or rediss:\/\//,
    );
  });
});
