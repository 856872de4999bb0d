/**
 * Zero-cost failure detection (Ambry's ResponseHandler + FixedBackoffResourceStatePolicy): no
 * heartbeats, only the outcomes of real requests. A node or disk goes down after enough consecutive
 * failures, stays down for a fixed backoff, then lets exactly one request through as a probe; the
 * probe's outcome revives it or sends it down for another backoff. Counts are not forgiven by time,
 * only by a response, so a node that fails slowly still goes down.
 */

export type ResourceKind = 'node' | 'disk';
export type ResourceState = 'up' | 'down' | 'probing';

export interface FailureDetectorOptions {
  /** Consecutive failures that take a node down (Ambry: 3). */
  readonly nodeFailureThreshold: number;
  readonly nodeBackoffMs: number;
  /** Consecutive failures that take a disk down (Ambry: 1). */
  readonly diskFailureThreshold: number;
  readonly diskBackoffMs: number;
  /** Milliseconds; injected so tests never sleep. */
  readonly clock: () => number;
  /**
   * How long a granted probe holds its slot without an outcome before another caller may probe
   * (a caller that was granted a probe and then never sent it must not keep the resource out forever).
   * Default 30 s.
   */
  readonly probeLeaseMs?: number;
  /** A throwing listener must not break the others or the caller; default: `process.emitWarning`. */
  readonly onListenerError?: (error: unknown) => void;
}

export interface ResourceChange {
  readonly kind: ResourceKind;
  /** `host:port`. */
  readonly node: string;
  /** Mount path, for a disk. */
  readonly disk?: string;
  readonly from: ResourceState;
  readonly to: ResourceState;
}

export type ResourceChangeListener = (change: ResourceChange) => void;

export interface DownResource {
  readonly kind: ResourceKind;
  readonly node: string;
  readonly disk?: string;
  /** 'down' or 'probing'. */
  readonly state: ResourceState;
  readonly consecutiveFailures: number;
  /** When the backoff ends (or ended, for a probing resource). */
  readonly downUntil: number;
}

export type StateCounts = Record<ResourceState, number>;

export interface FailureDetectorSnapshot {
  /** Over the resources that have seen at least one outcome; a disk counts its own state only. */
  readonly nodes: StateCounts;
  readonly disks: StateCounts;
  readonly notUp: readonly DownResource[];
}

interface Resource {
  readonly kind: ResourceKind;
  readonly node: string;
  readonly disk?: string;
  failures: number;
  /** Set while down or probing. */
  downUntil: number | undefined;
  /** When the current probe was granted, if one is outstanding. */
  probeSince: number | undefined;
  /** Last state reported to listeners, so time-driven transitions are reported once. */
  reported: ResourceState;
}

const DEFAULT_PROBE_LEASE_MS = 30_000;

/** `host:port` for a node, `host:port|mountPath` for a disk. */
export function resourceKey(node: string, disk?: string): string {
  return disk === undefined ? node : `${node}|${disk}`;
}

export class FailureDetector {
  readonly #options: FailureDetectorOptions;
  readonly #probeLeaseMs: number;
  readonly #resources = new Map<string, Resource>();
  readonly #listeners = new Set<ResourceChangeListener>();

  constructor(options: FailureDetectorOptions) {
    for (const name of ['nodeFailureThreshold', 'diskFailureThreshold'] as const) {
      if (!Number.isInteger(options[name]) || options[name] < 1) {
        throw new RangeError(`${name} must be an integer >= 1, got ${options[name]}`);
      }
    }
    for (const name of ['nodeBackoffMs', 'diskBackoffMs', 'probeLeaseMs'] as const) {
      const value = options[name];
      if (value !== undefined && !(Number.isFinite(value) && value >= 0)) {
        throw new RangeError(`${name} must be a finite number >= 0, got ${value}`);
      }
    }
    this.#options = options;
    this.#probeLeaseMs = options.probeLeaseMs ?? DEFAULT_PROBE_LEASE_MS;
  }

  /** Any real response from the node (even an error code): it is alive, and so is the disk if given. */
  recordSuccess(node: string, disk?: string): void {
    this.#revive(this.#resources.get(resourceKey(node)));
    if (disk !== undefined) this.#revive(this.#resources.get(resourceKey(node, disk)));
  }

