import { BlobId, type BlobProperties, ErrorCode, NEVER_EXPIRES, type ServerError } from '@ambry/protocol';
import type { RunningNode } from './harness.js';

/** Blobs for the tests that talk to one datanode directly: ids, properties, bytes, a PUT, error codes. */

export function newId(partitionId: number): BlobId {
  return BlobId.generate({ partitionId, datacenterId: 0, accountId: 7, containerId: 3 });
}

export function props(size: number, over: Partial<BlobProperties> = {}): BlobProperties {
  return {
    blobSize: size,
    serviceId: 'requests-test',
    contentType: 'application/octet-stream',
    creationTimeMs: Date.now(),
    ttlSeconds: NEVER_EXPIRES,
    isPrivate: false,
    accountId: 7,
    containerId: 3,
    ...over,
  };
}

export function bytes(size: number, seed: number): Buffer {
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed * 17) & 0xff;
  return out;
}

export async function putBlob(
  node: RunningNode,
  partitionId: number,
  blob: Buffer,
  over: Partial<BlobProperties> = {},
  blobId = newId(partitionId),
): Promise<BlobId> {
  await node.client.put(node.endpoint, {
    blobId,
    properties: props(blob.length, over),
    userMetadata: { name: `blob-${blob.length}` },
    blob,
  });
  return blobId;
}

export async function errorOf(promise: Promise<unknown>): Promise<ErrorCode> {
  return promise.then(
    () => ErrorCode.OK,
    (error: ServerError) => error.code,
  );
}
