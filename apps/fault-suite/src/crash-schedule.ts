/**
 * The crash loop's schedule: per cycle, how long the workload runs before the kill, which process is
 * killed (a datanode, or sometimes the frontend) and how long it stays down. Computed up front from the
 * seed alone, so a failing run is replayed by FAULTS_SEED with the same kills in the same order.
 */
import { Rng, streamSeed } from './random.js';

export type KillTarget =
  | { readonly kind: 'datanode'; readonly index: number }
  | { readonly kind: 'frontend' };

export interface KillCycle {
  readonly cycle: number;
  /** Workload time before the SIGKILL. */
  readonly loadMs: number;
  readonly target: KillTarget;
  /** Time the process stays dead before its restart (the workload keeps running meanwhile). */
  readonly downMs: number;
}

export interface ScheduleOptions {
  readonly seed: number;
  readonly cycles: number;
  readonly datanodes: number;
  /** Share of cycles that kill the frontend instead of a datanode. */
  readonly frontendShare: number;
  readonly loadMs: readonly [number, number];
  readonly downMs: readonly [number, number];
}

export function buildSchedule(options: ScheduleOptions): KillCycle[] {
  const rng = new Rng(streamSeed(options.seed, 'schedule'));
  const cycles: KillCycle[] = [];
  for (let cycle = 0; cycle < options.cycles; cycle++) {
    const target: KillTarget = rng.chance(options.frontendShare)
      ? { kind: 'frontend' }
      : { kind: 'datanode', index: rng.int(0, options.datanodes - 1) };
    cycles.push({
      cycle,
      loadMs: rng.int(options.loadMs[0], options.loadMs[1]),
      target,
      downMs: rng.int(options.downMs[0], options.downMs[1]),
    });
  }
  return cycles;
}

export function describeTarget(target: KillTarget): string {
  return target.kind === 'frontend' ? 'frontend' : `datanode ${target.index}`;
}
