// @ambry/router: request management. In progress: configuration, errors, replica ordering, the
// per-operation quorum tracker and the failure detector are here; the operations come next.

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
export {
  OperationTracker,
  type OperationTrackerOptions,
  type ReplicaOutcome,
  type TrackerCounts,
  type TrackerMode,
  type TrackerResult,
} from './operation-tracker.js';
export { orderReplicas, type ReplicaOrderOptions } from './replica-order.js';
