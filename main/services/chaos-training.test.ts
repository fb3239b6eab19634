import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeDigitFolder } from '../../test/digits';
import { createStudio } from '../studio';
import { importModel } from './models';

// Kill -9 the training worker again and again — inside a checkpoint write (the probe pauses
// there and says so) and at random steps — resuming after each kill; the finished run must be
// indistinguishable from one that was never interrupted. CHAOS_KILLS sets how many kills (CI: 6);
// CHAOS_SEED replays a failing sequence of kill points.
const KILLS = Number(process.env.CHAOS_KILLS || 6);
const SEED = Number(process.env.CHAOS_SEED || Date.now() % 100_000);
const STEPS = 40;
const TINY_MODEL = join(__dirname, '../../test/fixtures/vit/hf_gelutanh_nobias_grey');
const PROBE = join(__dirname, '../../test/chaos/worker-probe.ts');
const spec = { method: 'lora', methodOptions: {}, steps: STEPS, batchSize: 4, lr: 1e-2, seed: 5, valFraction: 0.2, evalEvery: 4, checkpointEvery: 4 };
const METRICS = ['loss', 'lr', 'val_loss', 'val_accuracy'] as const;

/** Park–Miller: the kill points follow from SEED alone. */
function random(seed: number) {
  let state = seed % 2_147_483_647 || 1;
  return (n: number) => {
    state = (state * 48_271) % 2_147_483_647;
    return state % n;
  };
}

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('chaos: the training process is killed with SIGKILL again and again', () => {
  const temps: string[] = [];
  const temp = (prefix: string) => {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    temps.push(dir);
    return dir;
  };
  afterAll(() => {
    for (const dir of temps) rmSync(dir, { recursive: true, force: true });
  });

  it(`${KILLS} kills (mid-checkpoint-write and mid-step) and resumes end with the weights and metrics of an uninterrupted run`, async () => {
    const home = temp('studio-chaos-train-');
    const probeLog = join(home, 'probe.log');
    writeFileSync(probeLog, '');
    process.env.CHAOS_PROBE_LOG = probeLog;
    process.env.CHAOS_PAUSE_MS = '2000';
    const studio = createStudio({
      dataDir: home,
      shell: 'remote',
      version: 'test',
      worker: { modulePath: join(__dirname, '../worker/index.ts'), execArgv: ['--require', 'tsx/cjs', '--require', PROBE] },
    });
    try {
      const folder = temp('studio-chaos-train-data-');
      await writeDigitFolder(folder, { '0': 10, '1': 10 });
      const datasetId = studio.datasets.create('zeros and ones').id;
      await studio.imports.start(datasetId, { kind: 'folder', path: folder });
      await studio.imports.idle();
      const { id: modelId } = await importModel(studio.store, TINY_MODEL);

      // The reference: the same run, never interrupted.
      const clean = await studio.runs.create({ datasetId, modelId, ...spec });
      await studio.runs.idle();
      expect(studio.runs.get(clean.id).status).toBe('done');

      const landed: string[] = [];
      const resumes: { step: number; skipped: string[] }[] = [];
      let chaos = 0;
      let corrupted: number | undefined;
      const pick = random(SEED);
      const runRoot = () => join(home, 'runs', String(chaos));
      const live = () => ['queued', 'running'].includes(studio.runs.get(chaos).status);

      /** One worker's life: started by `start`, killed as `mode` says, or left to finish. */
      async function leg(start: () => Promise<unknown> | unknown, mode: 'write' | 'step' | 'finish'): Promise<'killed' | 'ended'> {
        process.env.CHAOS_PAUSE_AT_WRITE = mode === 'write' ? '2' : '0';
        const from = readFileSync(probeLog, 'utf8').length;
        await start();
        const lines = () => readFileSync(probeLog, 'utf8').slice(from).split('\n').filter(Boolean);
        const until = async (found: (line: string) => boolean) => {
          while (live() && !lines().some(found)) await sleep(5);
          return lines().some(found);
        };
        if (!(await until((l) => / start /.test(l)))) throw new Error(`the worker ended before it started: ${studio.runs.get(chaos).error}`);
        const [, pid, resumedStep, skipped] = /^(\d+) start (\d+) (.*)$/.exec(lines().find((l) => / start /.test(l))!)!;
        resumes.push({ step: Number(resumedStep), skipped: JSON.parse(skipped!) as string[] });
        if (mode !== 'finish') {
          const target = Number(resumedStep) + 1 + pick(8);
          const reached = await until(mode === 'write' ? (l) => / write-paused /.test(l) : (l) => /^\d+ step (\d+)$/.test(l) && Number(l.split(' ')[2]) >= target);
          if (reached) {
            if (mode === 'step') await sleep(pick(20));
            const before = lines().at(-1)!;
            try {
              process.kill(Number(pid), 'SIGKILL');
              landed.push(before.includes('write-paused') ? `checkpoint write ${before.split(' ')[2]}` : before.replace(/^\d+ /, 'after '));
            } catch {
              /* it finished first */
            }
          }
        }
        await studio.runs.idle();
        const run = studio.runs.get(chaos);
        if (run.status === 'done') return 'ended';
        expect(run).toMatchObject({ status: 'failed', error: expect.stringMatching(/SIGKILL/) });
        return 'killed';
      }

      let ended = false;
      for (let kill = 0; kill < KILLS && !ended; kill++) {
        const mode = kill % 2 === 0 ? 'write' : 'step';
        const start =
          kill === 0
            ? async () => {
                chaos = (await studio.runs.create({ datasetId, modelId, ...spec, name: 'chaos' })).id;
              }
            : () => studio.runs.resume(chaos);
        ended = (await leg(start, mode)) === 'ended';
        if (!ended && mode === 'write') {
          // Killed inside the write: the half-written state file lies in a temporary folder that
          // no loader looks at, and the step's checkpoint folder does not exist.
          const step = Number(landed.at(-1)!.split(' ')[2]);
          const name = `step-${String(step).padStart(8, '0')}`;
          const entries = readdirSync(join(runRoot(), 'checkpoints'));
          expect(entries.some((e) => e.startsWith(`.${name}.`))).toBe(true);
          expect(entries).not.toContain(name);
        }
        // Once, corrupt the newest checkpoint on disk (a torn sector): the next resume must skip it.
        const steps = existsSync(join(runRoot(), 'checkpoints'))
          ? readdirSync(join(runRoot(), 'checkpoints')).filter((n) => /^step-\d+$/.test(n)).sort()
          : [];
        if (!ended && corrupted === undefined && steps.length >= 2) {
          const file = join(runRoot(), 'checkpoints', steps.at(-1)!, 'state.safetensors');
          const bytes = readFileSync(file);
          bytes[bytes.length - 5] ^= 0xff;
          writeFileSync(file, bytes);
          corrupted = Number(steps.at(-1)!.slice('step-'.length));
        }
      }
      if (!ended) await leg(() => studio.runs.resume(chaos), 'finish');

      const context = `seed ${SEED}; kills landed: ${landed.join(', ')}; resumed from ${resumes.map((r) => r.step).join(', ')}`;
      expect(studio.runs.get(chaos).status, context).toBe('done');
      expect(landed.some((l) => l.startsWith('checkpoint write')), context).toBe(true);
      expect(landed.some((l) => l.startsWith('after step')), context).toBe(true);
      if (corrupted !== undefined) {
        const after = resumes.findIndex((r) => r.skipped.length > 0);
        expect(resumes[after]?.skipped.join(' '), context).toMatch(/corrupt checkpoint/);
        expect(resumes[after]!.step, context).toBeLessThan(corrupted);
      }

      // Every metric point exactly once, every value that of the uninterrupted run.
      for (const name of METRICS) {
        const reference = studio.runs.metrics(clean.id, name, -1);
        const got = studio.runs.metrics(chaos, name, -1);
        expect(got.map((p) => p.step), `${name}: ${context}`).toEqual(reference.map((p) => p.step));
        expect(got.map((p) => p.value), `${name}: ${context}`).toEqual(reference.map((p) => p.value));
      }
      expect(studio.runs.metrics(chaos, 'loss', -1).map((p) => p.step)).toEqual(Array.from({ length: STEPS }, (_, i) => i + 1));
      expect(studio.runs.metrics(chaos, 'examples_per_s', -1).map((p) => p.step)).toEqual(Array.from({ length: STEPS }, (_, i) => i + 1));
      const counts = (id: number) => Object.fromEntries(studio.runs.get(id).metrics.map((m) => [m.name, m.count]));
      expect(counts(chaos)).toEqual(counts(clean.id));

      // The same final weights and optimizer state: the last checkpoints hash alike, the adapters are byte-identical.
      const last = (id: number) => studio.store.runs.latestCheckpoint(id)!;
      expect(last(chaos).step).toBe(STEPS);
      expect(last(chaos).sha256, context).toBe(last(clean.id).sha256);
      const adapter = (id: number) => join(home, 'runs', String(id), 'adapter', 'adapter_model.safetensors');
      expect(sha256(adapter(chaos))).toBe(sha256(adapter(clean.id)));

      // Every checkpoint the database records verifies against its file.
      const rows = studio.store.db.prepare('SELECT step, path, sha256 FROM checkpoints WHERE run_id = ?').all(chaos) as { path: string; sha256: string }[];
      expect(rows.length).toBe(STEPS / spec.checkpointEvery);
      for (const row of rows) expect(sha256(join(row.path, 'state.safetensors'))).toBe(row.sha256);
      // Resuming swept the half-written checkpoint folders the kills left.
      expect(readdirSync(join(runRoot(), 'checkpoints')).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    } finally {
      await studio.close();
      delete process.env.CHAOS_PROBE_LOG;
      delete process.env.CHAOS_PAUSE_MS;
      delete process.env.CHAOS_PAUSE_AT_WRITE;
    }
  }, 240_000);
});
