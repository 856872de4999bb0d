/**
 * What the fuzz suites share: the profile (how many cases), the seed, raw TCP exchanges with a bound on
 * every one of them, and process checks (alive, RSS).
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';

export type ProfileName = 'ci' | 'long';

export interface Profile {
  readonly name: ProfileName;
  /** Multiplies every suite's base counts: 1 for ci, 20 for long. */
  readonly scale: number;
  /** fast-check seed: FAULTS_SEED, else a fixed one so two ci runs fuzz the same cases. */
  readonly seed: number;
}

const DEFAULT_SEED = 0x0a3b_c9;

/** `FAULTS_PROFILE=ci|long` (default ci), `FAULTS_SEED=<integer>`. */
export function profile(env: NodeJS.ProcessEnv = process.env): Profile {
  const name = (env.FAULTS_PROFILE ?? 'ci').trim() || 'ci';
  if (name !== 'ci' && name !== 'long') {
    throw new Error(`FAULTS_PROFILE must be ci or long, got ${JSON.stringify(name)}`);
  }
  const rawSeed = env.FAULTS_SEED?.trim();
  const seed = rawSeed ? Number(rawSeed) : DEFAULT_SEED;
  if (!Number.isSafeInteger(seed)) throw new Error(`FAULTS_SEED must be an integer, got ${rawSeed}`);
  return { name, scale: name === 'long' ? 20 : 1, seed };
}

export function isAlive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** VmRSS of a process in KiB (Linux: /proc/<pid>/status); undefined when it cannot be read. */
export function rssKiB(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** One piece of what a fuzz case sends, written after `delayMs`. */
export interface Piece {
  readonly bytes: Uint8Array;
  readonly delayMs?: number;
}

export interface ExchangeOptions {
  readonly host: string;
  readonly port: number;
  readonly pieces: readonly Piece[];
  /**
   * Once everything is written: end our side when this says the answers we wait for are in (checked
   * after every chunk received), or after `graceMs` at most. Our FIN is not a half-close a server must
   * honour (a data node ends the connection on it, dropping answers still in its handlers), so a case
   * waits for what it expects first. Default: nothing to wait for, end after `graceMs`.
   */
  readonly answered?: (received: Buffer) => boolean;
  /** Longest wait for `answered` after the last write (default 20 ms without `answered`, else 5 s). */
  readonly graceMs?: number;
  /**
   * Never end our side: the server must answer (then we leave) or close the connection by itself,
   * within timeoutMs.
   */
  readonly neverEnd?: boolean;
  /** The whole exchange, connect to close, must end within this. */
  readonly timeoutMs: number;
}

export interface ExchangeResult {
  readonly received: Buffer;
  /** The socket did not close within timeoutMs (we destroyed it). */
  readonly hung: boolean;
  /** The server ended or reset the connection before we had written everything. */
  readonly closedEarly: boolean;
  /** The server reset the connection (ECONNRESET / EPIPE) rather than ending it. */
  readonly reset: boolean;
  /** The server ended or reset the connection before we ended our side. */
  readonly closedByServer: boolean;
  /** Bytes actually written. */
  readonly written: number;
  readonly ms: number;
}

/**
 * Connects, writes the pieces (awaiting each write, sleeping before a piece with a delay), waits for the
 * answers it expects, ends its side and collects whatever comes back until the server closes the
 * socket. Bounded by timeoutMs.
 */
export function exchange(options: ExchangeOptions): Promise<ExchangeResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    const socket = net.connect({ host: options.host, port: options.port, allowHalfOpen: true });
    socket.setNoDelay(true);
    const chunks: Buffer[] = [];
    let received = 0;
    let written = 0;
    let writingDone = false;
    let closedEarly = false;
    let reset = false;
    let closedByServer = false;
    let hung = false;
    let settled = false;
    const finish = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({
        received: Buffer.concat(chunks, received),
        hung,
        closedEarly,
        reset,
        closedByServer,
        written,
        ms: performance.now() - started,
      });
    };
    const timer = setTimeout(() => {
      hung = true;
      socket.destroy();
    }, options.timeoutMs);
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNRESET' || error.code === 'EPIPE') reset = true;
      if (!writingDone) closedEarly = true;
      if (!socket.writableEnded) closedByServer = true;
    });
    socket.on('end', () => {
      if (!writingDone) closedEarly = true;
      if (!socket.writableEnded) closedByServer = true;
      // The server is done; so are we (a server that half-closes first gets our FIN now).
      if (!socket.writableEnded) socket.end();
    });
    let grace: NodeJS.Timeout | undefined;
    const endOurSide = () => {
      clearTimeout(grace);
      if (!options.neverEnd && !socket.destroyed && !socket.writableEnded) socket.end();
    };
    // A stalled client that got its answers leaves: the server may keep an answered connection open
    // for keep-alive, which is no hang. Unanswered, it must close the connection by itself.
    const answeredNow = () => {
      if (!options.neverEnd) return endOurSide();
      clearTimeout(grace);
      socket.destroy();
    };
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.byteLength;
      if (writingDone && options.answered?.(Buffer.concat(chunks, received))) answeredNow();
    });
    socket.on('close', () => {
      clearTimeout(grace);
      finish();
    });
    socket.once('connect', async () => {
      for (const piece of options.pieces) {
        if (socket.destroyed || socket.writableEnded) break;
        if (piece.delayMs) await sleep(piece.delayMs);
        if (socket.destroyed || socket.writableEnded) break;
        const ok = await new Promise<boolean>((done) => {
          socket.write(piece.bytes, (error) => done(!error));
        });
        if (!ok) break;
        written += piece.bytes.byteLength;
      }
      writingDone = true;
      if (options.answered?.(Buffer.concat(chunks, received))) answeredNow();
      else grace = setTimeout(endOurSide, options.graceMs ?? (options.answered ? 5000 : 20));
    });
  });
}

/** How a case's bytes go out: in one write, or trickled a few bytes at a time. */
export type Delivery = { kind: 'fast' } | { kind: 'slow'; size: number; delayMs: number };

/**
 * The writes of a delivery. Trickling is bounded: at most `maxSlowPieces` pieces of `size` bytes, each
 * after `delayMs`, then the rest in one write.
 */
export function deliver(bytes: Buffer, delivery: Delivery, maxSlowPieces: number): Piece[] {
  if (delivery.kind === 'fast' || bytes.byteLength === 0) return [{ bytes }];
  const slowPart = bytes.subarray(0, maxSlowPieces * delivery.size);
  const pieces: Piece[] = [];
  for (let at = 0; at < slowPart.byteLength; at += delivery.size) {
    pieces.push({ bytes: slowPart.subarray(at, at + delivery.size), delayMs: delivery.delayMs });
  }
  if (slowPart.byteLength < bytes.byteLength) pieces.push({ bytes: bytes.subarray(slowPart.byteLength) });
  return pieces;
}

/**
 * The most a fuzzed process's RSS may grow between the end of warm-up and the end of a run. A warm heap
 * moves by tens of MiB at most; a leak of a few KiB per case shows far beyond this in the long profile.
 */
export const MAX_RSS_GROWTH_KIB = 128 * 1024;
