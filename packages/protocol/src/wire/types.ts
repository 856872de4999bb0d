import type { BlobId } from '../blob-id.js';
import type { BlobProperties } from '../blob-properties.js';
import type { ErrorCode } from '../errors.js';
import type { UserMetadata } from '../user-metadata.js';

/**
 * The typed requests and responses of the data-node protocol. These are what callers build and
 * handlers receive; proto/ambry.proto is how they travel. 64-bit sizes and times are plain numbers
 * (validated to be safe integers), checksums are bigints.
 */

/** Message schema version spoken by this build (RequestHeader.version). */
export const PROTOCOL_VERSION = 1;

/** Expiry value meaning "never expires". */
export const NEVER_EXPIRES = -1;

export type RequestType =
  | 'put'
  | 'get'
  | 'delete'
  | 'ttlUpdate'
  | 'undelete'
  | 'replicaMetadata'
  | 'admin'
  | 'logChunk';

export const REQUEST_TYPES: readonly RequestType[] = [
  'put',
  'get',
  'delete',
  'ttlUpdate',
  'undelete',
  'replicaMetadata',
  'admin',
  'logChunk',
];

export enum GetPart {
  /** Properties, user metadata and bytes. */
  ALL = 0,
  /** Bytes only. */
  BLOB = 1,
  /** Properties and user metadata only. */
  INFO = 2,
}

export enum AdminKind {
  HEALTH = 1,
  REPLICA_STATS = 2,
  /** Replication lag per (partition, peer) of the asked node (`AdminResult.replicationLag`). */
  REPLICATION_LAG = 3,
}

export enum SealState {
  READ_WRITE = 0,
  PARTIALLY_SEALED = 1,
  READ_ONLY = 2,
}

export interface ByteRange {
  readonly offset: number;
  /** At least 1; clamped by the data node to the end of the blob. */
  readonly length: number;
}

// ---- requests ----------------------------------------------------------------------------------------

export interface PutRequest {
  readonly type: 'put';
  readonly blobId: BlobId;
  readonly properties: BlobProperties;
  readonly userMetadata: UserMetadata;
  /** The blob bytes; travel as the frame payload. */
  readonly blob: Uint8Array;
  /** xxh64 of `blob`; computed by the encoder when absent, verified by the decoder. */
  readonly blobChecksum?: bigint;
}

export interface GetRequest {
  readonly type: 'get';
  readonly blobId: BlobId;
  readonly part?: GetPart;
  readonly includeDeleted?: boolean;
  readonly includeExpired?: boolean;
  readonly range?: ByteRange;
}

export interface DeleteRequest {
  readonly type: 'delete';
  readonly blobId: BlobId;
  readonly operationTimeMs: number;
}

export interface TtlUpdateRequest {
  readonly type: 'ttlUpdate';
  readonly blobId: BlobId;
  /** Epoch ms, or NEVER_EXPIRES. */
  readonly expiresAtMs: number;
  readonly operationTimeMs: number;
}

export interface UndeleteRequest {
  readonly type: 'undelete';
  readonly blobId: BlobId;
  readonly operationTimeMs: number;
}

export interface ReplicaTokenRequest {
  readonly partitionId: number;
  /** Opaque store token; empty = from the beginning. */
  readonly token: Uint8Array;
}

export interface ReplicaMetadataRequest {
  readonly type: 'replicaMetadata';
  readonly partitions: readonly ReplicaTokenRequest[];
  readonly maxTotalBytes: number;
  readonly requester: string;
}

export interface AdminRequest {
  readonly type: 'admin';
  readonly kind: AdminKind;
  readonly partitionIds?: readonly number[];
}

/**
 * Raw log records of one replica, to bootstrap an empty replica by copying its peer's log byte for byte
 * (docs/formats.md, "Log chunk").
 */
export interface LogChunkRequest {
  readonly type: 'logChunk';
  readonly partitionId: number;
  /** The token of the previous LOG_CHUNK answer; empty = the start of the log. */
  readonly token: Uint8Array;
  /** Bound on the payload; a single record larger than this is still sent whole. */
  readonly maxBytes: number;
}

export type Request =
  | PutRequest
  | GetRequest
  | DeleteRequest
  | TtlUpdateRequest
  | UndeleteRequest
  | ReplicaMetadataRequest
  | AdminRequest
  | LogChunkRequest;

// ---- responses ---------------------------------------------------------------------------------------

