import { BlobId } from '../blob-id.js';
import { decodeBlobProperties, encodeBlobProperties } from '../blob-properties.js';
import { DecodeError, ErrorCode } from '../errors.js';
import { decodeUserMetadata, encodeUserMetadata } from '../user-metadata.js';
import type { EncodedMessage } from './requests.js';
import {
  bytes,
  type Decoded,
  ErrorCodeEnum,
  fixed64,
  has,
  i64,
  ResponseHeaderType,
  toFixed64,
  u64,
} from './schema.js';
import {
  type AdminResult,
  type BlobState,
  type GetResult,
  type LogChunkResult,
  type MessageInfo,
  PROTOCOL_VERSION,
  type ReplicaMetadataResult,
  type RequestType,
  type Response,
  type ResultMap,
  type SealState,
} from './types.js';

const EMPTY = new Uint8Array(0);
/** Longest error message sent on the wire; longer ones are cut (they are for humans). */
export const MAX_ERROR_MESSAGE_CHARS = 1024;

/** Encode a response frame (header + payload; the payload is the blob for a successful GET). */
export function encodeResponse<T extends RequestType>(response: Response<T>): EncodedMessage {
  if (response.error !== ErrorCode.OK) {
    const header = ResponseHeaderType.encode({
      version: PROTOCOL_VERSION,
      error: response.error,
      errorMessage: response.errorMessage.slice(0, MAX_ERROR_MESSAGE_CHARS),
      ...(response.type ? { [response.type]: {} } : {}),
    }).finish();
    return { header, payload: EMPTY };
  }
  const { body, payload } = encodeResult(response.type, response.result);
  const header = ResponseHeaderType.encode({
    version: PROTOCOL_VERSION,
    error: ErrorCode.OK,
    [response.type]: body,
  }).finish();
  // Log records carry checksums over every byte, which the receiver verifies before using them.
  return response.type === 'logChunk' ? { header, payload, payloadSelfChecked: true } : { header, payload };
}

function encodeState(state: BlobState): Decoded {
  return {
    deleted: state.deleted,
    expired: state.expired,
    ttlUpdated: state.ttlUpdated,
    lifeVersion: state.lifeVersion,
    expiresAtMs: state.expiresAtMs,
    operationTimeMs: state.operationTimeMs,
  };
}

function encodeResult(
  type: RequestType,
  result: ResultMap[RequestType],
): { body: Decoded; payload: Uint8Array } {
  switch (type) {
    case 'put':
    case 'delete':
    case 'ttlUpdate':
      return { body: {}, payload: EMPTY };
    case 'undelete':
      return { body: { lifeVersion: (result as ResultMap['undelete']).lifeVersion }, payload: EMPTY };
    case 'get': {
      const get = result as GetResult;
      const body: Decoded = {
        blobSize: get.blobSize,
        blobChecksum: toFixed64(get.blobChecksum),
        state: encodeState(get.state),
      };
      if (get.propertiesBytes) body.properties = get.propertiesBytes;
      else if (get.properties) body.properties = encodeBlobProperties(get.properties);
      if (get.userMetadataBytes) body.userMetadata = get.userMetadataBytes;
      else if (get.userMetadata) body.userMetadata = encodeUserMetadata(get.userMetadata);
      if (get.range) body.range = { offset: get.range.offset, length: get.range.length };
      return { body, payload: get.blob };
    }
    case 'replicaMetadata': {
      const meta = result as ReplicaMetadataResult;
      return {
        body: {
          partitions: meta.partitions.map((p) => ({
            partitionId: p.partitionId,
            error: p.error,
            token: p.token,
            lagBytes: p.lagBytes,
            entries: p.entries.map((e) => {
              const entry: Decoded = {
                blobId: e.blobId.toBytes(),
                size: e.size,
                expiresAtMs: e.expiresAtMs,
                deleted: e.deleted,
                ttlUpdated: e.ttlUpdated,
                undeleted: e.undeleted,
                lifeVersion: e.lifeVersion,
                operationTimeMs: e.operationTimeMs,
                accountId: e.accountId,
                containerId: e.containerId,
              };
              if (e.checksum !== undefined) entry.checksum = toFixed64(e.checksum);
              return entry;
            }),
          })),
        },
        payload: EMPTY,
      };
    }
    case 'admin': {
      const admin = result as AdminResult;
      return {
        body: {
          healthy: admin.healthy,
          status: admin.status,
          replicas: admin.replicas.map((r) => ({ ...r })),
          replicationLag: (admin.replicationLag ?? []).map((l) => ({
            partitionId: l.partitionId,
            peer: l.peer,
            caughtUp: l.caughtUp,
            ...(l.lagBytes === undefined ? {} : { lagBytes: l.lagBytes }),
          })),
        },
        payload: EMPTY,
      };
    }
    case 'logChunk': {
      const chunk = result as LogChunkResult;
      return {
        body: {
          incarnation: chunk.incarnation,
          segmentBytes: chunk.segmentBytes,
          position: chunk.position,
          token: chunk.token,
          lagBytes: chunk.lagBytes,
        },
        payload: chunk.records,
      };
    }
  }
}

function isKnownErrorCode(code: number): code is ErrorCode {
  return ErrorCodeEnum.valuesById[code] !== undefined;
}

/**
 * Decode a response to a request of `expected` type. Throws DecodeError when the peer sent something
 * that is not a valid answer to that request (the client turns it into a ProtocolError). An error code
 * this build does not know is kept as its number: newer peers may add codes.
 */
