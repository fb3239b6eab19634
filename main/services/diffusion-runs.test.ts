// Diffusion runs through the run service: a DiT base model makes a diffusion run in the worker,
// whose sample grids land in the media store as previews (base model first), with the class
// conditioning recorded in the run's info.
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DIFFUSION_RUN_METHODS, inputSchemas, type RunSummary } from '../../preload/api';
import { DIFFUSION_METHODS } from '../engine/diffusion/finetune';
import { writeDigitFolder } from '../../test/digits';
import { tempStudio } from '../../test/studio';
import { importModel } from './models';

// The tiny DiT fixture (8×8 grey, classes "0"…"3"): the digit folder's "1" is one of its classes.
const TINY_DIT = join(__dirname, '../../test/fixtures/dit/dit_tiny_grey');

/** The input as the API hands it on: validated, defaults filled in. */
const newRun = (input: unknown) => inputSchemas['runs.create'].parse(input);

describe('diffusion runs', () => {
  let current: ReturnType<typeof tempStudio> | undefined;
  let folder: string | undefined;
  afterEach(async () => {
    await current?.studio.close();
    for (const dir of [folder, current?.dataDir]) if (dir) rmSync(dir, { recursive: true, force: true });
    current = undefined;
    folder = undefined;
  });

  async function setup(classes: Record<string, number>) {
    current = tempStudio();
    const { studio } = current;
    folder = mkdtempSync(join(tmpdir(), 'studio-diffusion-data-'));
    await writeDigitFolder(folder, classes);
    const datasetId = studio.datasets.create('digits').id;
    await studio.imports.start(datasetId, { kind: 'folder', path: folder });
    await studio.imports.idle();
    const model = await importModel(studio.store, TINY_DIT);
    return { studio, datasetId, modelId: model.id };
  }

  it('trains a one-class LoRA run and stores the base grid and each preview grid as media', async () => {
    const { studio, datasetId, modelId } = await setup({ '1': 6 });
    const stored: number[] = [];
    studio.events.subscribe((event, payload) => event === 'run.previews' && stored.push((payload as { step: number }).step));
    const created = await studio.runs.create(
      newRun({
        datasetId,
        modelId,
        method: 'lora',
        methodOptions: { targets: ['qkv'] },
        steps: 4,
        batchSize: 2,
        lr: 1e-2,
        checkpointEvery: 100,
        diffusion: { previewEvery: 2, previewCount: 3, previewSteps: 2 },
      }),
    );
    await studio.runs.idle();
    const run = studio.runs.get(created.id);
    expect(run.error).toBeNull();
    expect(run).toMatchObject({ status: 'done', task: 'diffusion', step: 4, lastCheckpointStep: 4 });
    expect(run.info.conditioning).toEqual([{ dataClass: '1', modelClass: '1' }]);
    expect(studio.runs.metrics(created.id, 'loss', -1).map((p) => p.step)).toEqual([1, 2, 3, 4]);
    const previews = studio.runs.previews(created.id);
    expect(previews.map((p) => `${p.step}/${p.index}`)).toEqual(['0/0', '0/1', '0/2', '2/0', '2/1', '2/2', '4/0', '4/1', '4/2']);
    expect(previews.every((p) => p.className === '1')).toBe(true);
    expect(stored).toEqual([0, 2, 4]);
    for (const p of previews) expect(existsSync(current!.studio.media.pathOf('image', p.hash))).toBe(true);
    // Previews are kept by a media sweep (they are referenced by the run).
    await studio.datasets.sweepMedia();
    for (const p of previews) expect(existsSync(current!.studio.media.pathOf('image', p.hash))).toBe(true);
  });

  it('pauses with a checkpoint and resumes to the end: every loss step once, one base grid', async () => {
    const { studio, datasetId, modelId } = await setup({ '1': 3, '2': 3 });
    const created = await studio.runs.create(
      newRun({ datasetId, modelId, method: 'sara', steps: 30, batchSize: 2, checkpointEvery: 100, diffusion: { previewEvery: 10, previewCount: 2, previewSteps: 2 } }),
    );
    await new Promise<void>((resolve) => {
      const stop = studio.events.subscribe((event, payload) => {
        if (event === 'run.progress' && (payload as RunSummary).id === created.id && (payload as RunSummary).step >= 3) {
          stop();
          resolve();
        }
      });
    });
    studio.runs.stop(created.id, 'paused');
    await studio.runs.idle();
    const paused = studio.runs.get(created.id);
    expect(paused.status).toBe('paused');
    expect(paused.lastCheckpointStep).toBe(paused.step);
    expect(paused.step).toBeLessThan(30);

    studio.runs.resume(created.id);
    await studio.runs.idle();
    expect(studio.runs.get(created.id)).toMatchObject({ status: 'done', step: 30 });
    expect(studio.runs.metrics(created.id, 'loss', -1).map((p) => p.step)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    const steps = [...new Set(studio.runs.previews(created.id).map((p) => p.step))];
    expect(steps).toEqual([0, 10, 20, 30]);
  });

  it('offers the methods the engine can apply to a DiT', () => {
    expect(DIFFUSION_RUN_METHODS).toEqual(DIFFUSION_METHODS);
  });

  it('refuses classification methods on a DiT', async () => {
    const { studio, datasetId, modelId } = await setup({ '1': 2, '2': 2 });
    await expect(studio.runs.create(newRun({ datasetId, modelId, method: 'bitfit' }))).rejects.toThrow(/diffusion model: fine-tune it with full, lora, sara, ssf/);
    await expect(studio.runs.estimate(newRun({ datasetId, modelId, method: 'bitfit' }))).rejects.toThrow(/diffusion model: fine-tune it with full, lora, sara, ssf/);
  });

  it('estimate: a dry run of the DiffusionRun in a worker times its steps and one sample grid, and counts the grids of the whole budget', async () => {
    const { studio, datasetId, modelId } = await setup({ '1': 4, '2': 2 });
    const estimate = await studio.runs.estimate(
      newRun({ datasetId, modelId, method: 'lora', methodOptions: { targets: ['qkv'] }, steps: 100, batchSize: 2, diffusion: { previewEvery: 30, previewCount: 3, previewSteps: 2 } }),
    );
    // Every labelled image trains (no validation split); five steps, the four after the first timed.
    expect(estimate).toMatchObject({ trainSize: 6, valSize: 0, stepsMeasured: 4, fits: 'yes' });
    expect(estimate.trainableParams).toBeGreaterThan(0);
    expect(estimate.trainableParams).toBeLessThan(estimate.totalParams);
    expect(estimate.msPerStep).toBeGreaterThan(0);
    // Base grid, steps 30, 60, 90, and the last step's.
    expect(estimate.previews).toMatchObject({ grids: 5, samplesPerGrid: 3, samplingSteps: 2 });
    expect(estimate.previews!.msPerGrid).toBeGreaterThan(0);
    expect(estimate.previews!.totalS).toBeCloseTo((5 * estimate.previews!.msPerGrid) / 1000, 9);
    expect(estimate.etaS).toBeCloseTo(estimate.setupS + (100 * estimate.msPerStep) / 1000 + estimate.previews!.totalS, 9);
    expect(estimate.projectedPeakBytes).toBe(estimate.peakBytes);
    // The scratch run folder is gone and no run was recorded.
    expect(studio.runs.list()).toEqual([]);
    expect(readdirSync(join(current!.dataDir, 'tmp')).filter((name) => name.startsWith('estimate-'))).toEqual([]);
  });
});
