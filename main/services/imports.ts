import { randomUUID } from 'node:crypto';
import { lstat, readdir, readFile } from 'node:fs/promises';
import { basename, join, relative, sep } from 'node:path';
import type { ImportStarted, ParsedInput, Split } from '../../preload/api';
import type { Store } from '../store';
import type { EventBus } from './events';
import { intakeImage, MAX_FILE_BYTES } from './image-intake';
import type { MediaStore } from './media';
import { sha256 } from './media';
import { ServiceError, notFound, storageError } from './errors';

type ImportSource = ParsedInput<'imports.start'>['source'];

/** One file to import: where it came from, the class its folder names (if any), and how to read it. */
interface Candidate {
  path: string;
  className: string | null;
  read: () => Promise<Uint8Array>;
  size: () => Promise<number>;
}

/** Folders deeper than this below the import root are not walked: a guard against runaway trees. */
const MAX_DEPTH = 16;
/** Rows are committed in batches: a crash loses at most one batch, and SQLite stays fast. */
const BATCH = 64;
const PROGRESS_INTERVAL_MS = 150;
/**
 * Files prepared at once (read, hash, decode, thumbnail, write): sharp and the writes' fsyncs run on
 * libuv's thread pool (4 threads), which one file at a time leaves mostly idle. Results are still
 * taken in file order, so ids, progress and reports are as if imported one by one.
 */
const IN_FLIGHT = 4;

const isHidden = (name: string) => name.startsWith('.');

/**
 * Lists a folder in ImageFolder layout: files directly inside are unlabeled, files in a
 * sub-folder (at any depth) belong to the class named by that top-level sub-folder.
 * Symbolic links are never followed (loops, and links out of the folder).
 */
async function walkFolder(root: string, skip: (path: string, reason: string) => void): Promise<Candidate[]> {
  const found: Candidate[] = [];
  const visit = async (dir: string, depth: number): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
      skip(relative(root, dir) || '.', `folder cannot be read (${error.code ?? error.message})`);
      return [];
    });
    entries.sort((a, b) => a.name.localeCompare(b.name));
    for (const entry of entries) {
      if (isHidden(entry.name)) continue;
      const path = join(dir, entry.name);
      const rel = relative(root, path);
      if (entry.isSymbolicLink()) skip(rel, 'symbolic link: not followed');
      else if (entry.isDirectory()) {
        if (depth >= MAX_DEPTH) skip(rel, `folder nested deeper than ${MAX_DEPTH} levels: not imported`);
        else await visit(path, depth + 1);
      } else if (entry.isFile()) {
        const parts = rel.split(sep);
        found.push({
          path: rel,
          className: parts.length > 1 ? parts[0] : null,
          read: () => readFile(path),
          size: async () => (await lstat(path)).size,
        });
      } else skip(rel, 'not a regular file');
    }
  };
  await visit(root, 0);
  return found;
}

function candidatesOf(source: ImportSource, skip: (path: string, reason: string) => void): Promise<Candidate[]> | Candidate[] {
  switch (source.kind) {
    case 'folder':
      return walkFolder(source.path, skip);
    case 'files':
      return source.paths.map((path) => ({
        path,
        className: null,
        read: () => readFile(path),
        size: async () => {
          const stat = await lstat(path);
          if (!stat.isFile()) throw new Error('not a regular file');
          return stat.size;
        },
      }));
    case 'upload':
      return source.files.map((file) => {
        const bytes = Buffer.from(file.base64, 'base64');
        const className = file.folder.split(/[\\/]/).find((part) => part && part !== '.' && part !== '..') ?? null;
        return {
          path: file.folder ? `${file.folder}/${file.name}` : file.name,
          className,
          read: async () => bytes,
          size: async () => bytes.byteLength,
        };
      });
  }
}

const normalisePath = (path: string) => path.split(/[\\/]/).join('/');
const stemOf = (path: string) => normalisePath(path).replace(/\.[^./]*$/, '').toLowerCase();
const SPLIT_NAMES = new Set<string>(['train', 'val', 'test']);

/**
 * Separates what sits beside the images: `name.txt` next to `name.jpg` is that image's caption,
 * and a studio export's manifest.json (with manifest.csv) restores the splits. A .txt file with no
 * image of its name stays a candidate (and is reported as not an image).
 */