export function decodeResponse<T extends RequestType>(
  header: Uint8Array,
  payload: Uint8Array,
  expected: T,
): Response<T> {
  let message: Decoded;
  try {
    message = ResponseHeaderType.decode(header) as Decoded;
  } catch (error) {
    throw new DecodeError('response header does not decode', { cause: error });
  }
  if (message.version === 0 || message.version > PROTOCOL_VERSION) {
    throw new DecodeError(`response has unsupported version ${message.version}`);
  }
  const type = message.body as RequestType | undefined;
  const error = message.error as number;
  // An error response to a request the server could not classify carries no body case.
  if (type !== expected && !(type === undefined && error !== ErrorCode.OK)) {
    throw new DecodeError(`expected a ${expected} response, got ${type ?? 'no type'}`);
  }
  if (error !== ErrorCode.OK) {
    return {
      type: expected,
      error: error as Exclude<ErrorCode, ErrorCode.OK>,
      errorMessage:
        (message.errorMessage as string) || (isKnownErrorCode(error) ? ErrorCode[error] : `code ${error}`),
    };
  }
  const result = decodeResult(expected, message[expected] as Decoded, payload) as ResultMap[T];
  return { type: expected, error: ErrorCode.OK, result };
}

function decodeState(state: Decoded | undefined): BlobState {
  return {
    deleted: state?.deleted === true,
    expired: state?.expired === true,
    ttlUpdated: state?.ttlUpdated === true,
    lifeVersion: (state?.lifeVersion as number | undefined) ?? 0,
    expiresAtMs: state && has(state, 'expiresAtMs') ? i64(state.expiresAtMs, 'state.expiresAtMs') : 0,
    operationTimeMs: state ? u64(state.operationTimeMs, 'state.operationTimeMs') : 0,
  };
}

function decodeResult(type: RequestType, body: Decoded, payload: Uint8Array): ResultMap[RequestType] {
  if (type !== 'get' && type !== 'logChunk' && payload.byteLength > 0)
    throw new DecodeError(`${type} response carries a payload`);
  switch (type) {
    case 'put':
    case 'delete':
    case 'ttlUpdate':
      return undefined;
    case 'undelete':
      return { lifeVersion: body.lifeVersion as number };
    case 'get': {
      const result: {
        -readonly [K in keyof GetResult]: GetResult[K];
      } = {
        blobSize: u64(body.blobSize, 'blobSize'),
        blobChecksum: fixed64(body.blobChecksum),
        state: decodeState(has(body, 'state') ? body.state : undefined),
        blob: payload,
      };
      if (has(body, 'properties')) {
        result.propertiesBytes = bytes(body.properties);
        result.properties = decodeBlobProperties(result.propertiesBytes);
      }
      if (has(body, 'userMetadata')) {
        result.userMetadataBytes = bytes(body.userMetadata);
        result.userMetadata = decodeUserMetadata(result.userMetadataBytes);
      }
      if (has(body, 'range')) {
        const range = {
          offset: u64(body.range.offset, 'range.offset'),
          length: u64(body.range.length, 'range.length'),
        };
        if (range.length !== payload.byteLength) {
          throw new DecodeError(`range of ${range.length} bytes but a ${payload.byteLength}-byte payload`);
        }
        result.range = range;
      }
      return result;
    }
    case 'replicaMetadata':
      return {
        partitions: (body.partitions as Decoded[]).map((p) => ({
          partitionId: p.partitionId as number,
          error: p.error as ErrorCode,
          token: bytes(p.token),
          lagBytes: u64(p.lagBytes, 'lagBytes'),
          entries: (p.entries as Decoded[]).map(
            (e): MessageInfo => ({
              blobId: BlobId.fromBytes(bytes(e.blobId)),
              size: u64(e.size, 'size'),
              expiresAtMs: i64(e.expiresAtMs, 'expiresAtMs'),
              deleted: e.deleted === true,
              ttlUpdated: e.ttlUpdated === true,
              undeleted: e.undeleted === true,
              lifeVersion: e.lifeVersion as number,
              operationTimeMs: u64(e.operationTimeMs, 'operationTimeMs'),
              accountId: e.accountId as number,
              containerId: e.containerId as number,
              ...(has(e, 'checksum') ? { checksum: fixed64(e.checksum) } : {}),
            }),
          ),
        })),
      };
    case 'admin':
      return {
        healthy: body.healthy === true,
        status: body.status as string,
        replicas: (body.replicas as Decoded[]).map((r) => ({
          partitionId: r.partitionId as number,
          sealState: r.sealState as SealState,
          available: r.available === true,
          bytesUsed: u64(r.bytesUsed, 'bytesUsed'),
          capacityBytes: u64(r.capacityBytes, 'capacityBytes'),
          blobCount: u64(r.blobCount, 'blobCount'),
        })),
        // Absent unless there are entries (an empty list is the same as none).
        ...((body.replicationLag as Decoded[] | undefined)?.length
          ? {
              replicationLag: (body.replicationLag as Decoded[]).map((l) => ({
                partitionId: l.partitionId as number,
                peer: l.peer as string,
                caughtUp: l.caughtUp === true,
                ...(has(l, 'lagBytes') ? { lagBytes: u64(l.lagBytes, 'replicationLag.lagBytes') } : {}),
              })),
            }
          : {}),
      };
    case 'logChunk':
      // Copies: the frame may be a caller's buffer about to be reused (CallOptions.receiveInto), and
      // the token outlives it.
      return {
        incarnation: Buffer.from(bytes(body.incarnation)),
        segmentBytes: u64(body.segmentBytes, 'segmentBytes'),
        position: u64(body.position, 'position'),
        token: Buffer.from(bytes(body.token)),
        lagBytes: u64(body.lagBytes, 'lagBytes'),
        records: payload,
      };
  }
}
