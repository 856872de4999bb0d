export { type AddPartitionsOptions, addPartitionsToFiles } from './add-partitions.js';
export { type DatacenterBalance, describeLayout, replicaBalance } from './balance.js';
export {
  type ClusterMap,
  type ClusterMapOptions,
  type ClusterStateUpdater,
  DEFAULT_MIN_WRITABLE_REPLICAS,
  type MutableClusterMap,
} from './cluster-map.js';
export {
  ClusterMapError,
  ImpossibleShapeError,
  LayoutProblemError,
  LayoutValidationError,
  UnknownEntityError,
} from './errors.js';
export {
  GENERATOR_DEFAULTS,
  type GeneratedLayout,
  type GenerateOptions,
  generateLayout,
} from './generator.js';
export {
  expiredHeartbeats,
  type Heartbeat,
  type HeartbeatOptions,
  startHeartbeat,
} from './heartbeat.js';
export { InProcessClusterMap } from './in-process-cluster-map.js';
export { formatJsonPath } from './json-path.js';
export {
  ClusterLayout,
  type Datacenter,
  type DataNode,
  type Disk,
  type Partition,
  type Replica,
} from './layout.js';
export { buildLayout, loadLayout, parseLayout } from './load.js';
export { type ClusterMapLogger, SILENT_LOGGER } from './logger.js';
export { type NodeEndpoint, type NodeRef, nodeKey } from './node-key.js';
export {
  type PlacementShape,
  placeReplicas,
  rackOfNode,
  rackSpreadKeepsBalance,
  type Slot,
} from './placement.js';
export { RedisClusterMap, type RedisClusterMapOptions } from './redis-cluster-map.js';
export { connectRedis, MAX_RECONNECT_DELAY_MS } from './redis-connection.js';
export { parseRedisMessage, type RedisMessage, redisKeys, redisPrefix } from './redis-keys.js';
export {
  addPartitionsInRedis,
  type LayoutFiles,
  pullLayout,
  pushLayout,
  readLayout,
  type StoredLayout,
  writeLayout,
} from './redis-layout.js';
export {
  type DatacenterSpec,
  type DiskSpec,
  HARDWARE_FILE,
  type HardwareFile,
  hardwareSchema,
  MAX_DATACENTER_ID,
  MAX_PARTITION_ID,
  type NodeSpec,
  PARTITIONS_FILE,
  type PartitionSpec,
  type PartitionsFile,
  partitionsSchema,
  type ReplicaSpec,
} from './schema.js';
export {
  type ClusterMapEvent,
  type ClusterMapListener,
  DISK_STATES,
  type DiskState,
  NODE_STATES,
  type NodeState,
  PARTITION_STATES,
  type PartitionState,
  type ReplicaState,
} from './states.js';
export { StaticClusterMap } from './static-cluster-map.js';
export { writeLayoutFiles } from './write-files.js';
