export type { Redis } from "ioredis";
export {
  type ConnectOptions,
  queueError,
  type RedisConnection,
  RedisQueueError,
  redactUrl as redactRedisUrl,
  redisClient,
} from "./connection.js";
export {
  type RedisStreamSink,
  type RedisStreamSinkOptions,
  redisStreamSink,
} from "./stream-sink.js";
export {
  type EntrySettlement,
  type RedisStreamSourceOptions,
  redisStreamSource,
  type StreamEntry,
} from "./stream-source.js";
