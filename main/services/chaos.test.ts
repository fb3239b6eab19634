import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
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
      rmSync(home, { recursive: true, force: true });
      rmSync(folder, { recursive: true, force: true });
    }
  });
});

const LABEL_CHILD = join(__dirname, '../../test/chaos/label-child.ts');
const TINY_MODEL = join(__dirname, '../../test/fixtures/vit/hf_gelutanh_nobias_grey');

interface LabelCall {
  imageIds: number[];
  classId: number | null;
}

/** Runs a studio mid-labeling-burst (and training) in its own process; SIGKILLs it after `killAfter` acknowledged calls. */
function labelThenKill(home: string, folder: string, killAfter: number) {
  return new Promise<{ runId: number; acked: LabelCall[]; unacked: LabelCall | undefined }>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', LABEL_CHILD, home, folder, TINY_MODEL], { stdio: ['ignore', 'pipe', 'inherit'] });
    let runId = 0;
    let pending = '';
    let inFlight: LabelCall | undefined;
    const acked: LabelCall[] = [];
    child.stdout.on('data', (chunk: Buffer) => {
      const lines = (pending + chunk.toString()).split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        if (line.startsWith('ready ')) runId = Number(line.slice('ready '.length));
        else if (line.startsWith('send ')) inFlight = JSON.parse(line.slice('send '.length)) as LabelCall;
        else if (line === 'ack') {
          acked.push(inFlight!);
          inFlight = undefined;
        } else if (line.startsWith('error ')) reject(new Error(line));
      }
      if (acked.length >= killAfter && child.exitCode === null) child.kill('SIGKILL');
    });
    child.on('exit', (_code, signal) =>
      signal === 'SIGKILL' ? resolve({ runId, acked, unacked: inFlight }) : reject(new Error(`the studio ended on its own (${signal})`)),
    );
  });
}

/** Whether a process is gone (or a zombie nobody reaps, as an orphan can be in a container). */
function gone(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z') ?? true;
  } catch {
    return true;
  }
}

describe('chaos: the studio process is killed during a labeling burst, with a run training', () => {
  it('on restart the database is intact, every acknowledged label is stored, the run is interrupted and resumes, and disk matches the database', async () => {
    const home = mkdtempSync(join(tmpdir(), 'studio-chaos-label-'));
    const folder = mkdtempSync(join(tmpdir(), 'studio-chaos-label-data-'));
    try {
      await writeDigitFolder(folder, { '3': 40, '8': 40 });
      const { runId, acked, unacked } = await labelThenKill(home, folder, 300);
      expect(runId).toBeGreaterThan(0);
      expect(acked.length).toBeGreaterThanOrEqual(300);

      const studio = createStudio({
        dataDir: home,
        shell: 'remote',
        version: 'test',
        worker: { modulePath: join(__dirname, '../worker/index.ts'), execArgv: ['--require', 'tsx/cjs'] },
      });
      try {
        expect(studio.store.db.pragma('integrity_check', { simple: true })).toBe('ok');

        // Every acknowledged call is stored; the one in flight is all there or not at all.
        const [dataset] = studio.datasets.list();
        const expected = new Map<number, number | null>();
        for (const call of acked) for (const id of call.imageIds) expected.set(id, call.classId);
        const stored = studio.store.labels.labelsOf([...expected.keys(), ...(unacked?.imageIds ?? [])]);
        const withInFlight = new Map(expected);
        for (const id of unacked?.imageIds ?? []) withInFlight.set(id, unacked!.classId);
        const matches = (want: Map<number, number | null>) => [...want].every(([id, classId]) => (stored.get(id) ?? null) === classId);
        expect(matches(expected) || matches(withInFlight)).toBe(true);

        // The run training when the studio died is interrupted, never "running"; its orphaned
        // worker checkpoints and leaves on its own; every checkpoint the database knows verifies.
        const run = studio.runs.get(runId);
        expect(run.status).toBe('interrupted');
        const workerPid = (run.info as { pid?: number }).pid!;
        for (let waited = 0; !gone(workerPid) && waited < 30_000; waited += 100) await new Promise((r) => setTimeout(r, 100));
        expect(gone(workerPid)).toBe(true);
        const checkpoints = studio.store.db.prepare('SELECT path, sha256 FROM checkpoints WHERE run_id = ?').all(runId) as { path: string; sha256: string }[];
        expect(checkpoints.length).toBeGreaterThan(0);
        for (const { path, sha256 } of checkpoints) expect(createHash('sha256').update(readFileSync(join(path, 'state.safetensors'))).digest('hex')).toBe(sha256);

        // Files on disk match the database: every image's files exist, none without a row.
        await studio.datasets.sweepMedia();
        const items = studio.datasets.images(dataset!.id, {}, 0, 1000).items;
        expect(items).toHaveLength(80);
        for (const item of items) {
          expect(existsSync(studio.media.pathOf('image', item.hash))).toBe(true);
          expect(existsSync(studio.media.pathOf('thumb', item.hash))).toBe(true);
        }
        const files = (sub: string) => readdirSync(join(home, sub), { recursive: true }).filter((f) => String(f).length > 3);
        expect(files('media')).toHaveLength(80);
        expect(files('thumbs')).toHaveLength(80);

        // The interrupted run resumes from its checkpoint: its loss curve continues without a gap.
        const before = run.step;
        studio.runs.resume(runId);
        while (studio.runs.get(runId).step <= before + 2 && studio.runs.get(runId).status !== 'failed') await new Promise((r) => setTimeout(r, 100));
        studio.runs.stop(runId, 'paused');
        await studio.runs.idle();
        const resumed = studio.runs.get(runId);
        expect(resumed.status).toBe('paused');
        expect(studio.runs.metrics(runId, 'loss', -1).map((p) => p.step)).toEqual(Array.from({ length: resumed.step }, (_, i) => i + 1));
      } finally {
        await studio.close();
      }
    } finally {
      rmSync(home, { recursive: true, force: true });
      rmSync(folder, { recursive: true, force: true });
    }
  }, 180_000);
});
