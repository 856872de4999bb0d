import { BadBlobIdError, BlobId } from '../blob-id.js';
import { decodeBlobProperties, encodeBlobProperties } from '../blob-properties.js';
import { xxh64 } from '../checksum.js';
import { AmbryError, DecodeError, ErrorCode, InvalidArgumentError, LimitExceededError } from '../errors.js';
import { decodeUserMetadata, encodeUserMetadata } from '../user-metadata.js';
import { bytes, type Decoded, fixed64, has, i64, RequestHeaderType, toFixed64, u64 } from './schema.js';
import {
  AdminKind,
  GetPart,
  PROTOCOL_VERSION,
  REQUEST_TYPES,
  type ReplicaTokenRequest,
  type Request,
  type RequestType,
} from './types.js';

/** Bounds on what one request may ask for, so a hostile header cannot make a data node allocate much. */
export const REQUEST_LIMITS = {
  /** Partitions per REPLICA_METADATA request (Ambry batches 20). */
  replicaMetadataPartitions: 1024,
  /** Bytes of one replication token. */
  tokenBytes: 64 * 1024,
  /** Partition ids in one ADMIN request. */
  adminPartitions: 65_536,
  /** Payload bound a LOG_CHUNK request may ask for. */
  logChunkBytes: 32 * 1024 * 1024,
  /** Characters of client id and requester strings. */
  identityChars: 256,
} as const;

/** A request frame that cannot be served; `code` is what the data node answers with. */
export class RequestDecodeError extends DecodeError {
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** The request type, when the header got far enough to tell. */
    readonly requestType?: RequestType,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface EncodedMessage {
  readonly header: Uint8Array;
  readonly payload: Uint8Array;
  /** Set for LOG_CHUNK answers: their records carry their own checksums (docs/formats.md section 5). */
  readonly payloadSelfChecked?: boolean;
}

const EMPTY = new Uint8Array(0);

function requireSafe(value: number, field: string, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new InvalidArgumentError(`${field} must be an integer >= ${min}, got ${value}`);
  }
  return value;
}

/** Encode a request as frame header bytes and payload (the blob for a PUT, empty otherwise). */
export function encodeRequest(request: Request, clientId = ''): EncodedMessage {
  let body: Decoded;
  let payload: Uint8Array = EMPTY;
  switch (request.type) {
    case 'put': {
      payload = request.blob;
      body = {
        blobId: request.blobId.toBytes(),
        properties: encodeBlobProperties(request.properties),
        userMetadata: encodeUserMetadata(request.userMetadata),
        blobSize: payload.byteLength,
        blobChecksum: toFixed64(request.blobChecksum ?? xxh64(payload)),
      };
      break;
    }
    case 'get': {
      body = {
        blobId: request.blobId.toBytes(),
        part: request.part ?? GetPart.ALL,
        includeDeleted: request.includeDeleted ?? false,
        includeExpired: request.includeExpired ?? false,
      };
      if (request.range) {
        body.range = {
          offset: requireSafe(request.range.offset, 'range.offset', 0),
          length: requireSafe(request.range.length, 'range.length', 1),
        };
      }
      break;
    }
    case 'delete':
    case 'undelete':
      body = {
        blobId: request.blobId.toBytes(),
        operationTimeMs: requireSafe(request.operationTimeMs, 'operationTimeMs', 0),
      };
      break;
    case 'ttlUpdate':
      body = {
        blobId: request.blobId.toBytes(),
        expiresAtMs: requireSafe(request.expiresAtMs, 'expiresAtMs', -1),
        operationTimeMs: requireSafe(request.operationTimeMs, 'operationTimeMs', 0),
      };
      break;
    case 'replicaMetadata':
      if (request.partitions.length > REQUEST_LIMITS.replicaMetadataPartitions) {
        throw new LimitExceededError(
          'partitions in a replica metadata request',
          request.partitions.length,
          REQUEST_LIMITS.replicaMetadataPartitions,
        );
      }
      body = {
        partitions: request.partitions.map((p) => ({
          partitionId: requireSafe(p.partitionId, 'partitionId', 0),
          token: p.token,
        })),
        maxTotalBytes: requireSafe(request.maxTotalBytes, 'maxTotalBytes', 0),
        requester: request.requester,
      };
      break;
    case 'admin':
      body = { kind: request.kind, partitionIds: request.partitionIds ? [...request.partitionIds] : [] };
      break;
    case 'logChunk':
      body = {
        partitionId: requireSafe(request.partitionId, 'partitionId', 0),
        token: request.token,
        maxBytes: requireLogChunkBytes(request.maxBytes),
      };
      break;
    default:
      throw new InvalidArgumentError(`unknown request type ${(request as { type: unknown }).type}`);
  }
  const header = RequestHeaderType.encode({
    version: PROTOCOL_VERSION,
    clientId,
    [request.type]: body,
  }).finish();
  return { header, payload };
}

