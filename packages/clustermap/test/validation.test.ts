import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ClusterMapError,
  type HardwareFile,
  LayoutProblemError,
  LayoutValidationError,
  loadLayout,
  type PartitionsFile,
  parseLayout,
  writeLayoutFiles,
} from '../src/index.js';
import { smallFiles, tempDir } from './helpers.js';

type Files = { hardware: HardwareFile; partitions: PartitionsFile };

function problemsOf(run: () => unknown): LayoutProblemError[] {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(LayoutValidationError);
    expect(error).toBeInstanceOf(ClusterMapError);
    const problems = (error as LayoutValidationError).problems;
    for (const p of problems) {
      expect(p).toBeInstanceOf(LayoutProblemError);
      // The message alone is enough to find and fix the problem.
      expect(p.message).toBe(`${p.file}: ${p.path}: ${p.problem}`);
      expect((error as Error).message).toContain(p.message);
    }
    return [...problems];
  }
  throw new Error('expected the layout to be rejected');
}

function rejects(
  files: { hardware: unknown; partitions: unknown },
  expected: { file: string; path: string; problem: RegExp },
): LayoutProblemError[] {
  const problems = problemsOf(() =>
    parseLayout(JSON.stringify(files.hardware), JSON.stringify(files.partitions)),
  );
  expect(problems).toContainEqual(
    expect.objectContaining({
      file: expected.file,
      path: expected.path,
      problem: expect.stringMatching(expected.problem),
    }),
  );
  return problems;
}

function broken(change: (f: Files) => void): Files {
  const files = smallFiles();
  change(files);
  return files;
}

describe('schema problems name the file, the path and what is wrong', () => {
  it('invalid JSON', () => {
    const files = smallFiles();
    const problems = problemsOf(() => parseLayout('{"clusterName": ', JSON.stringify(files.partitions)));
    expect(problems).toEqual([expect.objectContaining({ file: 'hardware.json', path: '(root)' })]);
    expect(problems[0]!.problem).toMatch(/not valid JSON/);
  });

  it.each<[string, (f: Files) => void, string, string, RegExp]>([
    [
      'missing rack',
      (f) => delete (f.hardware.datacenters[0]!.nodes[1] as Partial<{ rack: string }>).rack,
      'hardware.json',
      'datacenters[0].nodes[1].rack',
      /expected string/,
    ],
    [
      'port of the wrong type',
      (f) => ((f.hardware.datacenters[1]!.nodes[2] as { port: unknown }).port = '6667'),
      'hardware.json',
      'datacenters[1].nodes[2].port',
      /expected number/,
    ],
    [
      'port out of range',
      (f) => (f.hardware.datacenters[0]!.nodes[0]!.port = 70_000),
      'hardware.json',
      'datacenters[0].nodes[0].port',
      /65535/,
    ],
    [
      'datacenter id 255 (reserved for unknown)',
      (f) => (f.hardware.datacenters[1]!.id = 255),
      'hardware.json',
      'datacenters[1].id',
      /254/,
    ],
    [
      'fractional capacity',
      (f) => (f.hardware.datacenters[0]!.nodes[0]!.disks[1]!.capacityBytes = 1.5),
      'hardware.json',
      'datacenters[0].nodes[0].disks[1].capacityBytes',
      /int/,
    ],
    [
      'node without disks',
      (f) => (f.hardware.datacenters[0]!.nodes[0]!.disks = []),
      'hardware.json',
      'datacenters[0].nodes[0].disks',
      /at least one disk/,
    ],
    [
      'unknown key',
      (f) => Object.assign(f.hardware.datacenters[0]!, { rackz: 1 }),
      'hardware.json',
      'datacenters[0]',
      /rackz/,
    ],
    ['empty cluster name', (f) => (f.hardware.clusterName = ''), 'hardware.json', 'clusterName', /non-empty/],
    [
      'partition id beyond u32',
      (f) => (f.partitions.partitions[3]!.id = 2 ** 32),
      'partitions.json',
      'partitions[3].id',
      /4294967295/,
    ],
    [
      'bad partition state',
      (f) => ((f.partitions.partitions[2] as { state: string }).state = 'sealed'),
      'partitions.json',
      'partitions[2].state',
      /read-write/,
    ],
    [
      'missing mount path',
      (f) => delete (f.partitions.partitions[3]!.replicas[1] as Partial<{ mountPath: string }>).mountPath,
      'partitions.json',
      'partitions[3].replicas[1].mountPath',
      /expected string/,
    ],
    [
      'partition without replicas',
      (f) => (f.partitions.partitions[0]!.replicas = []),
      'partitions.json',
      'partitions[0].replicas',
      /at least one replica/,
    ],
    ['version zero', (f) => (f.partitions.version = 0), 'partitions.json', 'version', />=1/],
  ])('%s', (_name, change, file, path, problem) => {
    rejects(broken(change), { file, path, problem });
  });
});

