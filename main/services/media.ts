import { createHash } from 'node:crypto';
import { access, mkdir, readdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { isContentHash, type MediaKind } from '../../preload/api';
import { writeFileAtomic } from '../engine/io/atomic';

export const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/**
 * Content-addressed files in the data folder: originals under media/ab/<hash>, 256 px WebP
 * thumbnails under thumbs/ab/<hash>.webp. The same bytes are stored once.
 */
export function createMediaStore(dataDir: string) {
  const pathOf = (kind: MediaKind, hash: string): string => {
    if (!isContentHash(hash)) throw new Error(`not a content hash: ${hash}`);
    return kind === 'image'
      ? join(dataDir, 'media', hash.slice(0, 2), hash)
      : join(dataDir, 'thumbs', hash.slice(0, 2), `${hash}.webp`);
  };
  return {
    pathOf,
    /** Stores an original and its thumbnail unless already there. */
    async put(hash: string, original: Uint8Array, thumbnail: Uint8Array): Promise<void> {
      for (const [path, bytes] of [[pathOf('image', hash), original], [pathOf('thumb', hash), thumbnail]] as const) {
        if (await exists(path)) continue;
        await mkdir(dirname(path), { recursive: true });
        await writeFileAtomic(path, [bytes]);
      }
    },
    /** Deletes an original and its thumbnail (both may be missing): what an import that failed had stored without a row. */
    async remove(hash: string): Promise<void> {
      await rm(pathOf('image', hash), { force: true });
      await rm(pathOf('thumb', hash), { force: true });
    },
    /**
     * Deletes files for which keep(hash) is false (after a dataset is deleted, or a crash), and
     * temp files of interrupted writes. keep is asked per file, at that moment, so a file an
     * import writes during the sweep is kept as long as keep knows about it.
     */
    async sweep(keep: (hash: string) => boolean): Promise<number> {
      let removed = 0;
      for (const [folder, suffix] of [['media', ''], ['thumbs', '.webp']] as const) {
        const root = join(dataDir, folder);
        const shards = await readdir(root).catch(() => [] as string[]);
        for (const shard of shards) {
          for (const file of await readdir(join(root, shard)).catch(() => [] as string[])) {
            const hash = suffix ? file.slice(0, -suffix.length) : file;
            if (file.startsWith('.tmp') || file.startsWith('.') || !keep(hash)) {
              await rm(join(root, shard, file), { force: true });
              removed++;
            }
          }
        }
      }
      return removed;
    },
  };
}

export type MediaStore = ReturnType<typeof createMediaStore>;
