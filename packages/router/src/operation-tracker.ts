/**
 * The quorum state machine of one operation on one partition (Ambry's Simple/Undelete
 * OperationTracker), with no I/O so every rule can be tested exhaustively: the caller asks which
 * replicas to send to, reports each outcome, and stops when `isDone`. Replicas are tried in the given
 * order (see `orderReplicas`) and never twice: a failed replica is not retried within an operation.
 */
import type { Replica } from '@ambry/clustermap';

export type ReplicaOutcome = 'success' | 'not-found' | 'failure';

/**
 * 'standard': `successTarget` successes anywhere. 'quorum-per-datacenter' (undelete): a majority of
 * the replicas in every datacenter that has replicas, so an undelete cannot lose to a delete that
 * replication would bring back from a datacenter that missed it.
 */
export type TrackerMode = 'standard' | 'quorum-per-datacenter';

export interface OperationTrackerOptions {
  /** In the order to try them; distinct. */
  readonly replicas: readonly Replica[];
  /** Requests outstanding at once (hedges aside). */
  readonly parallelism: number;
  /** Standard mode only; capped by the number of replicas. */
  readonly successTarget?: number;
  readonly mode?: TrackerMode;
  /** Cap on outstanding requests including hedges; default `parallelism + 1`. */
  readonly maxInFlight?: number;
  /**
   * NOT_FOUND only once every originating-datacenter replica said not-found (protects read-after-write:
   * a local miss may just be replication lag). Needs `originatingDatacenterId`; without it, or with no
   * originating replica in the list, the plain rule applies: NOT_FOUND when the not-founds alone make
   * success impossible.
   */
  readonly notFoundNeedsAllOriginating?: boolean;
  readonly originatingDatacenterId?: number;
}

export interface TrackerCounts {
  readonly successes: number;
  readonly notFound: number;
  readonly failures: number;
  readonly inFlight: number;
  /** Never sent. */
  readonly pending: number;
}

export interface TrackerResult extends TrackerCounts {
  readonly status: ReplicaOutcome;
}

type ReplicaStatus = 'pending' | 'in-flight' | ReplicaOutcome;

interface Tally {
  total: number;
  successes: number;
  notFound: number;
  failures: number;
  inFlight: number;
}

function emptyTally(): Tally {
  return { total: 0, successes: 0, notFound: 0, failures: 0, inFlight: 0 };
}

function pendingOf(t: Tally): number {
  return t.total - t.successes - t.notFound - t.failures - t.inFlight;
}

function replicaKey(replica: Replica): string {
  return `${replica.node.key}|${replica.disk.mountPath}`;
}

export class OperationTracker {
  readonly #replicas: readonly Replica[];
  readonly #parallelism: number;
  readonly #maxInFlight: number;
  readonly #mode: TrackerMode;
  readonly #target: number;
  readonly #originating: number | undefined;
  readonly #status = new Map<string, ReplicaStatus>();
  readonly #all = emptyTally();
  readonly #byDatacenter = new Map<number, Tally>();
  #next = 0;
  #result: TrackerResult | undefined;