export interface BlobState {
  readonly deleted: boolean;
  readonly expired: boolean;
  readonly ttlUpdated: boolean;
  readonly lifeVersion: number;
  /** Epoch ms, or NEVER_EXPIRES. */
  readonly expiresAtMs: number;
  readonly operationTimeMs: number;
}

export interface GetResult {
  /** Present unless the request asked for GetPart.BLOB. */
  readonly properties?: BlobProperties;
  readonly userMetadata?: UserMetadata;
  /**
   * The exact stored encodings of `properties` / `userMetadata` (unknown extensions included). A server
   * that sets them sends these bytes instead of re-encoding the decoded values; a decoded response
   * always carries the bytes it received, so a replica can write them back byte for byte.
   */
  readonly propertiesBytes?: Uint8Array;
  readonly userMetadataBytes?: Uint8Array;
  /** Size of the whole blob. */
  readonly blobSize: number;
  /** xxh64 of the whole blob as written. */
  readonly blobChecksum: bigint;
  /** The slice carried in `blob`, when a range was asked for. */
  readonly range?: ByteRange;
  readonly state: BlobState;
  /** The bytes (or the range); empty for GetPart.INFO. */
  readonly blob: Uint8Array;
}

export interface UndeleteResult {
  readonly lifeVersion: number;
}

export interface MessageInfo {
  readonly blobId: BlobId;
  readonly size: number;
  readonly expiresAtMs: number;
  readonly deleted: boolean;
  readonly ttlUpdated: boolean;
  readonly undeleted: boolean;
  readonly lifeVersion: number;
  readonly operationTimeMs: number;
  readonly accountId: number;
  readonly containerId: number;
  readonly checksum?: bigint;
}

export interface ReplicaMetadataPartition {
  readonly partitionId: number;
  readonly error: ErrorCode;
  readonly entries: readonly MessageInfo[];
  readonly token: Uint8Array;
  readonly lagBytes: number;
}

export interface ReplicaMetadataResult {
  readonly partitions: readonly ReplicaMetadataPartition[];
}

export interface ReplicaStats {
  readonly partitionId: number;
  readonly sealState: SealState;
  readonly available: boolean;
  readonly bytesUsed: number;
  readonly capacityBytes: number;
  readonly blobCount: number;
}

/** Replication progress of one (local replica, peer) pair on the answering node. */
export interface ReplicationLag {
  readonly partitionId: number;
  /** The peer pulled from, `host:port`. */
  readonly peer: string;
  /** Bytes of the peer's log not yet replicated; undefined until the peer first answered. */
  readonly lagBytes?: number;
  readonly caughtUp: boolean;
}

export interface AdminResult {
  readonly healthy: boolean;
  readonly status: string;
  readonly replicas: readonly ReplicaStats[];
  /** REPLICATION_LAG: one entry per (partition, peer); empty when the node runs no replication. */
  readonly replicationLag?: readonly ReplicationLag[];
}

export interface LogChunkResult {
  /** The answering store's incarnation id. */
  readonly incarnation: Uint8Array;
  /** Its log segment size: positions mean the same only between logs of equal segment size. */
  readonly segmentBytes: number;
  /** Log position of the first byte of `records`. */
  readonly position: number;
  /** The position after `records`, as a token for the next LOG_CHUNK or for REPLICA_METADATA. */
  readonly token: Uint8Array;
  /** Bytes of the answering store's indexed log after `records`. */
  readonly lagBytes: number;
  /** Whole log records, exactly as they lie in the log (travel as the frame payload). */
  readonly records: Uint8Array;
}

/** What a successful request of each type yields. */
export interface ResultMap {
  put: undefined;
  get: GetResult;
  delete: undefined;
  ttlUpdate: undefined;
  undelete: UndeleteResult;
  replicaMetadata: ReplicaMetadataResult;
  admin: AdminResult;
  logChunk: LogChunkResult;
}

export type Result<T extends RequestType = RequestType> = ResultMap[T];

/** A decoded response: an error code, and the result when the code is OK. */
export type Response<T extends RequestType = RequestType> =
  | { readonly type: T; readonly error: ErrorCode.OK; readonly result: ResultMap[T] }
  | { readonly type: T; readonly error: Exclude<ErrorCode, ErrorCode.OK>; readonly errorMessage: string };

export type RequestOf<T extends RequestType> = Extract<Request, { type: T }>;
