export {
  type ConnectOptions,
  type RedisConnection,
  RedisQueueError,
} from "./connection.js";
export {
  type RedisStreamSink,
  type RedisStreamSinkOptions,
  redisStreamSink,
} from "./stream-sink.js";
export {
  type RedisStreamSourceOptions,
  redisStreamSource,
  type StreamEntry,
} from "./stream-source.js";
