/**
 * What the engine reads from a peer's otherwise opaque store token (docs/formats.md, "Find token"):
 * version u8 (1) · kind u8 (0 start, 1 journal, 2 index) · incarnation (16 bytes, absent for kind 0).
 * The peer store itself restarts a token of another incarnation from the beginning; the engine only
 * notices it, to count the reset and to drop the lag it knew.
 */

const TOKEN_VERSION = 1;
const INCARNATION_BYTES = 16;

/** Hex incarnation id of the store that issued `token`, or undefined for a start token or an unknown layout. */
export function tokenIncarnation(token: Uint8Array): string | undefined {
  if (token.length < 2 + INCARNATION_BYTES || token[0] !== TOKEN_VERSION || token[1] === 0) return undefined;
  return Buffer.from(token.subarray(2, 2 + INCARNATION_BYTES)).toString('hex');
}
