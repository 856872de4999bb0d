/**
 * The embedded default backend: the layout comes from hardware.json and partitions.json in one
 * directory and never changes while the process runs (a new layout needs a restart); dynamic states
 * are kept in this process, fed by data-node reports and the router's failure detector.
 */
import type { ClusterMapOptions } from './cluster-map.js';
import { InProcessClusterMap } from './in-process-cluster-map.js';
import { loadLayout } from './load.js';

export class StaticClusterMap extends InProcessClusterMap {
  /** Loads and validates the two files in `dir`; throws LayoutValidationError listing every problem. */
  static async load(dir: string, options: ClusterMapOptions): Promise<StaticClusterMap> {
    return new StaticClusterMap(await loadLayout(dir), options);
  }
}
