/**
 * The static part of the cluster map: what exists and where replicas live. A ClusterLayout is built
 * once from validated files and never changes (a new layout is a new object), so it can be shared
 * freely; dynamic states are layered on top by a ClusterMap.
 */
import { nodeKey } from './node-key.js';
import type { HardwareFile, PartitionState, PartitionsFile } from './schema.js';

export interface Disk {
  /** `host:port` of the node that holds the disk. */
  readonly nodeKey: string;
  readonly mountPath: string;
  readonly capacityBytes: number;
}

export interface DataNode {
  /** `host:port`, the node's identity everywhere in the map. */
  readonly key: string;
  readonly host: string;
  readonly port: number;
  readonly adminPort: number;
  readonly rack: string;
  readonly datacenter: string;
  readonly datacenterId: number;
  readonly disks: readonly Disk[];
}

export interface Datacenter {
  readonly id: number;
  readonly name: string;
  readonly nodes: readonly DataNode[];
}

export interface Replica {
  readonly partitionId: number;
  readonly node: DataNode;
  readonly disk: Disk;
}

export interface Partition {
  readonly id: number;
  /** The state written in partitions.json; a ClusterMap may override it at run time. */
  readonly state: PartitionState;
  readonly replicaCapacityBytes: number;
  /** In file order. */
  readonly replicas: readonly Replica[];
}

export class ClusterLayout {
  readonly clusterName: string;
  readonly hardwareVersion: number;
  readonly partitionsVersion: number;
  readonly datacenters: readonly Datacenter[];
  readonly nodes: readonly DataNode[];
  /** Sorted by id. */
  readonly partitions: readonly Partition[];
  readonly #dcById = new Map<number, Datacenter>();
  readonly #dcByName = new Map<string, Datacenter>();
  readonly #nodes = new Map<string, DataNode>();
  readonly #partitions = new Map<number, Partition>();
  readonly #replicasByNode = new Map<string, Replica[]>();

  /** Files must have passed the schema and the semantic checks (see `parseLayout`). */
  constructor(hardware: HardwareFile, partitions: PartitionsFile) {
    this.clusterName = hardware.clusterName;
    this.hardwareVersion = hardware.version;
    this.partitionsVersion = partitions.version;
    const nodes: DataNode[] = [];
    this.datacenters = Object.freeze(
      hardware.datacenters.map((dc) => {
        const dcNodes = dc.nodes.map((spec) => {
          const key = nodeKey(spec.host, spec.port);
          const node: DataNode = Object.freeze({
            key,
            host: spec.host,
            port: spec.port,
            adminPort: spec.adminPort,
            rack: spec.rack,
            datacenter: dc.name,
            datacenterId: dc.id,
            disks: Object.freeze(
              spec.disks.map((disk) =>
                Object.freeze({ nodeKey: key, mountPath: disk.mountPath, capacityBytes: disk.capacityBytes }),
              ),
            ),
          });
          this.#nodes.set(key, node);
          this.#replicasByNode.set(key, []);
          nodes.push(node);
          return node;
        });
        const datacenter: Datacenter = Object.freeze({
          id: dc.id,
          name: dc.name,
          nodes: Object.freeze(dcNodes),
        });
        this.#dcById.set(dc.id, datacenter);
        this.#dcByName.set(dc.name, datacenter);
        return datacenter;
      }),
    );
    this.nodes = Object.freeze(nodes);

    const sorted = [...partitions.partitions].sort((a, b) => a.id - b.id);
    this.partitions = Object.freeze(
      sorted.map((spec) => {
        const replicas = spec.replicas.map((r) => {
          const node = this.#nodes.get(nodeKey(r.host, r.port))!;
          const disk = node.disks.find((d) => d.mountPath === r.mountPath)!;
          const replica: Replica = Object.freeze({ partitionId: spec.id, node, disk });
          this.#replicasByNode.get(node.key)!.push(replica);
          return replica;
        });
        const partition: Partition = Object.freeze({
          id: spec.id,
          state: spec.state,
          replicaCapacityBytes: spec.replicaCapacityBytes,
          replicas: Object.freeze(replicas),
        });
        this.#partitions.set(spec.id, partition);
        return partition;
      }),
    );
    for (const list of this.#replicasByNode.values()) Object.freeze(list);
  }

  datacenterById(id: number): Datacenter | undefined {
    return this.#dcById.get(id);
  }

  datacenterByName(name: string): Datacenter | undefined {
    return this.#dcByName.get(name);
  }

  node(key: string): DataNode | undefined {
    return this.#nodes.get(key);
  }

  partition(id: number): Partition | undefined {
    return this.#partitions.get(id);
  }

  /** Replicas hosted by a node, by partition id; empty for an unknown node. */
  replicasOnNode(key: string): readonly Replica[] {
    return this.#replicasByNode.get(key) ?? [];
  }
}
