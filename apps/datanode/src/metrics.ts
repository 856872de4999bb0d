import { ErrorCode, type RequestOutcome } from '@ambry/protocol';
import { requestMetrics } from '@ambry/service-kit';
import { Gauge, Registry } from 'prom-client';
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

  constructor(replicas: ReplicaSet, connections: () => number) {
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
