/**
 * The JSON shapes of hardware.json and partitions.json (docs/formats.md, section 8). Objects are
 * strict: an unknown key is almost always a typo (`capacityByte`), and silently ignoring it would
 * load a map the operator did not mean.
 */
import { z } from 'zod';

/** Blob ids store the datacenter id in a u8; 255 means "unknown", so real datacenters use 0..254. */
export const MAX_DATACENTER_ID = 254;
/** Partition ids are u32 in blob ids. */
export const MAX_PARTITION_ID = 0xffff_ffff;

const name = z.string().min(1, 'must be a non-empty string');
const port = z.int().min(1).max(65_535);
const bytes = z.int().min(1).max(Number.MAX_SAFE_INTEGER);
const version = z.int().min(1).max(Number.MAX_SAFE_INTEGER);

export const diskSchema = z.strictObject({
  mountPath: name,
  capacityBytes: bytes,
});

export const nodeSchema = z.strictObject({
  host: name,
  port,
  adminPort: port,
  rack: name,
  disks: z.array(diskSchema).min(1, 'a node needs at least one disk'),
});

export const datacenterSchema = z.strictObject({
  name,
  id: z.int().min(0).max(MAX_DATACENTER_ID),
  nodes: z.array(nodeSchema).min(1, 'a datacenter needs at least one node'),
});

export const hardwareSchema = z.strictObject({
  clusterName: name,
  version,
  datacenters: z.array(datacenterSchema).min(1, 'a cluster needs at least one datacenter'),
});

export const partitionStateSchema = z.enum(['read-write', 'read-only']);

export const replicaSchema = z.strictObject({
  host: name,
  port,
  mountPath: name,
});

export const partitionSchema = z.strictObject({
  id: z.int().min(0).max(MAX_PARTITION_ID),
  state: partitionStateSchema,
  replicaCapacityBytes: bytes,
  replicas: z.array(replicaSchema).min(1, 'a partition needs at least one replica'),
});

export const partitionsSchema = z.strictObject({
  clusterName: name,
  version,
  // May be empty: a cluster can be laid out before its first partitions are added.
  partitions: z.array(partitionSchema),
});

export type DiskSpec = z.infer<typeof diskSchema>;
export type NodeSpec = z.infer<typeof nodeSchema>;
export type DatacenterSpec = z.infer<typeof datacenterSchema>;
/** The contents of hardware.json. */
export type HardwareFile = z.infer<typeof hardwareSchema>;
export type ReplicaSpec = z.infer<typeof replicaSchema>;
export type PartitionSpec = z.infer<typeof partitionSchema>;
/** The contents of partitions.json. */
export type PartitionsFile = z.infer<typeof partitionsSchema>;
export type PartitionState = z.infer<typeof partitionStateSchema>;

export const HARDWARE_FILE = 'hardware.json';
export const PARTITIONS_FILE = 'partitions.json';