  /**
   * A timeout or transport error ('node') or a disk error answered by the node ('disk'; the caller
   * records the node's success separately since it did answer).
   */
  recordFailure(kind: ResourceKind, node: string, disk?: string): void {
    if (kind === 'disk' && disk === undefined) throw new TypeError('a disk failure needs the disk');
    const resource = this.#resource(kind, node, kind === 'disk' ? disk : undefined);
    const now = this.#options.clock();
    resource.failures += 1;
    const threshold =
      kind === 'node' ? this.#options.nodeFailureThreshold : this.#options.diskFailureThreshold;
    const state = this.#ownState(resource, now);
    // While down, late failures of requests sent before it went down say nothing new: the backoff
    // is not extended. Once probing, any failure (the probe's or a straggler's) restarts the backoff.
    if (state !== 'down' && resource.failures >= threshold) {
      resource.downUntil =
        now + (kind === 'node' ? this.#options.nodeBackoffMs : this.#options.diskBackoffMs);
      resource.probeSince = undefined;
    }
    this.#report(resource, now);
  }

  /** The replica path's state: the worse of the node's and (if given) the disk's. */
  state(node: string, disk?: string): ResourceState {
    const now = this.#options.clock();
    const nodeState = this.#stateOf(this.#resources.get(resourceKey(node)), now);
    if (disk === undefined || nodeState === 'down') return nodeState;
    const diskState = this.#stateOf(this.#resources.get(resourceKey(node, disk)), now);
    if (diskState === 'down') return 'down';
    return nodeState === 'probing' || diskState === 'probing' ? 'probing' : 'up';
  }

  /** Both node and disk are up: send freely. A probing path needs `tryAcquireProbe`. */
  isUsable(node: string, disk: string): boolean {
    return this.state(node, disk) === 'up';
  }

  /**
   * Grants the single probe of a probing node and/or disk to the caller, who must then send a request
   * there and record its outcome. False when the path is up (no probe needed), still down, or another
   * caller holds the probe.
   */
  tryAcquireProbe(node: string, disk?: string): boolean {
    const now = this.#options.clock();
    const path = [this.#resources.get(resourceKey(node))];
    if (disk !== undefined) path.push(this.#resources.get(resourceKey(node, disk)));
    const probing: Resource[] = [];
    for (const resource of path) {
      if (resource === undefined) continue;
      const state = this.#stateOf(resource, now);
      if (state === 'down') return false;
      if (state === 'probing') {
        if (resource.probeSince !== undefined && now < resource.probeSince + this.#probeLeaseMs) return false;
        probing.push(resource);
      }
    }
    for (const resource of probing) resource.probeSince = now;
    return probing.length > 0;
  }

  snapshot(): FailureDetectorSnapshot {
    const now = this.#options.clock();
    const nodes: StateCounts = { up: 0, down: 0, probing: 0 };
    const disks: StateCounts = { up: 0, down: 0, probing: 0 };
    const notUp: DownResource[] = [];
    for (const resource of this.#resources.values()) {
      const state = this.#stateOf(resource, now);
      (resource.kind === 'node' ? nodes : disks)[state] += 1;
      if (state !== 'up') {
        notUp.push({
          kind: resource.kind,
          node: resource.node,
          ...(resource.disk === undefined ? {} : { disk: resource.disk }),
          state,
          consecutiveFailures: resource.failures,
          downUntil: resource.downUntil!,
        });
      }
    }
    return { nodes, disks, notUp };
  }

  /** Called after every transition (including down → probing, reported when first observed). */
  onChange(listener: ResourceChangeListener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  #resource(kind: ResourceKind, node: string, disk: string | undefined): Resource {
    const key = resourceKey(node, disk);
    let resource = this.#resources.get(key);
    if (resource === undefined) {
      resource = {
        kind,
        node,
        ...(disk === undefined ? {} : { disk }),
        failures: 0,
        downUntil: undefined,
        probeSince: undefined,
        reported: 'up',
      };
      this.#resources.set(key, resource);
    }
    return resource;
  }

  #revive(resource: Resource | undefined): void {
    if (resource === undefined) return;
    resource.failures = 0;
    resource.downUntil = undefined;
    resource.probeSince = undefined;
    this.#report(resource, this.#options.clock());
  }

  #ownState(resource: Resource, now: number): ResourceState {
    if (resource.downUntil === undefined) return 'up';
    return now < resource.downUntil ? 'down' : 'probing';
  }

  /** State of a tracked resource (untracked: up), reporting a time-driven transition if it happened. */
  #stateOf(resource: Resource | undefined, now: number): ResourceState {
    if (resource === undefined) return 'up';
    this.#report(resource, now);
    return resource.reported;
  }

  #report(resource: Resource, now: number): void {
    const to = this.#ownState(resource, now);
    const from = resource.reported;
    if (from === to) return;
    resource.reported = to;
    const change: ResourceChange = {
      kind: resource.kind,
      node: resource.node,
      ...(resource.disk === undefined ? {} : { disk: resource.disk }),
      from,
      to,
    };
    for (const listener of [...this.#listeners]) {
      try {
        listener(change);
      } catch (error) {
        (this.#options.onListenerError ?? defaultListenerError)(error);
      }
    }
  }
}

function defaultListenerError(error: unknown): void {
  process.emitWarning(`failure detector listener threw: ${String(error)}`);
}
