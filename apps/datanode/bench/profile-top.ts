/**
 * Summarizes a V8 `.cpuprofile` (from `datanode.bench.ts --cpu-prof DIR`): self time per function, and
 * per source package, counting only samples inside the measurements the bench listed in DIR/phases.json
 * (so the fill's PUTs and the warm-ups are left out), or the whole profile without that file.
 *
 *   pnpm exec tsx bench/profile-top.ts DIR [--top N] [--phase get_4k_ops_1]   (a prefix selects several)
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}
interface Phase {
  name: string;
  fromUs: number;
  toUs: number;
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Where a function lives: a workspace package, a dependency, node internals, or V8 itself. */
function packageOf(url: string): string {
  if (url === '') return '(v8/native)';
  if (url.startsWith('node:')) return 'node:internals';
  const dep = /node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (dep) return dep[1]!;
  const workspace = /\/(packages|apps)\/([^/]+)\//.exec(url);
  if (workspace) return `${workspace[1]}/${workspace[2]}`;
  return url;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    args: process.argv.slice(2).filter((arg) => arg !== '--'),
    allowPositionals: true,
    options: { top: { type: 'string', default: '25' }, phase: { type: 'string', default: '' } },
  });
  const dir = positionals[0];
  if (dir === undefined) throw new Error('usage: profile-top.ts DIR [--top N]');
  // CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: thread 0 is the main thread (tsx adds a loader one).
  const file = (await fs.readdir(dir)).find((name) => /\.\d+\.0\.\d+\.cpuprofile$/.test(name));
  if (file === undefined) throw new Error(`no .cpuprofile in ${dir}`);
  const profile = JSON.parse(await fs.readFile(path.join(dir, file), 'utf8')) as Profile;
  const phases = await fs
    .readFile(path.join(dir, 'phases.json'), 'utf8')
    .then((text) => (JSON.parse(text) as Phase[]).filter((p) => p.name.startsWith(values.phase)))
    .catch(() => undefined);
  if (phases?.length === 0) throw new Error(`no measurement named ${values.phase}*`);
  const inPhases = (us: number) => phases === undefined || phases.some((p) => us >= p.fromUs && us <= p.toUs);

  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<string, number>();
  const perPackage = new Map<string, number>();
  let total = 0;
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (!inPhases(at)) continue;
    const frame = byId.get(profile.samples[i]!)!.callFrame;
    if (frame.functionName === '(idle)') continue;
    const where =
      frame.url === ''
        ? ''
        : ` ${frame.url.replace(/^.*\/(node_modules|packages|apps)\//, '$1/')}:${frame.lineNumber + 1}`;
    const key = `${frame.functionName || '(anonymous)'}${where}`;
    self.set(key, (self.get(key) ?? 0) + delta);
    perPackage.set(packageOf(frame.url), (perPackage.get(packageOf(frame.url)) ?? 0) + delta);
    total += delta;
  }
  const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
  console.log(
    `${file}: ${(total / 1e6).toFixed(2)} s busy (idle excluded)${phases ? ` in ${phases.map((p) => p.name).join(', ')}` : ''}`,
  );
  console.log('\nself time by package');
  for (const [name, us] of [...perPackage].sort((a, b) => b[1] - a[1]).slice(0, 12))
    console.log(`${pct(us)}  ${name}`);
  console.log('\nself time by function');
  for (const [name, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top)))
    console.log(`${pct(us)}  ${name}`);
}

await main();
