/**
 * Writes the two layout files. Each file is written to a temporary name and renamed, so a process
 * loading the directory at the same moment sees the old file or the new one, never half of one.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HARDWARE_FILE, type HardwareFile, PARTITIONS_FILE, type PartitionsFile } from './schema.js';

export async function writeLayoutFiles(
  dir: string,
  files: { readonly hardware: HardwareFile; readonly partitions: PartitionsFile },
): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [name, content] of [
    [HARDWARE_FILE, files.hardware],
    [PARTITIONS_FILE, files.partitions],
  ] as const) {
    const target = join(dir, name);
    const temporary = `${target}.${process.pid}.tmp`;
    await writeFile(temporary, `${JSON.stringify(content, null, 2)}\n`);
    await rename(temporary, target);
  }
}
