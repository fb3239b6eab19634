// The diffusion run of the studio's worker on the tiny DiT fixture: events, fixed-seed preview
// grids, checkpoints, stop and resume.
import * as tf from '@tensorflow/tfjs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend';
import type { ImageDataset } from '../data/dataset';
import { Rng } from '../train/rng';
import { parseTrainSpec } from '../train/spec';
import { loadDitFolder, type LoadedDit } from './dit-folder';
import { conditioningOf, DiffusionRun, diffusionRunSettingsSchema, previewClasses, type DiffusionRunEvent } from './run';

let model: LoadedDit;
let outDir: string;

/** Six 8×8 grey images: classes "1" (a model class) and "zebra" (none). */
function memoryDataset(): ImageDataset {
  const labels = [0, 0, 0, 1, 1, 1];
  return {
    classes: ['1', 'zebra'],
    classOrder: 'sorted',
    length: labels.length,
    label: (i) => labels[i]!,
    id: (i) => `memory#${i}`,
    load: async (i) => Float32Array.from(Rng.fromSeed(i + 10).fill(64, (r) => Math.tanh(r.normal()))),
  };
}

beforeAll(async () => {
  await initBackend();
  model = await loadDitFolder(path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'dit', 'dit_tiny_grey'));
  outDir = await mkdtemp(path.join(tmpdir(), 'diffusion-run-'));
});
afterAll(async () => {
  tf.dispose(Object.values(model.params));
  await rm(outDir, { recursive: true, force: true });
});

const settings = diffusionRunSettingsSchema.parse({ previewEvery: 2, previewCount: 4, previewSteps: 2 });

describe('diffusion run', () => {
  it('maps data classes to model classes by name, the rest to the null class', () => {
    const { ids, classes } = conditioningOf(['1', 'Zebra'], ['0', '1', '2', '3']);
    expect(ids).toEqual([1, 4]);
    expect(classes).toEqual([
      { dataClass: '1', modelClass: '1' },
      { dataClass: 'Zebra', modelClass: null },
    ]);
    expect(previewClasses(ids, 4, 3)).toEqual([1, 1, 1]);
    expect(previewClasses([4], 4, 2)).toEqual([4, 4]);
    // Folder names that cannot hold the model's punctuation still match.
    expect(conditioningOf(['T-shirt_top', 'Ankle_boot'], ['T-shirt/top', 'Ankle boot']).ids).toEqual([0, 1]);
  });

  it('trains, previews the same seeds at step 0 and every N steps, stops with a checkpoint and resumes to the end', async () => {
    const spec = parseTrainSpec({ method: 'lora', methodOptions: { targets: ['qkv'] }, steps: 4, batchSize: 2, lr: 1e-2, checkpointEvery: 100 });
    const first: DiffusionRunEvent[] = [];
    const tensors = tf.memory().numTensors;
    const run: DiffusionRun = new DiffusionRun({
      model,
      dataset: memoryDataset(),
      spec,
      settings,
      outDir,
      onEvent: (e) => {
        first.push(e);
        if (e.type === 'step' && e.step === 3) run.stop();
      },
    });
    await run.run();
    expect(tf.memory().numTensors).toBe(tensors);
    expect(first.filter((e) => e.type === 'step').map((e) => (e as { step: number }).step)).toEqual([1, 2, 3]);
    const grids = first.filter((e): e is Extract<DiffusionRunEvent, { type: 'previews' }> => e.type === 'previews');
    expect(grids.map((g) => g.step)).toEqual([0, 2]);
    expect(grids[0]!.files).toHaveLength(4);
    expect(grids[0]!.classes).toEqual(['1', '1', '1', '1']);
    // The tuned grid starts from the same noise but is another model's output.
    expect(await readFile(grids[1]!.files[0]!)).not.toEqual(await readFile(grids[0]!.files[0]!));
    expect(first.find((e) => e.type === 'conditioning')).toEqual({ type: 'conditioning', classes: [{ dataClass: '1', modelClass: '1' }, { dataClass: 'zebra', modelClass: null }] });
    const done = first.at(-1) as Extract<DiffusionRunEvent, { type: 'done' }>;
    expect(done.summary).toMatchObject({ stopped: true, steps: 3, adapterDir: null });

    const second: DiffusionRunEvent[] = [];
    await new DiffusionRun({ model, dataset: memoryDataset(), spec, settings, outDir, resume: outDir, onEvent: (e) => second.push(e) }).run();
    expect(tf.memory().numTensors).toBe(tensors);
    const start = second[0] as Extract<DiffusionRunEvent, { type: 'start' }>;
    expect(start.resumedFrom?.step).toBe(3);
    expect(second.filter((e) => e.type === 'step').map((e) => (e as { step: number }).step)).toEqual([4]);
    // No second base grid on resume; the last step always gets one.
    expect(second.filter((e) => e.type === 'previews').map((e) => (e as { step: number }).step)).toEqual([4]);
    const finished = (second.at(-1) as Extract<DiffusionRunEvent, { type: 'done' }>).summary;
    expect(finished).toMatchObject({ stopped: false, steps: 4, adapterDir: path.join(outDir, 'adapter') });
    expect(JSON.parse(await readFile(path.join(outDir, 'adapter', 'adapter_config.json'), 'utf8'))).toMatchObject({ peft_type: 'LORA', peft_studio: { task: 'diffusion', method: 'lora', steps: 4 } });
  });
});
