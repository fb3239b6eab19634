import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunSummary } from '../../preload/api';
import { writeDigitFolder } from '../../test/digits';
import { tempStudio } from '../../test/studio';
import { importModel } from './models';

// A tiny greyscale ViT (8×8 input) from the parity fixtures: digits are resized to it.
const TINY_MODEL = join(__dirname, '../../test/fixtures/vit/hf_gelutanh_nobias_grey');

describe('run service', () => {
  let current: ReturnType<typeof tempStudio> | undefined;
  afterEach(async () => {
    await current?.studio.close();
    current = undefined;
  });

  async function setup() {
    current = tempStudio();
    const { studio } = current;
    const folder = mkdtempSync(join(tmpdir(), 'studio-run-data-'));
    await writeDigitFolder(folder, { '0': 10, '1': 10 });
    const datasetId = studio.datasets.create('zeros and ones').id;
    await studio.imports.start(datasetId, { kind: 'folder', path: folder });
    await studio.imports.idle();
    const model = await importModel(studio.store, TINY_MODEL);
    const until = (predicate: (run: RunSummary) => boolean) =>
      new Promise<RunSummary>((resolve) => {
        const stop = studio.events.subscribe((event, payload) => {
          if (event === 'run.progress' && predicate(payload as RunSummary)) {
            stop();
            resolve(payload as RunSummary);
          }
        });
      });
    return { studio, datasetId, modelId: model.id, until };
  }

  const spec = { methodOptions: {}, batchSize: 4, lr: 1e-2, seed: 3, valFraction: 0.2, evalEvery: 4, checkpointEvery: 4 };

  it('trains in a child process and stores every metric point, checkpoints and the summary', async () => {
    const { studio, datasetId, modelId } = await setup();
    const created = await studio.runs.create({ datasetId, modelId, method: 'lora', steps: 8, ...spec });
    expect(created.status).toBe('queued');
    await studio.runs.idle();
    const run = studio.runs.get(created.id);
    expect(run).toMatchObject({ status: 'done', step: 8, totalSteps: 8, backend: expect.any(String) });
    // Imported without splits: validation is the seeded stratified draw, and the run says so.
    expect(run.info).toMatchObject({ valSource: 'drawn', valSize: 4 });
    expect(run.trainableParams).toBeGreaterThan(0);
    expect(run.trainableParams).toBeLessThan(run.totalParams!);
    expect(studio.runs.metrics(created.id, 'loss', -1).map((p) => p.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(studio.runs.metrics(created.id, 'val_accuracy', -1).map((p) => p.step)).toEqual([4, 8]);
    expect(studio.store.runs.latestCheckpoint(created.id)?.step).toBe(8);
  });

  it('pause checkpoints and keeps the run resumable; resume continues from the checkpoint to the end without duplicate points', async () => {
    const { studio, datasetId, modelId, until } = await setup();
    const created = await studio.runs.create({ datasetId, modelId, method: 'lora', steps: 24, ...spec });
    await until((r) => r.id === created.id && r.step >= 5);
    studio.runs.stop(created.id, 'paused');
    await studio.runs.idle();
    const paused = studio.runs.get(created.id);
    expect(paused.status).toBe('paused');
    expect(paused.step).toBeLessThan(24);

    studio.runs.resume(created.id);
    await studio.runs.idle();
    const finished = studio.runs.get(created.id);
    expect(finished.status).toBe('done');
    const steps = studio.runs.metrics(created.id, 'loss', -1).map((p) => p.step);
    expect(steps).toEqual(Array.from({ length: 24 }, (_, i) => i + 1));
  });

  it('a killed training process leaves the run failed (never running); resuming logs the same losses as an uninterrupted run', async () => {
    const { studio, datasetId, modelId, until } = await setup();
    const created = await studio.runs.create({ datasetId, modelId, method: 'lora', steps: 20, ...spec });
    await until((r) => r.id === created.id && r.step >= 6);
    const pid = (studio.runs.get(created.id).info as { pid?: number }).pid;
    expect(pid).toBeGreaterThan(0);
    process.kill(pid!, 'SIGKILL');
    await studio.runs.idle();
    expect(studio.runs.get(created.id)).toMatchObject({ status: 'failed', error: expect.stringMatching(/SIGKILL/) });

    // Resuming replays from the last checkpoint: steps after it are logged again, not twice.
    studio.runs.resume(created.id);
    await studio.runs.idle();
    expect(studio.runs.get(created.id).status).toBe('done');
    const resumed = studio.runs.metrics(created.id, 'loss', -1);
    expect(resumed.map((p) => p.step)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));

    // The same run, never interrupted: every logged loss is the same number.
    const clean = await studio.runs.create({ datasetId, modelId, method: 'lora', steps: 20, ...spec });
    await studio.runs.idle();
    expect(resumed.map((p) => p.value)).toEqual(studio.runs.metrics(clean.id, 'loss', -1).map((p) => p.value));
  });

  it("trains on the dataset's own train/val split: val images validate, test images stay out", async () => {
    const { studio, datasetId, modelId } = await setup();
    const ids = studio.store.images.page(datasetId, {}, 0, 100).items.map((image) => image.id);
    studio.labeling.setSplit(datasetId, ids.slice(0, 4), 'val');
    studio.labeling.setSplit(datasetId, ids.slice(4, 7), 'test');
    studio.labeling.setSplit(datasetId, ids.slice(7), 'train');
    const created = await studio.runs.create({ datasetId, modelId, method: 'linear-probe', steps: 2, ...spec });
    await studio.runs.idle();
    const run = studio.runs.get(created.id);
    expect(run.status).toBe('done');
    expect(run.info).toMatchObject({ valSource: 'dataset', valSize: 4, trainSize: 13 });
    const manifest = JSON.parse(readFileSync((run.config as { manifest: string }).manifest, 'utf8')) as { items: { split: string | null }[] };
    expect(manifest.items.map((item) => item.split).sort()).toEqual([...Array(13).fill('train'), ...Array(4).fill('val')]);
  });

  it('checkpoint now and extend while training; the log tail tells what happened', async () => {
    const { studio, datasetId, modelId, until } = await setup();
    const created = await studio.runs.create({ datasetId, modelId, method: 'lora', steps: 30, ...spec, checkpointEvery: 100 });
    await until((r) => r.id === created.id && r.step >= 3);
    studio.runs.checkpoint(created.id);
    const checkpointed = new Promise<void>((resolve) => {
      const stop = studio.events.subscribe((event, payload) => {
        if (event === 'run.log' && (payload as { lines: { text: string }[] }).lines.some((l) => l.text.startsWith('checkpoint saved'))) {
          stop();
          resolve();
        }
      });
    });
    await checkpointed;
    const saved = studio.runs.get(created.id).checkpoints;
    expect(saved).toHaveLength(1);
    expect(saved[0]!.step).toBeGreaterThan(3);
    expect(saved[0]!.step).toBeLessThan(30);
    expect(studio.runs.extend(created.id, 6).totalSteps).toBe(30);
    await studio.runs.idle();
    const run = studio.runs.get(created.id);
    expect(run).toMatchObject({ status: 'done', step: 36, totalSteps: 36 });
    expect((run.config as { spec: { steps: number; warmupSteps: number } }).spec).toMatchObject({ steps: 36, warmupSteps: 3 });
    expect(run.checkpoints[0]!.step).toBe(36);
    const texts = (await studio.runs.log(created.id, 500)).map((l) => l.text);
    expect(texts[0]).toBe('starting (30 steps)');
    for (const expected of [/^worker started \(pid \d+\)$/, /^backend /, /^training lora on 16 images, validating on 4/, /^checkpoint requested$/, /^budget raise to 36 steps requested$/, /^budget raised to 36 steps at step \d+/, /^finished at step 36/]) {
      expect(texts.some((t) => expected.test(t)), String(expected)).toBe(true);
    }
    expect((await studio.runs.log(created.id, 2)).map((l) => l.text)).toEqual(texts.slice(-2));
  });

  it('extending a finished run resumes it to the new total; its export holds the PEFT adapter, metrics and config', async () => {
    const { studio, datasetId, modelId } = await setup();
    const created = await studio.runs.create({ datasetId, modelId, method: 'lora', steps: 8, ...spec });
    await studio.runs.idle();
    expect(() => studio.runs.resume(created.id)).toThrow(/finished/);
    studio.runs.extend(created.id, 4);
    await studio.runs.idle();
    expect(studio.runs.get(created.id)).toMatchObject({ status: 'done', step: 12, totalSteps: 12 });
    expect(studio.runs.metrics(created.id, 'loss', -1).map((p) => p.step)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));

    const files = await studio.runExport.files(created.id);
    expect(files.map((f) => `${f.item}/${f.name}`)).toEqual(
      expect.arrayContaining(['adapter/adapter_model.safetensors', 'adapter/adapter_config.json', 'model/model.safetensors', 'metrics/metrics.csv', 'config/run_config.json']),
    );
    const exported = await studio.runExport.exportTo(created.id, ['adapter', 'metrics', 'config'], 'data');
    expect(exported.folder).toBe(join(current!.dataDir, 'exports', `run-${created.id}`));
    expect(exported.files.sort()).toEqual(['adapter/adapter_config.json', 'adapter/adapter_model.safetensors', 'metrics.csv', 'run_config.json']);
    const adapterConfig = JSON.parse(readFileSync(join(exported.folder!, 'adapter/adapter_config.json'), 'utf8')) as { peft_type: string };
    expect(adapterConfig.peft_type).toBe('LORA');
    const csv = readFileSync(join(exported.folder!, 'metrics.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe('name,context,step,value,time');
    expect(csv.filter((row) => row.startsWith('loss,'))).toHaveLength(12);
    const config = JSON.parse(readFileSync(join(exported.folder!, 'run_config.json'), 'utf8')) as { spec: { steps: number }; checkpoints: number[] };
    expect(config.spec.steps).toBe(12);
    expect(config.checkpoints[0]).toBe(12);

    // Downloads name only what the run folder lists; anything else is not there.
    expect((await studio.runExport.read(created.id, 'adapter', 'adapter_config.json'))?.toString()).toContain('LORA');
    for (const name of ['../data.json', '..', 'data.json', 'adapter/adapter_config.json']) {
      expect(await studio.runExport.read(created.id, 'adapter', name)).toBeUndefined();
    }
    expect(await studio.runExport.read(created.id, 'metrics', 'run_config.json')).toBeUndefined();
    // No folder dialog and no OS shell in this (remote) studio.
    await expect(studio.runExport.exportTo(created.id, ['adapter'], 'choose')).rejects.toThrow(/no folder dialog/);
    await expect(studio.runExport.openFolder(created.id)).rejects.toThrow(/desktop app/);
  });

  it('a stopped run has no adapter to export yet, and says so', async () => {
    const { studio, datasetId, modelId, until } = await setup();
    const created = await studio.runs.create({ datasetId, modelId, method: 'lora', steps: 200, ...spec });
    await until((r) => r.id === created.id && r.step >= 2);
    studio.runs.stop(created.id);
    await studio.runs.idle();
    await expect(studio.runExport.exportTo(created.id, ['adapter', 'metrics'], 'data')).rejects.toThrow(/adapter is written when the run finishes/);
  });

  it('estimate: a dry run in a worker gives parameter counts, step time, memory and a verdict', async () => {
    const { studio, datasetId, modelId } = await setup();
    const estimate = await studio.runs.estimate({ datasetId, modelId, method: 'lora', steps: 100, ...spec });
    expect(estimate).toMatchObject({ trainSize: 16, valSize: 4, stepsMeasured: 4, fits: 'yes' });
    expect(estimate.trainableParams).toBeLessThan(estimate.totalParams);
    expect(estimate.msPerStep).toBeGreaterThan(0);
    expect(estimate.projectedPeakBytes).toBeGreaterThanOrEqual(estimate.peakBytes);
    expect(estimate.etaS).toBeGreaterThan(estimate.setupS);
    // The scratch folder is gone and no run was made.
    expect(studio.runs.list()).toHaveLength(0);
    expect(readdirSync(join(current!.dataDir, 'tmp'))).toEqual([]);
  });

  it('refuses a dataset with fewer than two labelled classes', async () => {
    const { studio, modelId } = await setup();
    const empty = studio.datasets.create('empty').id;
    await expect(studio.runs.create({ datasetId: empty, modelId, method: 'lora', steps: 2, ...spec })).rejects.toThrow(/two classes/);
    await expect(studio.runs.create({ datasetId: empty, modelId, method: 'nope', steps: 2, ...spec })).rejects.toThrow(/unknown method/);
  });
});