function requireLogChunkBytes(maxBytes: number): number {
  requireSafe(maxBytes, 'maxBytes', 1);
  if (maxBytes > REQUEST_LIMITS.logChunkBytes) {
    throw new LimitExceededError('bytes of a log chunk', maxBytes, REQUEST_LIMITS.logChunkBytes);
  }
  return maxBytes;
}

export interface DecodedRequest {
  readonly request: Request;
  readonly clientId: string;
}

/**
 * Decode an untrusted request frame. Any failure is a RequestDecodeError carrying the error code to
 * answer with (BAD_REQUEST, UNSUPPORTED_VERSION, UNKNOWN_REQUEST_TYPE, DATA_CORRUPT).
 */
export function decodeRequest(header: Uint8Array, payload: Uint8Array): DecodedRequest {
  let message: Decoded;
  try {
    message = RequestHeaderType.decode(header) as Decoded;
  } catch (error) {
    throw new RequestDecodeError(ErrorCode.BAD_REQUEST, 'request header does not decode', undefined, {
      cause: error,
    });
  }
  const version = message.version as number;
  const type = message.body as RequestType | undefined;
  if (version === 0)
    throw new RequestDecodeError(ErrorCode.BAD_REQUEST, 'request header has no version', type);
  if (version > PROTOCOL_VERSION) {
    throw new RequestDecodeError(
      ErrorCode.UNSUPPORTED_VERSION,
      `protocol version ${version} is newer than ${PROTOCOL_VERSION}`,
      type,
    );
  }
  if (type === undefined || !REQUEST_TYPES.includes(type)) {
    throw new RequestDecodeError(ErrorCode.UNKNOWN_REQUEST_TYPE, 'request has no known type');
  }
  const clientId = message.clientId as string;
  if (clientId.length > REQUEST_LIMITS.identityChars) {
    throw new RequestDecodeError(ErrorCode.BAD_REQUEST, 'client id too long', type);
  }
  if (type !== 'put' && payload.byteLength > 0) {
    throw new RequestDecodeError(
      ErrorCode.BAD_REQUEST,
      `${type} request carries an unexpected payload`,
      type,
    );
  }
  try {
    return { request: decodeBody(type, message[type] as Decoded, payload), clientId };
  } catch (error) {
    if (error instanceof RequestDecodeError) throw error;
    if (error instanceof AmbryError) {
      throw new RequestDecodeError(ErrorCode.BAD_REQUEST, `bad ${type} request: ${error.message}`, type, {
        cause: error,
      });
    }
    throw error;
  }
}

function parseBlobId(value: unknown): BlobId {
  const raw = bytes(value);
  try {
    return BlobId.fromBytes(raw);
  } catch (error) {
    if (error instanceof BadBlobIdError) throw error;
    throw new BadBlobIdError(`malformed blob id: ${(error as Error).message}`);
  }
}

