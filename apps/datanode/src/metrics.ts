import { ErrorCode, type RequestOutcome } from '@ambry/protocol';
import type { ReplicationEngine } from '@ambry/replication';
import { requestMetrics } from '@ambry/service-kit';
import { Counter, Gauge, Registry } from 'prom-client';
import { replicaStats } from './handlers.js';
import type { ReplicaSet } from './replica-set.js';

/**
 * Prometheus metrics of one datanode: requests by type and result, latency, bytes in and out, per-replica
 * size, blob count and seal state, failed disks, open connections. Per-replica values are read when
 * scraped, so nothing has to push them.
 */
export class DataNodeMetrics {
  readonly registry = new Registry();
  private readonly request = requestMetrics(this.registry, {
    prefix: 'ambry_datanode_',
    labelNames: ['type'],
    outcomeLabel: 'result',
    buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    help: {
      requests: 'Requests answered, by type and result (error code name)',
      duration: 'Time from decoded request to encoded response',
      bytesIn: 'Request bytes received (header and payload)',
      bytesOut: 'Response bytes sent (header and payload)',
    },
  });

  constructor(
    replicas: ReplicaSet,
    connections: () => number,
    replication: () => ReplicationEngine | undefined = () => undefined,
  ) {
    const registers = [this.registry];
    const perReplica = (name: string, help: string, pick: (s: ReturnType<typeof replicaStats>) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['partition'],
        registers,
        collect() {
          this.reset();
          for (const replica of replicas.all()) {
            this.set({ partition: String(replica.partitionId) }, pick(replicaStats(replica)));
          }
        },
      });
    perReplica('ambry_datanode_replica_bytes_used', 'Log bytes used by the replica', (s) => s.bytesUsed);
    perReplica('ambry_datanode_replica_blob_count', 'Blobs (PUTs) held by the replica', (s) => s.blobCount);
    perReplica(
      'ambry_datanode_replica_seal_state',
      'Seal state: 0 read-write, 1 partially sealed, 2 read-only',
      (s) => s.sealState,
    );
    perReplica('ambry_datanode_replica_available', '1 when the replica serves requests', (s) =>
      s.available ? 1 : 0,
    );
    new Gauge({
      name: 'ambry_datanode_failed_disks',
      help: 'Disks marked failed after I/O errors',
      registers,
      collect() {
        this.set(replicas.disksFailed.length);
      },
    });
    new Counter({
      name: 'ambry_datanode_corrupt_records_total',
      help: 'Reads refused because the stored record failed its checksum (bit rot), by partition',
      labelNames: ['partition'],
      registers,
      collect() {
        this.reset();
        for (const [partition, count] of replicas.corruptRecords)
          this.inc({ partition: String(partition) }, count);
      },
    });
    replicationMetrics(registers, replication);
    new Gauge({
      name: 'ambry_datanode_open_connections',
      help: 'Open wire-protocol connections',
      registers,
      collect() {
        this.set(connections());
      },
    });
  }

  observe(outcome: RequestOutcome): void {
    const result = ErrorCode[outcome.error] ?? String(outcome.error);
    this.request.requests.inc({ type: outcome.type, result });
    this.request.latency.observe({ type: outcome.type }, outcome.durationMs / 1000);
    this.request.bytesIn.inc({ type: outcome.type }, outcome.bytesIn);
    this.request.bytesOut.inc({ type: outcome.type }, outcome.bytesOut);
  }
}

