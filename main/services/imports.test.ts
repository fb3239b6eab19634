import { mkdirSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ImportReport, JobProgress } from '../../preload/api';
import { pngBomb, truncated } from '../../test/bad-files';
import { digitPng, writeDigitFolder } from '../../test/digits';
import { tempStudio } from '../../test/studio';

const tempDir = () => mkdtempSync(join(tmpdir(), 'studio-import-'));
/** Originals (media) or thumbnails (thumbs) stored in a data folder, shard folders left out. */
const storedFiles = (dataDir: string, folderName: string) =>
  readdirSync(join(dataDir, folderName), { recursive: true }).filter((f) => String(f).length > 3).length;

describe('import service', () => {
  let current: ReturnType<typeof tempStudio> | undefined;
  afterEach(async () => current?.studio.close());

  async function importAndWait(datasetId: number, source: Parameters<ReturnType<typeof tempStudio>['studio']['imports']['start']>[1]) {
    const { studio } = current!;
    const { importId } = await studio.imports.start(datasetId, source);
    await studio.imports.idle();
    return studio.imports.get(importId) as ImportReport;
  }

  it('imports an ImageFolder of real digits, skips bad files with reasons, and dedupes by content', async () => {
    current = tempStudio();
    const { studio, dataDir } = current;
    const folder = tempDir();
    await writeDigitFolder(folder, { '3': 4, '7': 3 });
    writeFileSync(join(folder, '7', 'broken.png'), truncated(await digitPng(7, 10)));
    writeFileSync(join(folder, '3', 'notes.txt'), 'not an image');
    writeFileSync(join(folder, '3', 'empty.jpg'), '');
    writeFileSync(join(folder, '3', 'bomb.png'), pngBomb());
    writeFileSync(join(folder, '3', 'copy-of-0.png'), await digitPng(3, 0)); // same bytes as 3-0.png
    writeFileSync(join(folder, 'loose.png'), await digitPng(1, 0)); // at the top: unlabeled
    symlinkSync(folder, join(folder, '7', 'loop'));
    mkdirSync(join(folder, '.hidden'));
    writeFileSync(join(folder, '.hidden', 'x.png'), await digitPng(2, 0));

    const progress: JobProgress[] = [];
    studio.events.subscribe((event, payload) => event === 'job.progress' && progress.push(payload as JobProgress));
    const datasetId = studio.datasets.create('digits').id;
    const report = await importAndWait(datasetId, { kind: 'folder', path: folder });

    expect(report).toMatchObject({ status: 'done', added: 8, duplicates: 1, skipped: 5 });
    const reasons = Object.fromEntries(report.issues.map((i) => [i.path, i.reason]));
    expect(reasons[join('7', 'broken.png')]).toMatch(/truncated or corrupt/);
    expect(reasons[join('3', 'notes.txt')]).toMatch(/not an image/);
    expect(reasons[join('3', 'empty.jpg')]).toMatch(/empty file/);
    expect(reasons[join('3', 'bomb.png')]).toMatch(/60000×60000 .*decompression bomb/);
    expect(reasons[join('7', 'loop')]).toMatch(/symbolic link/);

    const detail = studio.datasets.get(datasetId);
    expect(detail).toMatchObject({ imageCount: 8, unlabeledCount: 1 });
    expect(detail.classes.map((c) => [c.name, c.imageCount])).toEqual([['3', 4], ['7', 3]]);
    const page = studio.datasets.images(datasetId, {}, 0, 100);
    expect(page.items.every((item) => item.width === 28 && item.height === 28)).toBe(true);
    // One original and one thumbnail per distinct image, on disk by hash.
    expect(storedFiles(dataDir, 'media')).toBe(8);
    expect(storedFiles(dataDir, 'thumbs')).toBe(8);
    expect(progress.at(-1)).toMatchObject({ status: 'done', done: progress.at(-1)!.total });

    // Importing the same folder again adds nothing.
    const again = await importAndWait(datasetId, { kind: 'folder', path: folder });
    expect(again).toMatchObject({ added: 0, duplicates: 9 });
  });

  it('imports dropped files by bytes, their folder naming the class', async () => {
    current = tempStudio();
    const { studio } = current;
    const datasetId = studio.datasets.create('dropped').id;
    const files = [
      { name: 'a.png', folder: 'cats', base64: (await digitPng(5, 1)).toString('base64') },
      { name: 'b.png', folder: 'cats/inner', base64: (await digitPng(5, 2)).toString('base64') },
      { name: 'c.png', folder: '', base64: (await digitPng(6, 1)).toString('base64') },
      { name: 'd.jpg', folder: '', base64: Buffer.from('hello').toString('base64') },
    ];
    const report = await importAndWait(datasetId, { kind: 'upload', files });
    expect(report).toMatchObject({ status: 'done', added: 3, skipped: 1 });
    expect(studio.datasets.get(datasetId).classes).toMatchObject([{ name: 'cats', imageCount: 2 }]);
  });

  it('files prepared together still land in file order: ids, duplicates and progress as if one by one', async () => {
    current = tempStudio();
    const { studio, dataDir } = current;
    const datasetId = studio.datasets.create('ordered').id;
    const png = async (index: number) => (await digitPng(index % 10, index)).toString('base64');
    // f04 repeats f03 right behind it (both in flight at once); f09 is not an image.
    const bytes = await Promise.all(Array.from({ length: 14 }, (_, i) => png(i)));
    bytes[4] = bytes[3]!;
    bytes[9] = Buffer.from('not an image').toString('base64');
    const files = bytes.map((base64, i) => ({ name: `f${String(i).padStart(2, '0')}.png`, folder: '', base64 }));
    const progress: JobProgress[] = [];
    studio.events.subscribe((event, payload) => event === 'job.progress' && progress.push(payload as JobProgress));

    const report = await importAndWait(datasetId, { kind: 'upload', files });

    expect(report).toMatchObject({ status: 'done', added: 12, duplicates: 1, skipped: 1 });
    expect(report.issues.map((i) => i.path)).toEqual(['f09.png']);
    const items = [...studio.datasets.images(datasetId, {}, 0, 100).items].sort((a, b) => a.id - b.id);
    expect(items.map((item) => item.fileName)).toEqual(files.map((f) => f.name).filter((name) => !['f04.png', 'f09.png'].includes(name)));
    const done = progress.map((p) => p.done);
    expect(done).toEqual([...done].sort((a, b) => a - b));
    expect([storedFiles(dataDir, 'media'), storedFiles(dataDir, 'thumbs')]).toEqual([12, 12]);
  });

  it('cancelling keeps what was imported before and says so', async () => {
    current = tempStudio();
    const { studio } = current;
    const folder = tempDir();
    // Enough files that a cancel at the first progress event (throttled to ~150 ms) lands well
    // before the end: the importer prepares 4 at once, ~200 images/s, so 40 could all finish.
    const files = 200;
    await writeDigitFolder(folder, { '0': files });
    const datasetId = studio.datasets.create('big').id;
    const { importId, jobId } = await studio.imports.start(datasetId, { kind: 'folder', path: folder });
    await new Promise<void>((resolve) => {
      const stop = studio.events.subscribe((event, payload) => {
        if (event === 'job.progress' && (payload as JobProgress).done >= 3) {
          stop();
          resolve();
        }
      });
    });
    expect(studio.imports.cancel(jobId)).toBe(true);
    await studio.imports.idle();
    const report = studio.imports.get(importId);
    expect(report.status).toBe('cancelled');
    expect(report.added).toBeGreaterThan(0);
    expect(report.added).toBeLessThan(files);
    expect(studio.datasets.get(datasetId).imageCount).toBe(report.added);
    // Files that were in flight at the cancel got their rows: none is left on disk without one.
    const { dataDir } = current;
    expect([storedFiles(dataDir, 'media'), storedFiles(dataDir, 'thumbs')]).toEqual([report.added, report.added]);
  });

  it('deleting a dataset sweeps files no other dataset uses', async () => {
    current = tempStudio();
    const { studio, dataDir } = current;
    const folder = tempDir();
    await writeDigitFolder(folder, { '4': 2 });
    const first = studio.datasets.create('first').id;
    const second = studio.datasets.create('second').id;
    await importAndWait(first, { kind: 'folder', path: folder });
    await importAndWait(second, { kind: 'files', paths: [join(folder, '4', '4-0.png')] });
    await studio.datasets.delete(first);
    const originals = readdirSync(join(dataDir, 'media'), { recursive: true }).filter((f) => String(f).length > 3);
    expect(originals).toHaveLength(1);
  });
});
