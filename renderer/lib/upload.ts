/**
 * Pure planning of drag-and-drop uploads: which class folder a dropped file belongs to, and how
 * dropped files are cut into `imports.start` calls that stay within the contract's limits.
 * The DOM part (reading entries and bytes) lives in features/datasets/dropFiles.ts.
 */
import { plural } from './format';

/** The contract accepts at most this many files per upload call. */
export const MAX_FILES_PER_CALL = 200;
/** Raw bytes per call; base64 makes it a third larger on the wire. */
export const MAX_BYTES_PER_CALL = 24 * 1024 * 1024;
/** The contract's per-file limit (base64 of 50 MB stays under its 70,000,000 characters). */
export const MAX_FILE_BYTES = 50 * 1024 * 1024;

const segments = (path: string): string[] => path.split(/[\\/]+/).filter((s) => s.length > 0);

/**
 * Class folder of each dropped file, from its path relative to the drop ("cats/a.jpg" → "cats",
 * "a.jpg" → ""). When everything sits under one dropped folder that itself holds sub-folders
 * ("pets/cats/a.jpg", "pets/dogs/b.jpg"), that folder is the dataset root, as with a folder
 * import, and the sub-folders name the classes. Deeper folders fold into their top class folder.
 */
export function classFolders(paths: string[]): string[] {
  const split = paths.map(segments);
  const tops = new Set(split.map((s) => (s.length > 1 ? s[0] : '')));
  const singleRoot = tops.size === 1 && !tops.has('') && split.some((s) => s.length > 2);
  return split.map((s) => {
    const rel = singleRoot ? s.slice(1) : s;
    return rel.length > 1 ? rel[0] : '';
  });
}

/** Whether a file is operating-system clutter that is never an image (".DS_Store", "Thumbs.db"). */
export function isClutter(name: string): boolean {
  return name.startsWith('.') || name.toLowerCase() === 'thumbs.db' || name.toLowerCase() === 'desktop.ini';
}

/**
 * Groups consecutive file indices into calls of at most `maxFiles` files and `maxBytes` bytes;
 * a single file larger than `maxBytes` travels alone.
 */
export function planChunks(sizes: number[], maxFiles = MAX_FILES_PER_CALL, maxBytes = MAX_BYTES_PER_CALL): number[][] {
  const chunks: number[][] = [];
  let current: number[] = [];
  let bytes = 0;
  sizes.forEach((size, index) => {
    if (current.length > 0 && (current.length >= maxFiles || bytes + size > maxBytes)) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(index);
    bytes += size;
  });
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/** How the import report names a drop: "folder pets (68 files)" or "3 dropped files". */
export function uploadLabel(files: { relativePath: string }[]): string {
  const inFolders = files.length > 0 && files.every((f) => f.relativePath.includes('/'));
  const tops = new Set(files.map((f) => f.relativePath.split('/')[0]));
  if (inFolders && tops.size === 1) return `folder ${[...tops][0]} (${plural(files.length, 'file')})`;
  return plural(files.length, 'dropped file');
}
