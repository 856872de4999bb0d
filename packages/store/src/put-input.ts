import type { Readable } from 'node:stream';
import {
  type BlobId,
  type BlobProperties,
  decodeBlobProperties,
  decodeUserMetadata,
  encodeBlobProperties,
  encodeUserMetadata,
  expiresAtMs as propertiesExpiry,
  type UserMetadata,
  xxh64,
} from '@ambry/protocol';
import { blobFromBytes, readBlobSource } from './blob-source.js';
import { InvalidStoreArgumentError } from './errors.js';
import { MAX_EXPIRY_MS, NEVER_EXPIRES } from './index-value.js';
import { MAX_LIFE_VERSION } from './life-cycle.js';
import type { ResolvedOptions } from './options.js';
import { encodePutRecord } from './record.js';
import type { WriteOp } from './write-pipeline.js';

/** What a caller hands to `BlobStore.put`, and its checks and encoding into a PUT record. */

export interface PutInput {
  readonly id: BlobId;
  /** Decoded properties, or their encoded bytes (kept byte for byte, unknown extensions included). */
  readonly properties: BlobProperties | Uint8Array;
  readonly userMetadata?: UserMetadata | Uint8Array;
  /** The bytes, or a stream of exactly `blobSize` bytes. */
  readonly blob: Uint8Array | Readable;
  /** Required with a stream; checked against a Buffer. Defaults to the Buffer's length. */
  readonly blobSize?: number;
  /** xxh64 of the blob when the caller already has it (the wire carries one); verified. */
  readonly blobChecksum?: bigint;
  /** Set by replication (the source's life version); local PUTs start at 0. */
  readonly lifeVersion?: number;
  readonly operationTimeMs?: number;
}

export type PutOp = Extract<WriteOp, { type: 'put' }>;

/**
 * The PUT as a write, or a promise of it when the blob is a stream. A Buffer is taken without yielding,
 * so writes issued one after another are queued in that order.
 */
export function preparePut(
  input: PutInput,
  options: Pick<ResolvedOptions, 'config' | 'clock'>,
): PutOp | Promise<PutOp> {
  const { maxBlobBytes } = options.config;
  if (!isStream(input.blob))
    return encodePut(input, blobFromBytes(input.blob, input.blobSize, maxBlobBytes), options);
  return readBlobSource(input.blob, input.blobSize, maxBlobBytes).then((blob) =>
    encodePut(input, blob, options),
  );
}

function encodePut(input: PutInput, blob: Buffer, { clock }: Pick<ResolvedOptions, 'clock'>): PutOp {
  const { bytes: propertiesBytes, properties } = encodeProperties(input.properties);
  const userMetadataBytes = encodeMetadata(input.userMetadata ?? {});
  if (properties.blobSize !== blob.length) {
    throw new InvalidStoreArgumentError(
      `properties say ${properties.blobSize} bytes, the blob has ${blob.length}`,
    );
  }
  const blobChecksum = xxh64(blob);
  if (input.blobChecksum !== undefined && input.blobChecksum !== blobChecksum) {
    throw new InvalidStoreArgumentError('the blob does not match its checksum');
  }
  const lifeVersion = input.lifeVersion ?? 0;
  if (!Number.isInteger(lifeVersion) || lifeVersion < 0 || lifeVersion > MAX_LIFE_VERSION) {
    throw new InvalidStoreArgumentError(`life version ${lifeVersion} is out of range`);
  }
  const key = input.id.toBytes();
  const fields = {
    key,
    lifeVersion,
    accountId: properties.accountId,
    containerId: properties.containerId,
    operationTimeMs: validTime(input.operationTimeMs ?? clock()),
    expiresAtMs: Math.min(propertiesExpiry(properties) ?? NEVER_EXPIRES, MAX_EXPIRY_MS),
  };
  const encoded = encodePutRecord(fields, propertiesBytes, userMetadataBytes, blob, blobChecksum);
  return {
    type: 'put',
    key,
    keyText: input.id.toString(),
    fields,
    encoded,
    replicated: input.lifeVersion !== undefined,
  };
}

function isStream(blob: Uint8Array | Readable): blob is Readable {
  return !(blob instanceof Uint8Array);
}

export function validTime(ms: number): number {
  if (!Number.isSafeInteger(ms) || ms < 0 || ms > MAX_EXPIRY_MS) {
    throw new InvalidStoreArgumentError(`operation time ${ms} is not a valid epoch ms value`);
  }
  return ms;
}

/** The properties as stored bytes and as a value; bytes given by the caller are kept exactly. */
function encodeProperties(input: BlobProperties | Uint8Array): { bytes: Buffer; properties: BlobProperties } {
  try {
    if (input instanceof Uint8Array) {
      const bytes = Buffer.from(input);
      return { bytes, properties: decodeBlobProperties(bytes) };
    }
    return { bytes: encodeBlobProperties(input), properties: input };
  } catch (error) {
    throw new InvalidStoreArgumentError(`blob properties are invalid: ${String(error)}`, { cause: error });
  }
}

function encodeMetadata(metadata: UserMetadata | Uint8Array): Buffer {
  try {
    if (metadata instanceof Uint8Array) {
      const bytes = Buffer.from(metadata);
      decodeUserMetadata(bytes);
      return bytes;
    }
    return encodeUserMetadata(metadata);
  } catch (error) {
    throw new InvalidStoreArgumentError(`user metadata is invalid: ${String(error)}`, { cause: error });
  }
}
