import { mkdtempSync, promises as fsp, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { writeDigitFolder } from '../../test/digits';
import { tempStudio } from '../../test/studio';
import { createStudio, createStudioDispatch } from '../studio';
import { storageError, toErrorBody } from './errors';
import { importModel } from './models';

// A full disk or a read-only data folder, simulated: we run as root, so permissions would not stop
// a write. File-system failures are injected where the studio opens or writes its files; SQLite's
// are real (max_page_count caps the database at its size: SQLITE_FULL; query_only: SQLITE_READONLY).

const PROBE = join(__dirname, '../../test/chaos/worker-probe.ts');
const errno = (code: string, path?: string) => Object.assign(new Error(`${code}: injected${path ? `, open '${path}'` : ''}`), { code, path });
const oneLine = (message: string) => expect(message).not.toMatch(/\n/);

describe('storage errors read as one line a person can act on', () => {
  it.each([
    ['ENOSPC', /^Could not write \/data\/media: the disk is full\. Free some space, then try again \(ENOSPC\)\.$/],
    ['EDQUOT', /disk is full.*\(EDQUOT\)/],
    ['EROFS', /^Could not write \/data\/media: it is read-only\. .*\(EROFS\)\.$/],
    ['EACCES', /^Could not access \/data\/media: permission denied\. .*\(EACCES\)\.$/],
    ['EPERM', /permission denied.*\(EPERM\)/],
    ['EIO', /input\/output error.*\(EIO\)/],
    ['SQLITE_FULL', /^Could not write the studio database: the disk is full\. .*\(SQLITE_FULL\)\.$/],
    ['SQLITE_READONLY', /^Could not write the studio database: it is read-only\. .*\(SQLITE_READONLY\)\.$/],
    ['SQLITE_READONLY_DBMOVED', /read-only/],
    ['SQLITE_IOERR_WRITE', /input\/output error/],
  ])('%s', (code, message) => {
    // A temporary file's hidden name is replaced by its folder.
    const error = storageError(errno(code, '/data/media/.ab12.tmp'));
    expect(error?.code).toBe('io');
    expect(error?.message).toMatch(message);
    oneLine(error!.message);
    expect(toErrorBody(errno(code, '/data/media'), () => undefined)).toMatchObject({ code: 'io', message: expect.stringMatching(message) });
  });

  it('leaves other errors alone', () => {
    expect(storageError(errno('ENOENT', '/x'))).toBeUndefined();
    expect(storageError(errno('SQLITE_CONSTRAINT_UNIQUE'))).toBeUndefined();
    expect(storageError(new Error('plain'))).toBeUndefined();
    expect(storageError(undefined)).toBeUndefined();
  });
});

describe('a full or read-only data folder', () => {
  let current: ReturnType<typeof tempStudio> | undefined;
  const temps: string[] = [];
  afterEach(async () => {
    vi.restoreAllMocks();
    await current?.studio.close();
    current = undefined;
    for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  /** A studio on a temporary data folder; `probed`: its training workers preload the chaos probe. */
  async function setup(probed = false) {
    current = tempStudio();
    if (probed) {
      // The same data folder, reopened with the probe in the worker's preloads.
      await current.studio.close();
      const dataDir = current.dataDir;
      const studio = createStudio({ dataDir, shell: 'remote', version: 'test', worker: { modulePath: join(__dirname, '../worker/index.ts'), execArgv: ['--require', 'tsx/cjs', '--require', PROBE] } });
      current = { dataDir, studio, dispatch: createStudioDispatch(studio) };
    }
    temps.push(current.dataDir);
    const folder = mkdtempSync(join(tmpdir(), 'studio-storage-data-'));
    temps.push(folder);
    await writeDigitFolder(folder, { '4': 10, '7': 10 });
    return { ...current, folder };
  }

  /** Every file under the data folder's media and thumbs, temporary ones included. */
  const mediaFiles = (home: string) =>
    ['media', 'thumbs'].flatMap((sub) => {
      try {
        return readdirSync(join(home, sub), { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
      } catch {
        return [];
      }
    });

  it.each([
    ['ENOSPC while writing the 6th thumbnail (its original already stored)', 'thumbs', 'write', 'ENOSPC', /disk is full/],
    ['EROFS when opening the 6th thumbnail', 'thumbs', 'open', 'EROFS', /read-only/],
    ['EACCES when opening the 6th original', 'media', 'open', 'EACCES', /permission denied/],
  ] as const)('an import hitting %s fails with one line and leaves no file and no row behind', async (_name, folderName, when, code, reason) => {
    const { studio, dataDir, folder } = await setup();
    const datasetId = studio.datasets.create('digits').id;
    const open = fsp.open.bind(fsp);
    let opened = 0;
    vi.spyOn(fsp, 'open').mockImplementation(async (...args: Parameters<typeof fsp.open>): Promise<FileHandle> => {
      const path = String(args[0]);
      if (!path.startsWith(join(dataDir, folderName) + sep) || ++opened < 6) return open(...args);
      if (when === 'open') throw errno(code, path);
      const handle = await open(...args);
      // Some bytes reach the disk, then it is full.
      handle.write = (async (data: Uint8Array) => {
        await open(path, 'r+').then(async (h) => (await h.write(data.subarray(0, 10)), h.close()));
        throw errno(code);
      }) as unknown as FileHandle['write'];
      return handle;
    });

    const { importId } = await studio.imports.start(datasetId, { kind: 'folder', path: folder });
    await studio.imports.idle();
    const report = studio.imports.get(importId);
    expect(report.status).toBe('failed');
    expect(report.error).toMatch(reason);
    expect(report.error).toMatch(new RegExp(`\\(${code}\\)\\.$`));
    oneLine(report.error!);
    expect(report.issues ?? []).toEqual([]);
    // Nothing half-written: no row, no class, no file (originals of the failed batch, temp files).
    expect(studio.datasets.get(datasetId)).toMatchObject({ imageCount: 0, classes: [] });
    expect(mediaFiles(dataDir)).toEqual([]);

    // With space again, importing the folder once more stores everything.
    vi.restoreAllMocks();
    const again = await studio.imports.start(datasetId, { kind: 'folder', path: folder });
    await studio.imports.idle();
    expect(studio.imports.get(again.importId)).toMatchObject({ status: 'done', added: 20 });
    expect(mediaFiles(dataDir)).toHaveLength(40);
  });

  it('a database that is full or read-only refuses the change with an io error and keeps what it had', async () => {
    const { studio, dispatch, folder } = await setup();
    const datasetId = studio.datasets.create('digits').id;
    await studio.imports.start(datasetId, { kind: 'folder', path: folder });
    await studio.imports.idle();
    const { items } = studio.datasets.images(datasetId, {}, 0, 100);
    const ids = items.map((i) => i.id);
    const labels = () => studio.store.labels.labelsOf(ids);
    const before = labels();

    studio.store.db.pragma('query_only = 1');
    const readOnly = await dispatch('labels.set', { datasetId, imageIds: ids, classId: null });
    expect(readOnly).toMatchObject({ ok: false, error: { code: 'io', message: expect.stringMatching(/^Could not write the studio database: it is read-only\. .*\(SQLITE_READONLY\)\.$/) } });
    expect(labels()).toEqual(before);
    studio.store.db.pragma('query_only = 0');

    const pages = studio.store.db.pragma('page_count', { simple: true }) as number;
    studio.store.db.pragma(`max_page_count = ${pages}`);
    const full = await dispatch('captions.set', { imageId: ids[0], text: 'x'.repeat(10_000) });
    expect(full).toMatchObject({ ok: false, error: { code: 'io', message: expect.stringMatching(/disk is full.*\(SQLITE_FULL\)\.$/) } });
    expect(studio.store.db.prepare('SELECT COUNT(*) AS n FROM captions').get()).toEqual({ n: 0 });

    // An import whose rows no longer fit: failed in one line, its files removed, the dataset as it was.
    const more = mkdtempSync(join(tmpdir(), 'studio-storage-more-'));
    temps.push(more);
    await writeDigitFolder(more, { '5': 12 });
    const { importId } = await studio.imports.start(datasetId, { kind: 'folder', path: more });
    await studio.imports.idle();
    expect(studio.imports.get(importId)).toMatchObject({ status: 'failed', error: expect.stringMatching(/disk is full.*\(SQLITE_FULL\)\.$/) });
    expect(studio.datasets.get(datasetId).imageCount).toBe(20);
    expect(mediaFiles(current!.dataDir)).toHaveLength(40);
  });

  it('a checkpoint write that hits a full disk fails the run in one line; the earlier checkpoint is intact and the run resumes', async () => {
    const { studio, dataDir, folder } = await setup(true);
    const datasetId = studio.datasets.create('digits').id;
    await studio.imports.start(datasetId, { kind: 'folder', path: folder });
    await studio.imports.idle();
    const { id: modelId } = await importModel(studio.store, join(__dirname, '../../test/fixtures/vit/hf_gelutanh_nobias_grey'));
    // The chaos probe (a test-only preload of the worker) fails the 2nd checkpoint write with ENOSPC.
    const probeLog = join(dataDir, 'probe.log');
    writeFileSync(probeLog, '');
    Object.assign(process.env, { CHAOS_PROBE_LOG: probeLog, CHAOS_FAIL_AT_WRITE: '2', CHAOS_FAIL_CODE: 'ENOSPC' });
    try {
      const run = await studio.runs.create({ datasetId, modelId, method: 'lora', methodOptions: {}, steps: 12, batchSize: 4, lr: 1e-2, seed: 1, valFraction: 0.2, evalEvery: 4, checkpointEvery: 4 });
      await studio.runs.idle();
      const failed = studio.runs.get(run.id);
      expect(failed.status).toBe('failed');
      expect(failed.error).toBe('Could not write the data folder: the disk is full. Free some space, then try again (ENOSPC).');
      const checkpoints = join(dataDir, 'runs', String(run.id), 'checkpoints');
      expect(readdirSync(checkpoints)).toEqual(['step-00000004']);
      expect(readFileSync(probeLog, 'utf8')).toMatch(/write-failed 8/);

      delete process.env.CHAOS_FAIL_AT_WRITE;
      studio.runs.resume(run.id);
      await studio.runs.idle();
      expect(studio.runs.get(run.id).status).toBe('done');
      expect(studio.runs.metrics(run.id, 'loss', -1).map((p) => p.step)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    } finally {
      for (const key of ['CHAOS_PROBE_LOG', 'CHAOS_FAIL_AT_WRITE', 'CHAOS_FAIL_CODE']) delete process.env[key];
    }
  }, 180_000);
});
