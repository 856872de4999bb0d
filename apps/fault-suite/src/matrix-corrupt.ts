/**
 * Bit rot, done to a datanode's files from outside: find where a blob's bytes sit in the log segments
 * of one node (by content: the matrix writes random blobs, so their bytes are unique), and flip bytes
 * inside them. The record's header and the other replicas stay untouched, so the only thing that can
 * notice is the blob checksum at the end of the record (docs/formats.md, "Log record").
 */
import fs from 'node:fs/promises';
import path from 'node:path';

export interface BlobLocation {
  /** The segment file holding the blob's bytes. */
  readonly file: string;
  /** Offset of the blob's first byte in that file. */
  readonly offset: number;
}

/** Enough of a blob's bytes to find it and not some other blob. */
const PROBE_BYTES = 64;

/**
 * Where each blob's bytes are in the `*.log` files under `dirs` (a node's replica directories); blobs
 * not found (not replicated there yet) are missing from the map.
 */
export async function locateBlobs(
  dirs: readonly string[],
  blobs: ReadonlyMap<string, Buffer>,
): Promise<Map<string, BlobLocation>> {
  const found = new Map<string, BlobLocation>();
  for (const dir of dirs) {
    let names: string[];
    try {
      names = (await fs.readdir(dir)).filter((n) => n.endsWith('.log')).sort();
    } catch {
      continue;
    }
    for (const name of names) {
      const file = path.join(dir, name);
      const content = await fs.readFile(file);
      for (const [id, bytes] of blobs) {
        if (found.has(id)) continue;
        const probe = bytes.subarray(0, Math.min(PROBE_BYTES, bytes.length));
        const at = content.indexOf(probe);
        // The whole blob must be there: a record cut short by a crash would not do.
        if (at >= 0 && content.subarray(at, at + bytes.length).equals(bytes))
          found.set(id, { file, offset: at });
      }
    }
  }
  return found;
}

/** XORs `count` bytes at `offset` of `file` with 0xff, in place, and syncs the file. */
export async function flipBytes(file: string, offset: number, count: number): Promise<void> {
  const handle = await fs.open(file, 'r+');
  try {
    const buffer = Buffer.alloc(count);
    const { bytesRead } = await handle.read(buffer, 0, count, offset);
    if (bytesRead !== count) throw new Error(`${file}: only ${bytesRead} of ${count} bytes at ${offset}`);
    for (let i = 0; i < count; i++) buffer[i] = (buffer[i] ?? 0) ^ 0xff;
    await handle.write(buffer, 0, count, offset);
    await handle.datasync();
  } finally {
    await handle.close();
  }
}
