import type { BlobProperties } from '@ambry/protocol';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, REDIS_SERVER, RedisServer, waitFor } from '../../../test-support/redis-server.js';
import {
  ChangeCapture,
  type ChangeCaptureError,
  type ChangeEvent,
  type ChangeSink,
  decodeChangeEntry,
  encodeChangeFields,
  InProcessChangeSink,
} from '../src/change-capture.js';
import { RedisStreamChangeSink, readChanges } from '../src/redis-change-sink.js';

const PROPS: BlobProperties = {
  blobSize: 42,
  serviceId: 'svc',
  contentType: 'text/plain',
  ownerId: 'alice',
  creationTimeMs: 1_700_000_000_000,
  ttlSeconds: 3600,
  isPrivate: false,
  accountId: 7,
  containerId: 3,
};

const EVENTS: ChangeEvent[] = [
  { operation: 'put', blobId: 'b1', timeMs: 10, properties: PROPS },
  { operation: 'ttlUpdate', blobId: 'b1', timeMs: 11, expiresAtMs: 1_700_000_999_000 },
  { operation: 'ttlUpdate', blobId: 'b1', timeMs: 12 },
  { operation: 'delete', blobId: 'b1', timeMs: 13 },
  { operation: 'undelete', blobId: 'b1', timeMs: 14 },
];

const numbered = (n: number, from = 0): ChangeEvent[] =>
  Array.from({ length: n }, (_, i) => ({
    operation: 'delete',
    blobId: `blob-${from + i}`,
    timeMs: from + i,
  }));

/** Blob ids in order of first appearance: at-least-once may repeat an event but must not lose or reorder one. */
const firstSeen = (events: ChangeEvent[]) => [...new Set(events.map((e) => e.blobId))];

describe('change entry encoding', () => {
  it('round-trips every operation', () => {
    for (const event of EVENTS) expect(decodeChangeEntry(encodeChangeFields(event))).toEqual(event);
  });

  it('rejects malformed entries', () => {
    expect(() => decodeChangeEntry(['op', 'rename', 'id', 'b', 'time', '1'])).toThrow(/bad op/);
    expect(() => decodeChangeEntry(['op', 'put', 'time', '1'])).toThrow(/missing id/);
    expect(() => decodeChangeEntry(['op', 'put', 'id', 'b', 'time', '1.5'])).toThrow(/bad time/);
    expect(() => decodeChangeEntry(['op', 'put', 'id', 'b', 'time', '1', 'properties', '[1]'])).toThrow(
      /properties/,
    );
  });
});

describe('InProcessChangeSink', () => {
  it('delivers later, in order, and survives a listener that throws', async () => {
    const seen: string[] = [];
    const errors: ChangeCaptureError[] = [];
    const sink = new InProcessChangeSink(
      async (event) => {
        if (event.blobId === 'blob-1') throw new Error('listener broke');
        await Promise.resolve();
        seen.push(event.blobId);
      },
      { onError: (e) => errors.push(e) },
    );
    for (const event of numbered(4)) sink.publish(event);
    expect(seen).toEqual([]); // publish did not run the listener on the caller's stack
    await sink.flush();
    expect(seen).toEqual(['blob-0', 'blob-2', 'blob-3']);
    expect(errors.map((e) => [e.kind, (e.cause as Error).message])).toEqual([['listener', 'listener broke']]);
    sink.publish(numbered(1, 9)[0] as ChangeEvent);
    await sink.flush();
    expect(seen).toEqual(['blob-0', 'blob-2', 'blob-3', 'blob-9']);
  });

  it('reports, and ignores, events published after close', async () => {
    const seen: ChangeEvent[] = [];
    const errors: ChangeCaptureError[] = [];
    const sink = new InProcessChangeSink((e) => void seen.push(e), { onError: (e) => errors.push(e) });
    await sink.close();
    expect(() => sink.publish(EVENTS[0] as ChangeEvent)).not.toThrow();
    await sink.flush();
    expect(seen).toEqual([]);
    expect(errors.map((e) => e.kind)).toEqual(['closed']);
  });
});

