import { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ConnectionClosedError, InvalidArgumentError } from '../src/errors.js';
import { encodeFrame, type Frame, FrameDecoder } from '../src/frame.js';
import { silentLogger } from '../src/logger.js';
import { Backoff } from '../src/rpc/backoff.js';
import type { RpcReply } from '../src/rpc/client.js';
import { RpcClient } from '../src/rpc/client.js';
import { ClientConnection, type PendingRequest } from '../src/rpc/client-connection.js';
import { text, turn } from './rpc-helpers.js';

/** A Duplex that records each write unit (one `_write` or one `_writev` call) and lets the test push. */
class RecordingSocket extends Duplex {
  readonly units: Buffer[] = [];
  override _read(): void {}
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.units.push(Buffer.from(chunk));
    callback();
  }
  override _writev(
    chunks: Array<{ chunk: Buffer; encoding: BufferEncoding }>,
    callback: (error?: Error | null) => void,
  ): void {
    this.units.push(Buffer.concat(chunks.map((c) => c.chunk)));
    callback();
  }
}

function pending(header: string, payload = ''): PendingRequest & { outcome?: RpcReply | Error } {
  const request: PendingRequest & { outcome?: RpcReply | Error } = {
    header: text(header),
    payload: text(payload),
    connection: undefined,
    correlationId: -1,
    finish: (outcome) => {
      request.outcome ??= outcome;
    },
  };
  return request;
}

function connection(firstCorrelationId = 0) {
  const events: string[] = [];
  const conn = new ClientConnection(
    { host: 'node', port: 1 },
    { maxInFlight: 4, maxBufferedBytes: 1024, maxFrameBytes: 1024 * 1024, logger: silentLogger },
    { onCapacity: () => events.push('capacity'), onClosed: () => events.push('closed') },
    firstCorrelationId,
  );
  const socket = new RecordingSocket();
  conn.attach(socket);
  return { conn, socket, events };
}

function decodeUnits(units: Buffer[]): Frame[][] {
  return units.map((unit) => new FrameDecoder().push(unit));
}

describe('ClientConnection', () => {
  it('writes each frame as one unit (one corked batch), header-only or with payload', async () => {
    const { conn, socket } = connection();
    conn.send(pending('a', 'payload-a'));
    conn.send(pending('b'));
    conn.send(pending('c', 'x'.repeat(100)));
    await turn();
    const frames = decodeUnits(socket.units);
    expect(frames.map((unit) => unit.length)).toEqual([1, 1, 1]);
    expect(frames.map((unit) => new TextDecoder().decode(unit[0]!.header))).toEqual(['a', 'b', 'c']);
    expect(frames.map((unit) => unit[0]!.correlationId)).toEqual([0, 1, 2]);
  });

  it('wraps correlation ids around at 2^32', async () => {
    const { conn, socket } = connection(0xffff_fffe);
    for (const name of ['a', 'b', 'c', 'd']) conn.send(pending(name));
    await turn();
    expect(decodeUnits(socket.units).map((unit) => unit[0]!.correlationId)).toEqual([
      0xffff_fffe, 0xffff_ffff, 0, 1,
    ]);
  });

  it('matches responses by correlation id, in any order, and ignores unknown ids', async () => {
    const { conn, socket, events } = connection();
    const a = pending('a');
    const b = pending('b');
    conn.send(a);
    conn.send(b);
    const response = (correlationId: number, header: string) =>
      Buffer.concat(
        encodeFrame({ kind: 'response', correlationId, header: text(header), payload: text('') }),
      );
    socket.push(Buffer.concat([response(1, 'for-b'), response(77, 'stray'), response(0, 'for-a')]));
    await turn();
    expect(new TextDecoder().decode((b.outcome as RpcReply).header)).toBe('for-b');
    expect(new TextDecoder().decode((a.outcome as RpcReply).header)).toBe('for-a');
    expect(conn.inFlightCount).toBe(0);
    expect(events).toEqual(['capacity']);
  });

  it('forgets a request so that its late response is ignored, and rejects the rest on close', async () => {
    const { conn, socket, events } = connection();
    const a = pending('a');
    const b = pending('b');
    conn.send(a);
    conn.send(b);
    conn.forget(a);
    expect(conn.inFlightCount).toBe(1);
    socket.push(
      Buffer.concat(
        encodeFrame({ kind: 'response', correlationId: 0, header: text('late'), payload: text('') }),
      ),
    );
    await turn();
    expect(a.outcome).toBeUndefined();
    socket.destroy();
    await turn();
    expect(b.outcome).toBeInstanceOf(ConnectionClosedError);
    expect(events).toEqual(['closed']);
    expect(conn.state).toBe('closed');
  });
});

describe('Backoff', () => {
  it('grows exponentially up to the cap, with jitter in [0.5, 1), and resets on success', () => {
    let now = 1000;
    let random = 0;
    const backoff = new Backoff(
      { initialMs: 50, maxMs: 300, multiplier: 2 },
      () => now,
      () => random,
    );
    expect(backoff.active).toBe(false);
    expect([backoff.fail(), backoff.fail(), backoff.fail(), backoff.fail(), backoff.fail()]).toEqual([
      25, 50, 100, 150, 150,
    ]);
    random = 0.999;
    expect(backoff.fail()).toBe(300);
    expect(backoff.active).toBe(true);
    expect(backoff.remainingMs()).toBe(300);
    now += 300;
    expect(backoff.active).toBe(false);
    expect(backoff.consecutiveFailures).toBe(6);
    backoff.succeed();
    expect(backoff.consecutiveFailures).toBe(0);
    random = 0;
    expect(backoff.fail()).toBe(25);
  });

  it('validates its options, as does the client', () => {
    expect(() => new Backoff({ initialMs: -1 })).toThrow(InvalidArgumentError);
    expect(() => new Backoff({ initialMs: 100, maxMs: 10 })).toThrow(InvalidArgumentError);
    expect(() => new Backoff({ multiplier: 0.5 })).toThrow(InvalidArgumentError);
    expect(() => new RpcClient({ connectionsPerEndpoint: 0 })).toThrow(InvalidArgumentError);
    expect(() => new RpcClient({ requestTimeoutMs: -5 })).toThrow(InvalidArgumentError);
    expect(() => new RpcClient({ reconnectBackoff: { multiplier: 0 } })).toThrow(InvalidArgumentError);
  });
});