/** Engine counters exported as `ambry_replication_<name>_total{class}` (class: intraDc / interDc). */
const REPLICATION_COUNTERS: Record<string, string> = {
  rounds: 'Replication rounds (one REPLICA_METADATA request each)',
  roundErrors: 'Rounds that failed as a whole (peer unreachable, request failed)',
  partitionsPolled: 'Partitions in metadata responses',
  partitionErrors: 'Partitions a peer answered with an error',
  localStoreSkips: 'Partitions skipped because the local store could not take writes',
  entries: 'Entries seen in metadata responses',
  blobsFetched: 'Blobs fetched from peers with GET',
  bytesFetched: 'Blob bytes fetched from peers',
  putsWritten: 'Replicated PUTs written',
  putsAlreadyPresent: 'Fetched PUTs the store already held (another peer was faster)',
  updatesApplied: 'DELETE / TTL_UPDATE / UNDELETE records appended by replication',
  updatesIgnored: 'Replicated updates the store found already applied',
  skippedDeleted: 'Keys not fetched: deleted at the peer',
  skippedExpired: 'Keys not fetched: expired at the peer',
  skippedGone: 'Keys not fetched: gone at the peer when fetched',
  blobErrors: 'Blobs that could not be replicated (corrupt at the peer, conflicting copy)',
  tokenResets: "Tokens reset because a peer's replica was recreated",
  localResets: 'Tokens reset because the local replica was recreated',
  logCopies: "Empty replicas rebuilt by copying a peer's log",
  logCopyFailures: 'Log copies that stopped early (the rest replicated blob by blob)',
  logChunks: 'LOG_CHUNK answers written by log copies',
  logCopyBytes: 'Bytes of log records copied from peers',
};

function snake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/**
 * Replication lag per (partition, peer) in bytes, totals and caught-up counts, and the engine's counters.
 * Read from the engine when scraped; nothing is exported when replication is off.
 */
function replicationMetrics(registers: Registry[], replication: () => ReplicationEngine | undefined): void {
  new Gauge({
    name: 'ambry_replication_lag_bytes',
    help: "Bytes of the peer's log not yet replicated here, per (partition, peer); absent before the peer first answered",
    labelNames: ['partition', 'peer'],
    registers,
    collect() {
      this.reset();
      for (const lag of replication()?.lag() ?? []) {
        if (lag.lagBytes !== undefined)
          this.set({ partition: String(lag.partitionId), peer: lag.peer }, lag.lagBytes);
      }
    },
  });
  new Gauge({
    name: 'ambry_replication_total_lag_bytes',
    help: 'Sum of the known replication lag over every (partition, peer) pair',
    registers,
    collect() {
      this.set((replication()?.lag() ?? []).reduce((sum, l) => sum + (l.lagBytes ?? 0), 0));
    },
  });
  new Gauge({
    name: 'ambry_replication_pairs',
    help: '(partition, peer) pairs replicated, by state: caught_up, behind (lag or not yet polled), problem',
    labelNames: ['state'],
    registers,
    collect() {
      const lag = replication()?.lag() ?? [];
      this.set({ state: 'caught_up' }, lag.filter((l) => l.caughtUp).length);
      this.set({ state: 'behind' }, lag.filter((l) => !l.caughtUp).length);
      this.set({ state: 'problem' }, lag.filter((l) => l.problem !== undefined).length);
    },
  });
  new Gauge({
    name: 'ambry_replication_token_flushes',
    help: 'Replica token files written (one per disk per flush), and failed writes',
    labelNames: ['result'],
    registers,
    collect() {
      const metrics = replication()?.metrics();
      this.set({ result: 'ok' }, metrics?.tokenFlushes ?? 0);
      this.set({ result: 'error' }, metrics?.tokenFlushErrors ?? 0);
    },
  });
  for (const [key, help] of Object.entries(REPLICATION_COUNTERS)) {
    new Counter({
      name: `ambry_replication_${snake(key)}_total`,
      help,
      labelNames: ['class'],
      registers,
      collect() {
        // A snapshot of the engine's own counters: reset, then set to the engine's value.
        this.reset();
        const metrics = replication()?.metrics();
        if (metrics === undefined) return;
        for (const peerClass of ['intraDc', 'interDc'] as const) {
          this.inc({ class: peerClass }, metrics[peerClass][key as keyof (typeof metrics)['intraDc']]);
        }
      },
    });
  }
}
