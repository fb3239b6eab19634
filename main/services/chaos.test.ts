import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeDigitFolder } from '../../test/digits';
import { createStudio } from '../studio';

const CHILD = join(__dirname, '../../test/chaos/import-child.ts');

/** Runs the importing studio in its own process and SIGKILLs it once `killAt` files are done. */
function importThenKill(home: string, folder: string, killAt: number) {
  return new Promise<number>((resolve, reject) => {
    const child = spawn(process.execPath, ['--require', 'tsx/cjs', CHILD, home, folder], { stdio: ['ignore', 'pipe', 'inherit'] });
    let done = 0;
    child.stdout.on('data', (chunk: Buffer) => {
      for (const match of chunk.toString().matchAll(/progress (\d+)/g)) done = Math.max(done, Number(match[1]));
      if (done >= killAt && child.exitCode === null) child.kill('SIGKILL');
    });
    child.on('exit', (_code, signal) => (signal === 'SIGKILL' ? resolve(done) : reject(new Error(`the studio ended on its own (${signal})`))));
  });
}

describe('chaos: the studio process is killed during an import', () => {
  it('on restart the database is intact, the import is failed (resumable by importing again), and disk matches the database', async () => {
    const home = mkdtempSync(join(tmpdir(), 'studio-chaos-'));
    const folder = mkdtempSync(join(tmpdir(), 'studio-chaos-data-'));
    await writeDigitFolder(folder, { '2': 150, '5': 150 });
    const doneWhenKilled = await importThenKill(home, folder, 70);
    expect(doneWhenKilled).toBeGreaterThanOrEqual(70);

    const studio = createStudio({ dataDir: home, shell: 'remote', version: 'test', worker: { modulePath: CHILD, execArgv: [] } });
    try {
      expect(studio.store.db.pragma('integrity_check', { simple: true })).toBe('ok');
      const [dataset] = studio.datasets.list();
      const [report] = studio.imports.list(dataset!.id);
      expect(report).toMatchObject({ status: 'failed', error: expect.stringMatching(/stopped during this import/) });
      const kept = dataset!.imageCount;
      expect(kept).toBeLessThan(300);

      // Every row's files exist; after the start-up sweep no file lacks a row.
      await studio.datasets.sweepMedia();
      const items = studio.datasets.images(dataset!.id, {}, 0, 1000).items;
      for (const item of items) {
        expect(existsSync(studio.media.pathOf('image', item.hash))).toBe(true);
        expect(existsSync(studio.media.pathOf('thumb', item.hash))).toBe(true);
      }
      const files = (sub: string) => readdirSync(join(home, sub), { recursive: true }).filter((f) => String(f).length > 3);
      expect(files('media')).toHaveLength(kept);
      expect(files('thumbs')).toHaveLength(kept);

      // Importing the folder again completes the dataset: what was kept counts as duplicates.
      const { importId } = await studio.imports.start(dataset!.id, { kind: 'folder', path: folder });
      await studio.imports.idle();
      expect(studio.imports.get(importId)).toMatchObject({ status: 'done', added: 300 - kept, duplicates: kept });
    } finally {
      await studio.close();
    }
  });
});
