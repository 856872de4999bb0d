import fs from 'node:fs/promises';
import { nodeIo, type StoreFile, type StoreIo } from '../src/index.js';

/**
 * Pass-through io that remembers how much of each file written through it an fsync made durable, so
 * `lose()` can drop the rest, as a power loss drops unsynced bytes from the page cache. Bytes written
 * through it and never fsynced stay unsynced across store sessions (a process crash keeps the page cache).
 */
export function powerLossIo(): { io: StoreIo; lose: () => Promise<void> } {
  const written = new Map<string, number>();
  const synced = new Map<string, number>();
  const wrap = (file: StoreFile): StoreFile => ({
    path: file.path,
    read: (buffer, offset, length, position) => file.read(buffer, offset, length, position),
    async writev(buffers, position) {
      await file.writev(buffers, position);
      const end = position + buffers.reduce((sum, b) => sum + b.length, 0);
      written.set(file.path, Math.max(end, written.get(file.path) ?? 0));
    },
    async datasync() {
      await file.datasync();
      if (written.has(file.path)) synced.set(file.path, written.get(file.path)!);
    },
    async truncate(length) {
      await file.truncate(length);
      if (written.has(file.path)) written.set(file.path, length);
      if (synced.has(file.path)) synced.set(file.path, Math.min(length, synced.get(file.path)!));
    },
    size: () => file.size(),
    close: () => file.close(),
  });
  const move = (map: Map<string, number>, from: string, to: string) => {
    if (map.has(from)) map.set(to, map.get(from)!);
    map.delete(from);
  };
  const io: StoreIo = {
    ...nodeIo,
    async open(p, flags) {
      const file = await nodeIo.open(p, flags);
      // Files this io creates start empty; files it finds were durable before it was created.
      if (flags === 'w+' || flags === 'wx+') written.set(p, 0);
      return wrap(file);
    },
    async rename(from, to) {
      await nodeIo.rename(from, to);
      move(written, from, to);
      move(synced, from, to);
    },
    async unlink(p) {
      await nodeIo.unlink(p);
      written.delete(p);
      synced.delete(p);
    },
  };
  const lose = async () => {
    for (const [p] of written) await fs.truncate(p, synced.get(p) ?? 0).catch(() => {});
  };
  return { io, lose };
}
