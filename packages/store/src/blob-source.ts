import { Readable } from 'node:stream';
import { InvalidStoreArgumentError } from './errors.js';

/**
 * The bytes of a PUT, from a Buffer or a stream of a declared size. A stream is read into one buffer of
 * exactly that size (blobs are bounded by maxBlobBytes); a stream that ends early or runs long is a
 * bad request, so a truncated upload never becomes a blob.
 */
export async function readBlobSource(
  source: Uint8Array | Readable,
  declaredSize: number | undefined,
  maxBlobBytes: number,
): Promise<Buffer> {
  if (declaredSize !== undefined && (!Number.isSafeInteger(declaredSize) || declaredSize < 0)) {
    throw new InvalidStoreArgumentError(`blob size ${declaredSize} is not a non-negative integer`);
  }
  if (!(source instanceof Readable)) return blobFromBytes(source, declaredSize, maxBlobBytes);
  if (declaredSize === undefined) {
    source.destroy();
    throw new InvalidStoreArgumentError('a streamed blob needs its blobSize');
  }
  if (declaredSize > maxBlobBytes) {
    source.destroy();
    throw tooLarge(declaredSize, maxBlobBytes);
  }
  const target = Buffer.allocUnsafe(declaredSize);
  let filled = 0;
  try {
    for await (const chunk of source) {
      const bytes: Buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      if (filled + bytes.length > declaredSize) {
        throw new InvalidStoreArgumentError(
          `the blob stream is longer than its declared ${declaredSize} bytes`,
        );
      }
      bytes.copy(target, filled);
      filled += bytes.length;
    }
  } catch (error) {
    source.destroy();
    if (error instanceof InvalidStoreArgumentError) throw error;
    throw new InvalidStoreArgumentError(`the blob stream failed: ${String(error)}`, { cause: error });
  }
  if (filled !== declaredSize) {
    throw new InvalidStoreArgumentError(`the blob stream ended after ${filled} of ${declaredSize} bytes`);
  }
  return target;
}

export function blobFromBytes(
  source: Uint8Array,
  declaredSize: number | undefined,
  maxBlobBytes: number,
): Buffer {
  const bytes = Buffer.from(source.buffer, source.byteOffset, source.byteLength);
  if (declaredSize !== undefined && declaredSize !== bytes.length) {
    throw new InvalidStoreArgumentError(
      `blob size ${declaredSize} does not match the ${bytes.length} bytes given`,
    );
  }
  if (bytes.length > maxBlobBytes) throw tooLarge(bytes.length, maxBlobBytes);
  return bytes;
}

function tooLarge(size: number, limit: number): InvalidStoreArgumentError {
  return new InvalidStoreArgumentError(`a blob of ${size} bytes is over the limit of ${limit}`);
}
