import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionClosedError, ConnectionRefusedError, type Endpoint } from '../src/errors.js';
import { RpcClient, type RpcClientOptions } from '../src/rpc/client.js';
import { countingTransport, freePort, LOCAL, outcome, sleep, str, text } from './rpc-helpers.js';

const fixture = fileURLToPath(new URL('./fixtures/rpc-echo-server.ts', import.meta.url));
const packageDir = fileURLToPath(new URL('..', import.meta.url));

const children: ChildProcess[] = [];
const clients: RpcClient[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
  await Promise.all(children.splice(0).map((child) => kill(child)));
});

function newClient(options: RpcClientOptions): RpcClient {
  const client = new RpcClient(options);
  clients.push(client);
  return client;
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

interface EchoChild {
  readonly process: ChildProcess;
  readonly port: number;
  /** Resolves with the first stdout message matching `predicate` (bounded wait). */
  message(predicate: (message: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
}

/** Start test/fixtures/rpc-echo-server.ts as a child process and wait for its port. */
async function startChild(port = 0): Promise<EchoChild> {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, String(port)], {
    cwd: packageDir,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  children.push(child);
  const messages: Array<Record<string, unknown>> = [];
  const listeners = new Set<() => void>();
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      messages.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      return; // not one of ours
    }
    for (const listener of listeners) listener();
  });
  const exited = once(child, 'exit');

  const message = (predicate: (m: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const found = messages.find(predicate);
        if (!found) return;
        done();
        resolve(found);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error('timed out waiting for the child'));
      }, 20_000);
      const done = (): void => {
        clearTimeout(timer);
        listeners.delete(check);
      };
      listeners.add(check);
      void exited.then(() => {
        done();
        reject(new Error(`child exited (code ${child.exitCode}, signal ${child.signalCode})`));
      });
      check();
    });

  const ready = await message((m) => typeof m.port === 'number');
  return { process: child, port: ready.port as number, message };
}

describe('RpcClient against a server process that dies and comes back', () => {
  it('fails a held request with ConnectionClosedError on SIGKILL, backs off while down, reconnects to the restarted server', async () => {
    const first = await startChild();
    const endpoint: Endpoint = { host: LOCAL, port: first.port };

    const transport = countingTransport();
    const client = newClient({ transport, reconnectBackoff: { initialMs: 20, maxMs: 200 } });
    // A second client whose backoff window outlives the test: it shows fail-fast deterministically.
    const patientTransport = countingTransport();
    const patient = newClient({
      transport: patientTransport,
      reconnectBackoff: { initialMs: 60_000, maxMs: 60_000 },
    });

    const warm = await client.request(endpoint, { header: text('warm'), payload: text('abc') });
    expect(str(warm.payload)).toBe('cba');

    // A request the child holds; kill the child while it is in flight.
    const held = outcome(client.request(endpoint, { header: text('hold') }, { timeoutMs: 60_000 }));
    await first.message((m) => 'held' in m);
    await kill(first.process);
    const heldResult = await held;
    expect(heldResult.error).toBeInstanceOf(ConnectionClosedError);

    // While the server is down: connect refused, then fail fast inside the backoff window.
    const refused = await outcome(patient.request(endpoint, { header: text('down') }));
    expect(refused.error).toBeInstanceOf(ConnectionRefusedError);
    expect(((refused.error as Error).cause as Error & { cause?: { code?: string } }).cause?.code).toBe(
      'ECONNREFUSED',
    );
    expect(patientTransport.connects).toBe(1);
    expect(patient.stats()[0]).toMatchObject({ connections: 0, backingOff: true });
    const fast = await outcome(patient.request(endpoint, { header: text('down-again') }));
    expect(fast.error).toBeInstanceOf(ConnectionRefusedError);
    expect(patientTransport.connects).toBe(1);

    const down = await outcome(client.request(endpoint, { header: text('down') }));
    expect(down.error).toBeInstanceOf(ConnectionRefusedError);

    // The replacement listens on the same port; the client gets back to it on its own.
    const second = await startChild(first.port);
    expect(second.port).toBe(first.port);
    let reply: { header: Uint8Array; payload: Uint8Array } | undefined;
    let attempts = 0;
    while (!reply && attempts < 50) {
      attempts += 1;
      const result = await outcome(
        client.request(endpoint, { header: text('back'), payload: text('again') }),
      );
      if (result.value) {
        reply = result.value;
      } else {
        expect(result.error).toBeInstanceOf(ConnectionRefusedError);
        await sleep(50);
      }
    }
    expect(reply).toBeDefined();
    expect(str(reply!.header)).toBe('back');
    expect(str(reply!.payload)).toBe('niaga');
    expect(client.stats()[0]).toMatchObject({ connections: 1, backingOff: false });

    // The patient client is still inside its window: it fails fast without trying, server up or not.
    const stillWaiting = await outcome(patient.request(endpoint, { header: text('up') }));
    expect(stillWaiting.error).toBeInstanceOf(ConnectionRefusedError);
    expect(patientTransport.connects).toBe(1);
  });

  it('fails every request waiting for a connect that is refused', async () => {
    const port = await freePort();
    const transport = countingTransport();
    const client = newClient({ transport, connectionsPerEndpoint: 1, maxInFlightPerConnection: 2 });
    const results = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        outcome(client.request({ host: LOCAL, port }, { header: text(`r${i}`) }, { timeoutMs: 60_000 })),
      ),
    );
    for (const result of results) expect(result.error).toBeInstanceOf(ConnectionRefusedError);
    expect(transport.connects).toBe(1);
  });
});