async function sidecars(all: Candidate[]) {
  const imageStems = new Set(all.filter((c) => !/\.txt$/i.test(c.path)).map((c) => stemOf(c.path)));
  const captions = new Map<string, Candidate>();
  const splits = new Map<string, Split>();
  let studioManifest = false;
  const manifest = all.find((c) => normalisePath(c.path) === 'manifest.json');
  if (manifest) {
    try {
      const parsed = JSON.parse((await manifest.read()).toString()) as { images?: { file?: unknown; split?: unknown }[] };
      studioManifest = Array.isArray(parsed.images);
      for (const image of parsed.images ?? []) {
        if (typeof image.file === 'string' && typeof image.split === 'string' && SPLIT_NAMES.has(image.split)) {
          splits.set(normalisePath(image.file), image.split as Split);
        }
      }
    } catch {
      // Not a studio manifest: leave manifest.json to be reported like any other file.
    }
  }
  const isStudioManifest = (c: Candidate) => studioManifest && ['manifest.json', 'manifest.csv'].includes(normalisePath(c.path));
  const candidates = all.filter((c) => {
    if (isStudioManifest(c)) return false;
    if (/\.txt$/i.test(c.path) && imageStems.has(stemOf(c.path))) {
      captions.set(stemOf(c.path), c);
      return false;
    }
    return true;
  });
  return { candidates, captions, splits };
}

function describe(source: ImportSource): string {
  switch (source.kind) {
    case 'folder':
      return source.path;
    case 'files':
      return `${source.paths.length} file(s)`;
    case 'upload':
      return `${source.files.length} dropped file(s)`;
  }
}