  constructor(options: OperationTrackerOptions) {
    const mode = options.mode ?? 'standard';
    const { parallelism } = options;
    const maxInFlight = options.maxInFlight ?? parallelism + 1;
    if (!Number.isInteger(parallelism) || parallelism < 1) {
      throw new RangeError(`parallelism must be an integer >= 1, got ${parallelism}`);
    }
    if (!Number.isInteger(maxInFlight) || maxInFlight < parallelism) {
      throw new RangeError(`maxInFlight must be an integer >= parallelism, got ${maxInFlight}`);
    }
    if (mode === 'standard') {
      const target = options.successTarget;
      if (target === undefined || !Number.isInteger(target) || target < 1) {
        throw new RangeError(`successTarget must be an integer >= 1, got ${target}`);
      }
    }
    for (const replica of options.replicas) {
      const key = replicaKey(replica);
      if (this.#status.has(key)) throw new RangeError(`replica ${key} is listed twice`);
      this.#status.set(key, 'pending');
      this.#all.total += 1;
      this.#tally(replica).total += 1;
    }
    this.#replicas = [...options.replicas];
    this.#parallelism = parallelism;
    this.#maxInFlight = maxInFlight;
    this.#mode = mode;
    this.#target = Math.min(options.successTarget ?? 1, this.#replicas.length);
    const originating = options.notFoundNeedsAllOriginating ? options.originatingDatacenterId : undefined;
    this.#originating =
      originating !== undefined && this.#byDatacenter.has(originating) ? originating : undefined;
    this.#evaluate();
  }

  get isDone(): boolean {
    return this.#result !== undefined;
  }

  get succeeded(): boolean {
    return this.#result?.status === 'success';
  }

  /** Set once done, with the counts at that moment. */
  get result(): TrackerResult | undefined {
    return this.#result;
  }

  get counts(): TrackerCounts {
    const { successes, notFound, failures, inFlight } = this.#all;
    return { successes, notFound, failures, inFlight, pending: pendingOf(this.#all) };
  }

  /** Replicas to send to now, marked in flight; empty once done or while parallelism is used up. */
  nextReplicas(): Replica[] {
    const out: Replica[] = [];
    while (!this.isDone && this.#all.inFlight < this.#parallelism) {
      const replica = this.#take();
      if (replica === undefined) break;
      out.push(replica);
    }
    return out;
  }

  /**
   * One replica beyond parallelism, when an outstanding request is slow (the caller decides when);
   * undefined once done, at `maxInFlight`, or with no replica left to try.
   */
  hedge(): Replica | undefined {
    if (this.isDone || this.#all.inFlight >= this.#maxInFlight) return undefined;
    return this.#take();
  }

  /** Requests still outstanding: the ones to cancel once done. */
  outstanding(): Replica[] {
    return this.#replicas.filter((r) => this.#status.get(replicaKey(r)) === 'in-flight');
  }

  /** A timeout counts as 'failure'. Outcomes after done are counted but do not change the result. */
  onResponse(replica: Replica, outcome: ReplicaOutcome): void {
    const key = replicaKey(replica);
    const status = this.#status.get(key);
    if (status !== 'in-flight') {
      throw new Error(`no request is outstanding to replica ${key} (${status ?? 'not in this operation'})`);
    }
    this.#status.set(key, outcome);
    const field = outcome === 'success' ? 'successes' : outcome === 'not-found' ? 'notFound' : 'failures';
    for (const tally of [this.#all, this.#tally(replica)]) {
      tally.inFlight -= 1;
      tally[field] += 1;
    }
    this.#evaluate();
  }

  #take(): Replica | undefined {
    const replica = this.#replicas[this.#next];
    if (replica === undefined) return undefined;
    this.#next += 1;
    this.#status.set(replicaKey(replica), 'in-flight');
    this.#all.inFlight += 1;
    this.#tally(replica).inFlight += 1;
    return replica;
  }

  #tally(replica: Replica): Tally {
    const id = replica.node.datacenterId;
    let tally = this.#byDatacenter.get(id);
    if (tally === undefined) this.#byDatacenter.set(id, (tally = emptyTally()));
    return tally;
  }

  #evaluate(): void {
    if (this.#result !== undefined) return;
    const status = this.#decide();
    if (status !== undefined) this.#result = { status, ...this.counts };
  }

  #decide(): ReplicaOutcome | undefined {
    if (this.#replicas.length === 0) return 'failure';
    const quorums = this.#quorums();
    if (quorums.every(([t, need]) => t.successes >= need)) return 'success';
    const originating =
      this.#originating === undefined ? undefined : this.#byDatacenter.get(this.#originating);
    // Early NOT_FOUND even with other datacenters untried: the originating datacenter is authoritative.
    if (
      originating !== undefined &&
      this.#all.successes === 0 &&
      originating.notFound === originating.total
    ) {
      return 'not-found';
    }
    const impossible = quorums.filter(([t, need]) => t.successes + t.inFlight + pendingOf(t) < need);
    if (impossible.length === 0) return undefined;
    if (originating !== undefined) return 'failure';
    // NOT_FOUND only when the not-founds alone rule success out; otherwise errors share the blame and
    // the caller must report unavailability, not absence.
    return impossible.some(([t, need]) => t.notFound > t.total - need) ? 'not-found' : 'failure';
  }

  /** Tallies that must each reach their quorum, with that quorum. */
  #quorums(): Array<[Tally, number]> {
    if (this.#mode === 'standard') return [[this.#all, this.#target]];
    return [...this.#byDatacenter.values()].map((t) => [t, Math.floor(t.total / 2) + 1]);
  }
}
