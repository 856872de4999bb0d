import fc from 'fast-check';
import { expect } from 'vitest';
import { DecodeError } from '../src/errors.js';

/**
 * Feeds a decoder random bytes and single-byte mutations of a valid encoding. It must either throw a
 * DecodeError or return a value that re-encodes to exactly the input (the encodings are canonical).
 */
export function assertDecoderIsTotalAndCanonical<T>(
  valid: Buffer,
  decode: (bytes: Uint8Array) => T,
  encode: (value: T) => Buffer,
  randomMaxLength: number,
): void {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: randomMaxLength }),
        fc.tuple(fc.nat(valid.byteLength - 1), fc.nat(255)).map(([i, v]) => {
          const copy = Buffer.from(valid);
          copy[i] = v;
          return copy;
        }),
      ),
      (bytes) => {
        try {
          const decoded = decode(bytes);
          expect(encode(decoded).equals(bytes)).toBe(true);
        } catch (error) {
          if (!(error instanceof DecodeError)) throw error;
        }
      },
    ),
    { numRuns: 500 },
  );
}