describe('ChangeCapture', () => {
  it('fans out to every sink, stamps times from its clock, and isolates a throwing sink', async () => {
    const a: ChangeEvent[] = [];
    const b: ChangeEvent[] = [];
    const broken: ChangeSink = {
      publish: () => {
        throw new Error('bad sink');
      },
      flush: () => Promise.reject(new Error('flush failed')),
      close: async () => {},
    };
    let now = 100;
    const capture = new ChangeCapture(
      [
        new InProcessChangeSink((e) => void a.push(e)),
        broken,
        new InProcessChangeSink((e) => void b.push(e)),
      ],
      () => now++,
    );
    capture.put('b1', PROPS);
    capture.ttlUpdate('b1', 5000);
    capture.ttlUpdate('b1', undefined);
    capture.delete('b1');
    capture.undelete('b1');
    await expect(capture.flush()).rejects.toThrow('flush failed');
    const expected: ChangeEvent[] = [
      { operation: 'put', blobId: 'b1', timeMs: 100, properties: PROPS },
      { operation: 'ttlUpdate', blobId: 'b1', timeMs: 101, expiresAtMs: 5000 },
      { operation: 'ttlUpdate', blobId: 'b1', timeMs: 102 },
      { operation: 'delete', blobId: 'b1', timeMs: 103 },
      { operation: 'undelete', blobId: 'b1', timeMs: 104 },
    ];
    expect(a).toEqual(expected);
    expect(b).toEqual(expected);
    await capture.close();
  });
});

