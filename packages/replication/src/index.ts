// @ambry/replication: pull-based replica sync between data nodes.

export type { ApplyOutcome, ReplicaStore } from './apply-entries.js';
export {
  type ConfigRow,
  describeReplicationConfig,
  type PeerClass,
  type PeerClassConfig,
  REPLICATION_DEFAULTS,
  type ReplicationConfig,
  ReplicationConfigError,
  type ReplicationConfigInput,
  replicationConfigSchema,
  resolveReplicationConfig,
} from './config.js';
export { type ReplicaLag, ReplicationEngine, type ReplicationEngineOptions } from './engine.js';
export type { ClassCounters, ReplicationMetrics } from './metrics.js';
export type { RoundOutcome } from './peer-loop.js';
export { tokenIncarnation } from './peer-token.js';
export { type LocalState, type PlannedOp, planUpdates, putLifeVersion, type RemoteState } from './plan.js';
export {
  decodeTokenFile,
  encodeTokenFile,
  type PersistedToken,
  readTokenFile,
  TOKEN_FILE_NAME,
  TokenFileError,
  writeTokenFile,
} from './token-file.js';
