import { BlobId } from '@ambry/protocol';
import { type BlobIndex, keyBytes } from './blob-index.js';
import type { PersistedIndexSegment } from './index-segment.js';
import type { IndexValue } from './index-value.js';
import { type FindToken, START_TOKEN } from './token.js';

/**
 * Replication's view of a store: what changed since a token. Persisted segments are walked in log order
 * and, inside one, in key order (one entry per key: its merged state); the journal is walked record by
 * record. An entry always reports the key's current state. A token in a range that has since been
 * persisted continues in that segment from its position: entries whose newest record is older were
 * already returned, so nothing is returned twice and nothing is skipped.
 */

const SEGMENT_READ_ENTRIES = 256;

export interface FindContext {
  readonly index: BlobIndex;
  readonly incarnation: Buffer;
  readonly session: Buffer;
  /** Where a journal token of an earlier session may resume (see SessionHistory). */
  readonly resumePosition: (session: Buffer, position: number) => number;
}

/**
 * Where a journal token of this incarnation continues. The log behind a token from an earlier session
 * may have lost its unsynced tail in a crash, and the positions been reused by new records: those are
 * resent rather than skipped.
 */
export function journalResumePosition(
  ctx: FindContext,
  token: Extract<FindToken, { kind: 'journal' }>,
): number {
  return token.session.equals(ctx.session)
    ? token.position
    : ctx.resumePosition(token.session, token.position);
}

export interface FoundEntries {
  readonly entries: { readonly id: BlobId; readonly value: IndexValue }[];
  readonly token: FindToken;
  /** Log position the new token stands for (for lag). */
  readonly position: number;
}

export async function findEntries(
  ctx: FindContext,
  token: FindToken,
  maxBytes: number,
): Promise<FoundEntries> {
  const { index } = ctx;
  const ids = { incarnation: ctx.incarnation, session: ctx.session };
  const entries: FoundEntries['entries'] = [];
  let bytes = 0;
  const full = () => bytes >= maxBytes;
  const add = (key: Buffer, value: IndexValue) => {
    entries.push({ id: BlobId.fromBytes(key), value });
    bytes += value.putSize;
  };

  const fromJournal = (position: number): FoundEntries => {
    let at = Math.max(position, index.journalStart);
    for (const record of index.journalFrom(at)) {
      if (full()) break;
      const value = index.memoryValue(record.key);
      if (value !== undefined) add(keyBytes(record.key), value);
      at = record.end;
    }
    return { entries, token: { kind: 'journal', ...ids, position: at }, position: at };
  };

  const fromSegment = async (
    first: PersistedIndexSegment,
    firstAfter: Buffer | undefined,
    firstSince: number,
  ): Promise<FoundEntries> => {
    let segment: PersistedIndexSegment | undefined = first;
    let after = firstAfter;
    let since = firstSince;
    while (segment !== undefined) {
      for (;;) {
        const batch = await segment.entriesAfter(after, SEGMENT_READ_ENTRIES);
        for (const entry of batch) {
          if (full()) {
            return {
              entries,
              token: {
                kind: 'index',
                ...ids,
                segmentStart: segment.startPosition,
                segmentEnd: segment.endPosition,
                sincePosition: since,
                lastKey: after,
              },
              position: segment.startPosition,
            };
          }
          after = entry.key;
          if (entry.value.lastPosition < since) continue;
          add(entry.key, await index.latestSince(segment, entry.key, entry.value));
        }
        if (batch.length < SEGMENT_READ_ENTRIES) break;
      }
      const next = index.segmentAfter(segment);
      if (next === undefined) return fromJournal(segment.endPosition);
      segment = next;
      after = undefined;
      since = 0;
    }
    return fromJournal(0);
  };

  /** Everything from a log position on: the journal, or the persisted segment covering it. */
  const fromPosition = (position: number): Promise<FoundEntries> | FoundEntries => {
    if (position >= index.journalStart) return fromJournal(position);
    const segment =
      index.segmentContaining(position) ?? index.persistedSegments.find((s) => s.startPosition >= position);
    return segment === undefined ? fromJournal(position) : fromSegment(segment, undefined, position);
  };

  let current = token;
  if (current.kind !== 'start' && !current.incarnation.equals(ctx.incarnation)) current = START_TOKEN;
  switch (current.kind) {
    case 'start': {
      const first = index.persistedSegments[0];
      return first === undefined ? fromJournal(0) : fromSegment(first, undefined, 0);
    }
    case 'journal':
      return fromPosition(journalResumePosition(ctx, current));
    case 'index': {
      const segment = index.segmentStartingAt(current.segmentStart);
      if (segment === undefined || segment.endPosition !== current.segmentEnd) {
        // The segment was rebuilt (dropped as damaged and re-indexed): walk again from where this walk
        // began. Some entries may come twice; none is skipped.
        return fromPosition(Math.max(current.segmentStart, current.sincePosition));
      }
      return fromSegment(segment, current.lastKey, current.sincePosition);
    }
  }
}