function decodeBody(type: RequestType, body: Decoded, payload: Uint8Array): Request {
  switch (type) {
    case 'put': {
      const blobId = parseBlobId(body.blobId);
      const blobSize = u64(body.blobSize, 'blobSize');
      if (blobSize !== payload.byteLength) {
        throw new DecodeError(`blob size ${blobSize} does not match the ${payload.byteLength}-byte payload`);
      }
      const blobChecksum = fixed64(body.blobChecksum);
      const actual = xxh64(payload);
      if (actual !== blobChecksum) {
        throw new RequestDecodeError(
          ErrorCode.DATA_CORRUPT,
          'blob bytes do not match the blob checksum',
          type,
        );
      }
      return {
        type,
        blobId,
        properties: decodeBlobProperties(bytes(body.properties)),
        userMetadata: decodeUserMetadata(bytes(body.userMetadata)),
        blob: payload,
        blobChecksum,
      };
    }
    case 'get': {
      const part = body.part as number;
      if (part !== GetPart.ALL && part !== GetPart.BLOB && part !== GetPart.INFO) {
        throw new DecodeError(`unknown get part ${part}`);
      }
      let range: { offset: number; length: number } | undefined;
      if (has(body, 'range')) {
        range = {
          offset: u64(body.range.offset, 'range.offset'),
          length: u64(body.range.length, 'range.length'),
        };
        if (range.length < 1) throw new DecodeError('range length must be at least 1');
      }
      return {
        type,
        blobId: parseBlobId(body.blobId),
        part,
        includeDeleted: body.includeDeleted === true,
        includeExpired: body.includeExpired === true,
        ...(range ? { range } : {}),
      };
    }
    case 'delete':
    case 'undelete':
      return {
        type,
        blobId: parseBlobId(body.blobId),
        operationTimeMs: u64(body.operationTimeMs, 'operationTimeMs'),
      };
    case 'ttlUpdate': {
      const expiresAtMs = i64(body.expiresAtMs, 'expiresAtMs');
      if (expiresAtMs < -1) throw new DecodeError(`expiresAtMs ${expiresAtMs} is below -1`);
      return {
        type,
        blobId: parseBlobId(body.blobId),
        expiresAtMs,
        operationTimeMs: u64(body.operationTimeMs, 'operationTimeMs'),
      };
    }
    case 'replicaMetadata': {
      const list = body.partitions as Decoded[];
      if (list.length > REQUEST_LIMITS.replicaMetadataPartitions) {
        throw new DecodeError(`${list.length} partitions in one request`);
      }
      const requester = body.requester as string;
      if (requester.length > REQUEST_LIMITS.identityChars) throw new DecodeError('requester too long');
      const partitions: ReplicaTokenRequest[] = list.map((p) => {
        const token = bytes(p.token);
        if (token.byteLength > REQUEST_LIMITS.tokenBytes) throw new DecodeError('replication token too long');
        return { partitionId: p.partitionId as number, token };
      });
      return { type, partitions, maxTotalBytes: u64(body.maxTotalBytes, 'maxTotalBytes'), requester };
    }
    case 'admin': {
      const kind = body.kind as number;
      if (
        kind !== AdminKind.HEALTH &&
        kind !== AdminKind.REPLICA_STATS &&
        kind !== AdminKind.REPLICATION_LAG
      ) {
        throw new DecodeError(`unknown admin kind ${kind}`);
      }
      const partitionIds = body.partitionIds as number[];
      if (partitionIds.length > REQUEST_LIMITS.adminPartitions)
        throw new DecodeError('too many partition ids');
      return { type, kind, partitionIds: [...partitionIds] };
    }
    case 'logChunk': {
      const token = bytes(body.token);
      if (token.byteLength > REQUEST_LIMITS.tokenBytes) throw new DecodeError('replication token too long');
      const maxBytes = u64(body.maxBytes, 'maxBytes');
      if (maxBytes < 1 || maxBytes > REQUEST_LIMITS.logChunkBytes) {
        throw new DecodeError(`maxBytes ${maxBytes} is outside 1 .. ${REQUEST_LIMITS.logChunkBytes}`);
      }
      return { type, partitionId: body.partitionId as number, token, maxBytes };
    }
  }
}
