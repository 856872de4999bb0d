/**
 * Rack-aware replica placement inside one datacenter. Nodes get racks round-robin (node i is in rack
 * i % racks), so rack sizes differ by at most one.
 *
 * The main construction walks a cycle of "slots": slot k is disk floor(k / nodes) of the node at
 * position k % nodes of a node order. Partition p takes the `replicas` consecutive slots starting at
 * p * replicas. Because replicas <= nodes, consecutive slots are on distinct nodes; because the slots
 * are dealt out in turn, replica counts per disk differ by at most one. The node order is chosen so
 * that any `replicas` cyclically consecutive nodes are in distinct racks whenever that is possible,
 * which is exactly when the biggest rack holds at most nodes / replicas nodes.
 *
 * With fewer racks than replicas, the nodes are taken in round-robin rack order, so a partition's
 * replicas cycle through the racks: exactly evenly when the rack count divides the node count, and
 * otherwise as the wrap-around of the node cycle allows (node spread and disk balance come first).
 *
 * When there are enough racks but the racks are too uneven for that (e.g. 4 nodes in 3 racks with 3
 * replicas: every partition must use the single-node racks), rack spread wins over balance: a greedy
 * pass puts each replica on the least-loaded disk whose node and rack the partition does not use yet.
 */

export interface PlacementShape {
  readonly nodes: number;
  readonly disksPerNode: number;
  readonly racks: number;
  readonly replicas: number;
  readonly partitions: number;
}

export interface Slot {
  /** Index of the node in its datacenter. */
  readonly node: number;
  /** Index of the disk on its node. */
  readonly disk: number;
}

export function rackOfNode(node: number, racks: number): number {
  return node % racks;
}

/** True when every partition can be spread over distinct racks with per-disk balance kept. */
export function rackSpreadKeepsBalance(shape: Pick<PlacementShape, 'nodes' | 'racks' | 'replicas'>): boolean {
  const biggestRack = Math.ceil(shape.nodes / shape.racks);
  return shape.racks >= shape.replicas && biggestRack * shape.replicas <= shape.nodes;
}

/**
 * Node order in which every window of `replicas` cyclically consecutive nodes has distinct racks
 * (when rackSpreadKeepsBalance holds). Lay the nodes out rack by rack, biggest racks first, fill a
 * grid of `biggestRack` rows column by column and read it row by row: a rack's nodes land in
 * consecutive rows of neighbouring columns, so two of them are a whole row (>= replicas nodes) apart.
 */
export function rackSpreadOrder(nodes: number, racks: number): number[] {
  const rows = Math.ceil(nodes / racks);
  const byRack: number[] = [];
  // Round-robin racks make racks 0..(nodes % racks - 1) the big ones, so rack order is size order.
  for (let rack = 0; rack < racks; rack++) {
    for (let node = rack; node < nodes; node += racks) byRack.push(node);
  }
  const columns = Math.ceil(nodes / rows);
  const order: number[] = [];
  for (let row = 0; row < rows; row++) {
    for (let column = 0; column < columns; column++) {
      const k = column * rows + row;
      if (k < nodes) order.push(byRack[k]!);
    }
  }
  return order;
}

export function placeReplicas(shape: PlacementShape): Slot[][] {
  const { nodes, disksPerNode, racks, replicas, partitions } = shape;
  if (racks >= replicas && !rackSpreadKeepsBalance(shape)) return greedyRackSpread(shape);
  // With fewer racks than replicas, round-robin order already cycles through the racks evenly.
  const order =
    racks >= replicas ? rackSpreadOrder(nodes, racks) : Array.from({ length: nodes }, (_, i) => i);
  const slots = nodes * disksPerNode;
  const placement: Slot[][] = [];
  for (let p = 0; p < partitions; p++) {
    const replicaSlots: Slot[] = [];
    for (let j = 0; j < replicas; j++) {
      const k = (p * replicas + j) % slots;
      replicaSlots.push({ node: order[k % nodes]!, disk: Math.floor(k / nodes) });
    }
    placement.push(replicaSlots);
  }
  return placement;
}

function greedyRackSpread(shape: PlacementShape): Slot[][] {
  const { nodes, disksPerNode, racks, replicas, partitions } = shape;
  const diskLoad: number[] = new Array(nodes * disksPerNode).fill(0);
  const nodeLoad: number[] = new Array(nodes).fill(0);
  const placement: Slot[][] = [];
  for (let p = 0; p < partitions; p++) {
    const usedNodes = new Set<number>();
    const usedRacks = new Set<number>();
    const replicaSlots: Slot[] = [];
    for (let j = 0; j < replicas; j++) {
      let best: Slot | undefined;
      let bestKey: number[] = [];
      for (let node = 0; node < nodes; node++) {
        if (usedNodes.has(node) || usedRacks.has(rackOfNode(node, racks))) continue;
        for (let disk = 0; disk < disksPerNode; disk++) {
          // Least-loaded disk, then least-loaded node, then rotate the starting node per partition
          // so ties do not always go to node 0.
          const key = [
            diskLoad[node * disksPerNode + disk]!,
            nodeLoad[node]!,
            (((node - p) % nodes) + nodes) % nodes,
            disk,
          ];
          if (!best || compareKeys(key, bestKey) < 0) {
            best = { node, disk };
            bestKey = key;
          }
        }
      }
      // racks >= replicas, so an unused rack (and therefore an unused node) always exists.
      const slot = best!;
      usedNodes.add(slot.node);
      usedRacks.add(rackOfNode(slot.node, racks));
      const diskIndex = slot.node * disksPerNode + slot.disk;
      diskLoad[diskIndex] = diskLoad[diskIndex]! + 1;
      nodeLoad[slot.node] = nodeLoad[slot.node]! + 1;
      replicaSlots.push(slot);
    }
    placement.push(replicaSlots);
  }
  return placement;
}

function compareKeys(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return 0;
}