export function createImportService(store: Store, media: MediaStore, events: EventBus) {
  const running = new Map<string, AbortController>();
  /** Hashes whose files are written but whose rows are not committed yet: a sweep must keep them. */
  const uncommitted = new Set<string>();

  async function run(importId: number, datasetId: number, jobId: string, source: ImportSource, signal: AbortSignal) {
    const counts = { total: 0, processed: 0, added: 0, duplicates: 0, skipped: 0 };
    let lastProgress = 0;
    const progress = (status: 'running' | 'done' | 'failed' | 'cancelled', message: string, force = false) => {
      const now = Date.now();
      if (!force && now - lastProgress < PROGRESS_INTERVAL_MS) return;
      lastProgress = now;
      events.emit('job.progress', { jobId, kind: 'import', datasetId, status, done: counts.processed, total: counts.total, message });
    };
    const skip = (path: string, reason: string) => {
      counts.skipped++;
      store.imports.addIssue(importId, path, reason);
    };

    const { candidates, captions, splits } = await sidecars(await candidatesOf(source, skip));
    counts.total = candidates.length + counts.skipped;
    counts.processed = counts.skipped;
    progress('running', `Found ${candidates.length} file(s)`, true);

    type Ready = {
      candidate: Candidate;
      hash: string;
      bytes: number;
      width: number;
      height: number;
      format: string;
      caption: string | null;
    };
    let pending: Ready[] = [];
    const commit = () => {
      const batch = pending;
      pending = [];
      store.transaction(() => {
        for (const item of batch) {
          const classId = item.candidate.className ? store.datasets.ensureClass(datasetId, item.candidate.className) : null;
          const added = store.images.add({
            datasetId, hash: item.hash, byteSize: item.bytes, width: item.width, height: item.height,
            format: item.format, fileName: basename(item.candidate.path), sourcePath: item.candidate.path, importId, classId,
          });
          if (added === null) {
            counts.duplicates++;
            continue;
          }
          counts.added++;
          if (item.caption !== null) store.labels.setCaption(added, item.caption);
          const split = splits.get(normalisePath(item.candidate.path));
          if (split) store.labels.setSplit(added, split, false);
        }
        store.imports.saveProgress(importId, counts);
      });
      // Only once the rows are committed: a failed batch's files stay listed for abandon to remove.
      for (const item of batch) {
        uncommitted.delete(item.hash);
        written.delete(item.hash);
      }
      events.emit('datasets.changed', { datasetId });
    };

    // A full or read-only data folder ends the import at once with one clear line (every further
    // file would fail alike); what this import stored without a row is removed, so nothing of the
    // failed batch is left on disk, and what earlier batches committed stays.
    const stored = <T>(write: () => T): T => {
      try {
        return write();
      } catch (error) {
        throw storageError(error) ?? error;
      }
    };
    const abandon = async (error: unknown) => {
      for (const hash of written) {
        uncommitted.delete(hash);
        if (!store.images.isHashReferenced(hash)) await media.remove(hash);
      }
      pending = [];
      throw error;
    };
    /** Hashes this import wrote whose rows are not committed yet. */
    const written = new Set<string>();
    const seen = new Set<string>();

    type Prepared =
      | { kind: 'ready'; item: Ready }
      | { kind: 'duplicate' }
      | { kind: 'skipped'; reason: string }
      | { kind: 'storage-failed'; error: unknown };
    /** Everything one file needs short of its row; runs IN_FLIGHT at a time, in any order. */
    const prepare = async (candidate: Candidate): Promise<Prepared> => {
      try {
        const size = await candidate.size();
        if (size > MAX_FILE_BYTES) return { kind: 'skipped', reason: `file is ${(size / 2 ** 20).toFixed(0)} MB, above the 200 MB limit` };
        const bytes = await candidate.read();
        const hash = sha256(bytes);
        if (seen.has(hash)) return { kind: 'duplicate' };
        const intake = await intakeImage(bytes);
        if (!intake.ok) return { kind: 'skipped', reason: intake.reason };
        const captionFile = captions.get(stemOf(candidate.path));
        const caption = captionFile ? (await captionFile.read()).toString().trim() : null;
        uncommitted.add(hash);
        written.add(hash);
        await media.put(hash, bytes, intake.thumbnail).catch((error: unknown) => {
          throw storageError(error) ?? error;
        });
        return {
          kind: 'ready',
          item: { candidate, hash, bytes: bytes.byteLength, width: intake.width, height: intake.height, format: intake.format, caption },
        };
      } catch (error) {
        if (error instanceof ServiceError && error.code === 'io') return { kind: 'storage-failed', error };
        return { kind: 'skipped', reason: `cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})` };
      }
    };

    // A cancel launches nothing more; what is already in flight is written, so it is taken as usual.
    const inFlight: { candidate: Candidate; prepared: Promise<Prepared> }[] = [];
    let nextCandidate = 0;
    const launch = () => {
      while (inFlight.length < IN_FLIGHT && nextCandidate < candidates.length && !signal.aborted) {
        const candidate = candidates[nextCandidate++]!;
        inFlight.push({ candidate, prepared: prepare(candidate) });
      }
    };
    // Before removing what failed, let every file in flight finish writing, so none lands after.
    const abandonAfterInFlight = async (error: unknown) => {
      await Promise.all(inFlight.map((entry) => entry.prepared));
      await abandon(error);
    };

    launch();
    while (inFlight.length > 0) {
      const { candidate, prepared } = inFlight.shift()!;
      const outcome = await prepared;
      launch();
      try {
        if (outcome.kind === 'storage-failed') throw outcome.error;
        else if (outcome.kind === 'skipped') skip(candidate.path, outcome.reason);
        else if (outcome.kind === 'duplicate') counts.duplicates++;
        else if (seen.has(outcome.item.hash)) {
          // The same bytes were in flight twice: the first, in file order, owns the row (and, once
          // that row is committed, the file).
          counts.duplicates++;
          if (!pending.some((item) => item.hash === outcome.item.hash)) {
            uncommitted.delete(outcome.item.hash);
            written.delete(outcome.item.hash);
          }
        } else {
          seen.add(outcome.item.hash);
          pending.push(outcome.item);
          if (pending.length >= BATCH) stored(commit);
        }
      } catch (error) {
        if (error instanceof ServiceError && error.code === 'io') await abandonAfterInFlight(error);
        skip(candidate.path, `cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
      } finally {
        counts.processed++;
        progress('running', candidate.path);
      }
    }
    try {
      stored(commit);
    } catch (error) {
      await abandon(error);
    }
    const status = signal.aborted ? 'cancelled' : 'done';
    store.imports.finish(importId, status);
    progress(
      status,
      `${counts.added} added, ${counts.duplicates} duplicate(s), ${counts.skipped} skipped${status === 'cancelled' ? ' — cancelled' : ''}`,
      true,
    );
  }

  return {
    async start(datasetId: number, source: ImportSource): Promise<ImportStarted> {
      if (!store.datasets.get(datasetId)) throw notFound(`Dataset ${datasetId}`);
      // Refuse a missing folder up front, so the error lands where the path was typed.
      if (source.kind === 'folder') {
        const stat = await lstat(source.path).catch(() => null);
        if (!stat) throw new ServiceError('not_found', `The folder ${source.path} does not exist.`);
        if (!stat.isDirectory()) throw new ServiceError('validation', `${source.path} is not a folder.`);
      }
      const jobId = randomUUID();
      const importId = store.imports.start(datasetId, jobId, describe(source));
      const controller = new AbortController();
      running.set(jobId, controller);
      run(importId, datasetId, jobId, source, controller.signal)
        .catch((error: unknown) => {
          const message = error instanceof Error ? error.message : String(error);
          store.imports.finish(importId, 'failed', message);
          events.emit('job.progress', { jobId, kind: 'import', datasetId, status: 'failed', done: 0, total: 0, message });
        })
        .finally(() => running.delete(jobId));
      return { importId, jobId };
    },
    cancel(jobId: string): boolean {
      const controller = running.get(jobId);
      controller?.abort();
      return controller !== undefined;
    },
    isPending: (hash: string): boolean => uncommitted.has(hash),
    cancelAll(): void {
      for (const controller of running.values()) controller.abort();
    },
    /** Resolves when no import is running (used at shutdown and by tests). */
    async idle(): Promise<void> {
      while (running.size > 0) await new Promise((resolve) => setTimeout(resolve, 20));
    },
    get(id: number) {
      const report = store.imports.get(id);
      if (!report) throw notFound(`Import ${id}`);
      return report;
    },
    list: (datasetId: number) => store.imports.list(datasetId),
  };
}

export type ImportService = ReturnType<typeof createImportService>;