describe('semantic problems name the file, the path and what is wrong', () => {
  it('duplicate datacenter name', () => {
    rejects(
      broken((f) => (f.hardware.datacenters[1]!.name = 'dc1')),
      {
        file: 'hardware.json',
        path: 'datacenters[1].name',
        problem: /duplicate datacenter name "dc1" \(also at datacenters\[0\]\)/,
      },
    );
  });

  it('duplicate datacenter id', () => {
    rejects(
      broken((f) => (f.hardware.datacenters[1]!.id = 0)),
      {
        file: 'hardware.json',
        path: 'datacenters[1].id',
        problem: /duplicate datacenter id 0/,
      },
    );
  });

  it('duplicate host:port, even across datacenters', () => {
    rejects(
      broken((f) => (f.hardware.datacenters[1]!.nodes[0]!.port = 6667)),
      {
        file: 'hardware.json',
        path: 'datacenters[1].nodes[0].port',
        problem: /127\.0\.0\.1:6667 is already used by datacenters\[0\]\.nodes\[0\]\.port/,
      },
    );
  });

  it('an admin port that is another node’s data port', () => {
    rejects(
      broken((f) => (f.hardware.datacenters[0]!.nodes[2]!.adminPort = 6668)),
      {
        file: 'hardware.json',
        path: 'datacenters[0].nodes[2].adminPort',
        problem: /127\.0\.0\.1:6668 is already used by datacenters\[0\]\.nodes\[1\]\.port/,
      },
    );
  });

  it('duplicate mount path on one node', () => {
    rejects(
      broken((f) => {
        const disks = f.hardware.datacenters[0]!.nodes[1]!.disks;
        disks[1]!.mountPath = disks[0]!.mountPath;
      }),
      {
        file: 'hardware.json',
        path: 'datacenters[0].nodes[1].disks[1].mountPath',
        problem:
          /duplicate mount path ".*" on this node \(also at datacenters\[0\]\.nodes\[1\]\.disks\[0\]\)/,
      },
    );
  });

  it('cluster names that differ between the files', () => {
    rejects(
      broken((f) => (f.partitions.clusterName = 'other')),
      {
        file: 'partitions.json',
        path: 'clusterName',
        problem: /cluster name "other" does not match "ambry" in hardware\.json/,
      },
    );
  });

  it('duplicate partition id', () => {
    rejects(
      broken((f) => (f.partitions.partitions[5]!.id = 2)),
      {
        file: 'partitions.json',
        path: 'partitions[5].id',
        problem: /duplicate partition id 2 \(also at partitions\[2\]\)/,
      },
    );
  });

  it('a replica on a node that does not exist', () => {
    rejects(
      broken((f) => (f.partitions.partitions[3]!.replicas[1]!.port = 9999)),
      {
        file: 'partitions.json',
        path: 'partitions[3].replicas[1]',
        problem: /node 127\.0\.0\.1:9999 is not in hardware\.json/,
      },
    );
  });

  it('a replica on a disk the node does not have', () => {
    rejects(
      broken((f) => (f.partitions.partitions[3]!.replicas[1]!.mountPath = '/nope')),
      {
        file: 'partitions.json',
        path: 'partitions[3].replicas[1].mountPath',
        problem: /node 127\.0\.0\.1:\d+ has no disk "\/nope" in hardware\.json/,
      },
    );
  });

  it('two replicas of one partition on the same node', () => {
    rejects(
      broken((f) => {
        const replicas = f.partitions.partitions[1]!.replicas;
        replicas[2] = { ...replicas[0]!, mountPath: replicas[0]!.mountPath.replace(/disk\d$/, 'disk1') };
      }),
      {
        file: 'partitions.json',
        path: 'partitions[1].replicas[2]',
        problem: /partition 1 already has a replica on node 127\.0\.0\.1:\d+ \(replicas\[0\]\)/,
      },
    );
  });

  it('replicas that need more than a disk holds', () => {
    rejects(
      broken((f) => {
        for (const p of f.partitions.partitions) p.replicaCapacityBytes = 2 ** 39;
      }),
      {
        file: 'hardware.json',
        path: 'datacenters[0].nodes[0].disks[0].capacityBytes',
        problem:
          /disk ".*disk0" of node 127\.0\.0\.1:6667 has 4 replicas needing 2199023255552 bytes in partitions\.json, more than its capacity of 1099511627776 bytes/,
      },
    );
  });

  it('collects every problem of both files in one error', () => {
    const problems = rejects(
      broken((f) => {
        f.hardware.datacenters[1]!.name = 'dc1';
        f.hardware.datacenters[0]!.nodes[0]!.disks[0]!.capacityBytes = -1;
        f.partitions.partitions[3]!.replicas[1]!.mountPath = '/nope';
        f.partitions.partitions[4]!.id = 0;
      }),
      { file: 'hardware.json', path: 'datacenters[0].nodes[0].disks[0].capacityBytes', problem: />=1/ },
    );
    // The schema failed for hardware.json, so cross-file checks are skipped; both files still report.
    expect(problems.map((p) => `${p.file}: ${p.path}`)).toEqual([
      'hardware.json: datacenters[0].nodes[0].disks[0].capacityBytes',
    ]);
    const semantic = rejects(
      broken((f) => {
        f.hardware.datacenters[1]!.name = 'dc1';
        f.partitions.partitions[3]!.replicas[1]!.mountPath = '/nope';
        f.partitions.partitions[4]!.id = 0;
      }),
      { file: 'hardware.json', path: 'datacenters[1].name', problem: /duplicate/ },
    );
    expect(semantic.map((p) => `${p.file}: ${p.path}`)).toEqual([
      'hardware.json: datacenters[1].name',
      'partitions.json: partitions[3].replicas[1].mountPath',
      'partitions.json: partitions[4].id',
    ]);
  });

  it('reports schema problems of both files together', () => {
    const problems = problemsOf(() =>
      parseLayout(
        JSON.stringify({ clusterName: 'x', version: 1 }),
        JSON.stringify({ clusterName: 'x', version: 1 }),
      ),
    );
    expect(problems.map((p) => `${p.file}: ${p.path}`)).toEqual([
      'hardware.json: datacenters',
      'partitions.json: partitions',
    ]);
  });
});

describe('loading from a directory', () => {
  it('names a missing file', async () => {
    const dir = tempDir();
    const files = smallFiles();
    writeFileSync(join(dir, 'hardware.json'), JSON.stringify(files.hardware));
    const error = await loadLayout(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LayoutValidationError);
    expect((error as LayoutValidationError).problems.map((p) => p.message)).toEqual([
      expect.stringMatching(/^partitions\.json: \(root\): cannot read .*partitions\.json: ENOENT$/),
    ]);
  });

  it('loads what writeLayoutFiles wrote', async () => {
    const dir = tempDir();
    await writeLayoutFiles(dir, smallFiles());
    const layout = await loadLayout(dir);
    expect(layout.partitions).toHaveLength(8);
    expect(layout.nodes).toHaveLength(6);
  });
});
