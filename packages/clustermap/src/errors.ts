/**
 * Every error @ambry/clustermap throws is a ClusterMapError, so callers tell our typed failures from
 * bugs with one `instanceof`. Layout problems carry the file and the JSON path they were found at,
 * because an operator fixing a hand-edited map needs to know exactly where to look.
 */

export class ClusterMapError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** One thing wrong in a layout file: `partitions.json: partitions[3].replicas[1].mountPath: ...`. */
export class LayoutProblemError extends ClusterMapError {
  constructor(
    /** `hardware.json` or `partitions.json`. */
    readonly file: string,
    /** JSON path inside the file, `(root)` for the whole document. */
    readonly path: string,
    /** What is wrong, without the file and path. */
    readonly problem: string,
  ) {
    super(`${file}: ${path}: ${problem}`);
  }
}

/**
 * A layout did not load. Validation collects every problem instead of stopping at the first, so one
 * run of `ambry-clustermap validate` shows everything to fix.
 */
export class LayoutValidationError extends ClusterMapError {
  constructor(readonly problems: readonly LayoutProblemError[]) {
    super(
      `cluster map is invalid (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${problems
        .map((p) => `  ${p.message}`)
        .join('\n')}`,
    );
  }
}

/** A query or state change named a partition, node, disk or datacenter the layout does not have. */
export class UnknownEntityError extends ClusterMapError {
  constructor(
    readonly kind: 'partition' | 'node' | 'disk' | 'datacenter' | 'replica',
    readonly ref: string,
  ) {
    super(`unknown ${kind} ${ref}`);
  }
}

/** Generator options describe a cluster that cannot exist (more replicas than nodes, ports past 65535, ...). */
export class ImpossibleShapeError extends ClusterMapError {}
