// @ambry/router: request management (put / get / delete / TTL update / undelete) over the data nodes of a cluster map.

export type { BackgroundStats } from './background-work.js';
export {
  ChangeCapture,
  ChangeCaptureError,
  type ChangeErrorHandler,
  type ChangeErrorKind,
  type ChangeEvent,
  type ChangeOperation,
  type ChangeSink,
  decodeChangeEntry,
  encodeChangeFields,
  InProcessChangeSink,
  type InProcessChangeSinkOptions,
} from './change-capture.js';
export {
  type ConfigRow,
  describeConfig,
  ROUTER_DEFAULTS,
  type RouterConfig,
  RouterConfigError,
  type RouterConfigInput,
  type RouterConfigKey,
  resolveRouterConfig,
  routerConfigSchema,
} from './config.js';
export {
  classifyReplicaError,
  type FailureKind,
  isIdempotentSuccess,
  ROUTER_ERROR_HTTP_STATUS,
  RouterError,
  RouterErrorCode,
  type RouterOperation,
  routerCodeForServerCode,
  routerErrorFromServerCode,
  toRouterError,
} from './errors.js';
export {
  type DownResource,
  FailureDetector,
  type FailureDetectorOptions,
  type FailureDetectorSnapshot,
  type ResourceChange,
  type ResourceChangeListener,
  type ResourceKind,
  type ResourceState,
  resourceKey,
  type StateCounts,
} from './failure-detector.js';
export type { RouterHealth } from './health.js';
export { type HedgePolicy, realTimers, type Timers } from './hedge-timer.js';
export {
  LatencyTracker,
  type LatencyTrackerOptions,
  LatencyTrackers,
  latencyTrackerOptions,
} from './latency-tracker.js';
export { type RouterMetricsOptions, registerRouterMetrics } from './metrics.js';
export { NOT_FOUND_CACHE_MAX_ENTRIES } from './not-found-cache.js';
export {
  OperationTracker,
  type OperationTrackerOptions,
  type ReplicaOutcome,
  type TrackerCounts,
  type TrackerMode,
  type TrackerResult,
} from './operation-tracker.js';
export type { PutInput, PutProperties } from './put-operation.js';
export {
  type ChangeEntry,
  RedisStreamChangeSink,
  type RedisStreamChangeSinkOptions,
  readChanges,
} from './redis-change-sink.js';
export { orderReplicas, type ReplicaOrderOptions } from './replica-order.js';
export {
  BACKGROUND_CONCURRENCY,
  BACKGROUND_MAX_QUEUED,
  type GetBlobResult,
  type GetOptions,
  type OperationEvent,
  type OperationListener,
  type OperationName,
  type PutOptions,
  Router,
  type RouterOptions,
  type SignalOptions,
  type TtlUpdateOptions,
} from './router.js';