describe.skipIf(!REDIS_SERVER)('RedisStreamChangeSink', () => {
  let server: RedisServer;
  let client: Redis;
  let streamNo = 0;
  const nextStream = () => `changes-${++streamNo}`;
  const fast = { retryInitialMs: 10, retryMaxMs: 40, flushTimeoutMs: 15_000 };

  beforeAll(async () => {
    server = await RedisServer.start();
    client = new Redis(server.url);
  });

  afterAll(async () => {
    client?.disconnect();
    await server?.dispose();
  });

  it('appends events in order with all their fields', async () => {
    const stream = nextStream();
    const sink = new RedisStreamChangeSink({ url: server.url, stream, maxLength: 1000, ...fast });
    for (const event of EVENTS) sink.publish(event);
    await sink.flush();
    expect(sink.pending).toBe(0);
    const entries = await readChanges(client, stream);
    expect(entries.map((e) => e.event)).toEqual(EVENTS);
    const [, fields] = (await client.xrange(stream, '-', '+', 'COUNT', 1))[0] ?? [];
    expect(fields?.slice(0, 6)).toEqual(['op', 'put', 'id', 'b1', 'time', '10']);
    // Reading on after the second entry, exclusively.
    const rest = await readChanges(client, stream, `(${entries[1]?.entryId}`);
    expect(rest.map((e) => e.event)).toEqual(EVENTS.slice(2));
    await sink.close();
  });

  it('keeps the stream near its MAXLEN cap', async () => {
    const stream = nextStream();
    const sink = new RedisStreamChangeSink({ url: server.url, stream, maxLength: 100, ...fast });
    for (const event of numbered(3000)) sink.publish(event);
    await sink.flush();
    const length = await client.xlen(stream);
    // "~" trims whole stream nodes (100 entries each by default), so it may keep a node more than asked.
    expect(length).toBeGreaterThanOrEqual(100);
    expect(length).toBeLessThanOrEqual(300);
    const last = await client.xrevrange(stream, '+', '-', 'COUNT', 1);
    expect(last[0] && decodeChangeEntry(last[0][1]).blobId).toBe('blob-2999');
    await sink.close();
  });

  it('queues while Redis is down and delivers everything once it is back on the same port', async () => {
    const own = await RedisServer.start();
    const errors: ChangeCaptureError[] = [];
    const sink = new RedisStreamChangeSink({
      url: own.url,
      stream: 's',
      maxLength: 1000,
      ...fast,
      onError: (e) => errors.push(e),
    });
    const reader = new Redis(own.url, { lazyConnect: true });
    try {
      for (const event of numbered(5)) sink.publish(event);
      await sink.flush();
      await reader.connect();
      await reader.save(); // the restarted server loads this, so the first five survive the restart
      reader.disconnect();
      await own.stop();
      for (const event of numbered(20, 5)) sink.publish(event);
      await waitFor(() => errors.some((e) => e.kind === 'delivery'), 'a delivery failure report');
      expect(sink.pending).toBe(20);
      await own.start();
      await sink.flush();
      await reader.connect();
      const events = (await readChanges(reader, 's')).map((e) => e.event);
      expect(firstSeen(events)).toEqual(numbered(25).map((e) => e.blobId));
      expect(sink.dropped).toBe(0);
      await sink.close();
    } finally {
      reader.disconnect();
      await sink.close();
      await own.dispose();
    }
  });

  it('drops the oldest when the pending queue is full, and counts them', async () => {
    const port = await freePort();
    const errors: ChangeCaptureError[] = [];
    const sink = new RedisStreamChangeSink({
      url: `redis://127.0.0.1:${port}`,
      stream: 's',
      maxLength: 1000,
      maxPending: 5,
      ...fast,
      onError: (e) => errors.push(e),
    });
    let own: RedisServer | undefined;
    const reader = new Redis(`redis://127.0.0.1:${port}`, { lazyConnect: true });
    try {
      for (const event of numbered(12)) sink.publish(event);
      expect(sink.dropped).toBe(7);
      expect(sink.pending).toBe(5);
      expect(errors.filter((e) => e.kind === 'dropped')).toHaveLength(1); // once per overflow, not per event
      own = await RedisServer.start(port);
      await sink.flush();
      await reader.connect();
      const events = (await readChanges(reader, 's')).map((e) => e.event);
      expect(firstSeen(events)).toEqual(['blob-7', 'blob-8', 'blob-9', 'blob-10', 'blob-11']);
    } finally {
      reader.disconnect();
      await sink.close();
      await own?.dispose();
    }
  });

  it('close gives up on an unreachable Redis and stops retrying', async () => {
    const own = await RedisServer.start();
    const caller = new Redis(own.url, { enableOfflineQueue: false, retryStrategy: () => 20 });
    caller.on('error', () => {});
    const errors: ChangeCaptureError[] = [];
    const sink = new RedisStreamChangeSink({
      redis: caller,
      stream: 's',
      maxLength: 1000,
      ...fast,
      closeTimeoutMs: 100,
      onError: (e) => errors.push(e),
    });
    try {
      await waitFor(() => caller.status === 'ready', 'caller connected');
      const readyListeners = caller.listenerCount('ready');
      await own.stop();
      await waitFor(() => caller.status !== 'ready', 'caller disconnected');
      for (const event of numbered(3)) sink.publish(event);
      await sink.close();
      expect(errors.at(-1)?.message).toMatch(/closed with 3 events undelivered/);
      expect(caller.listenerCount('ready')).toBe(readyListeners - 1);
      sink.publish(numbered(1, 3)[0] as ChangeEvent);
      expect(errors.at(-1)?.kind).toBe('closed');
      await expect(sink.flush()).rejects.toThrow(/closed/);

      await own.start();
      await waitFor(() => caller.status === 'ready', 'caller reconnected');
      // Several back-off periods (40 ms cap) pass; a sink still retrying would have written by now.
      await new Promise((r) => setTimeout(r, 300));
      expect(await caller.xlen('s')).toBe(0);
      expect(sink.pending).toBe(3);
      expect(caller.status).toBe('ready'); // a caller's connection is the caller's to close
    } finally {
      caller.disconnect();
      await own.dispose();
    }
  });
});
