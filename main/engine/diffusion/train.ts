// A diffusion fine-tuning run over a labelled data folder: images scaled to the DiT's [-1, 1]
// pixel space, classes matched to the model's by name (IDX labels by index), seeded batches.
import * as tf from '@tensorflow/tfjs';
import type { ImageDataset } from '../data/dataset';
import { Rng } from '../train/rng';
import type { LoadedDit } from './dit-folder';
import { diffusionStep, initDiffusionTuner, type DiffusionMethod, type DiffusionTuner } from './finetune';
import { makeSchedule } from './schedule';

export interface DiffusionRunSpec {
  method: DiffusionMethod;
  methodOptions: unknown;
  steps: number;
  batchSize: number;
  lr: number;
  seed: number;
  /** Probability of training a sample as the null class (keeps guidance working). */
  classDropout: number;
}

/** Dataset label → model class index: by name, or by number for IDX data. */
export function classMapping(dataset: Pick<ImageDataset, 'classes' | 'classOrder'>, id2label: readonly string[]): number[] {
  return dataset.classes.map((name) => {
    const byName = id2label.indexOf(name);
    if (byName >= 0) return byName;
    const n = Number(name);
    if (dataset.classOrder === 'numeric' && Number.isInteger(n) && n >= 0 && n < id2label.length) return n;
    throw new Error(`data class "${name}" is not a class of the model (${id2label.join(', ')})`);
  });
}

/** Images `indices` of the data set in the DiT's pixel space: resized, scaled to [-1, 1]. */
export async function loadCleanBatch(model: Pick<LoadedDit, 'config'>, dataset: ImageDataset, indices: readonly number[]): Promise<tf.Tensor4D> {
  const { imageSize: s, inChannels: c } = model.config;
  const input = {
    imageSize: s,
    numChannels: c,
    preprocess: { resize: { height: s, width: s }, rescale: 1 / 255, normalize: { mean: Array(c).fill(0.5) as number[], std: Array(c).fill(0.5) as number[] } },
  };
  const pixels = await Promise.all(indices.map((i) => dataset.load(i, input)));
  const data = new Float32Array(indices.length * s * s * c);
  pixels.forEach((p, i) => data.set(p, i * s * s * c));
  return tf.tensor4d(data, [indices.length, s, s, c]);
}

/** Runs the fine-tune; the caller owns (and disposes) the returned tuner. */
export async function trainDiffusion(
  model: LoadedDit,
  dataset: ImageDataset,
  spec: DiffusionRunSpec,
  onStep?: (step: number, loss: number) => void,
): Promise<DiffusionTuner> {
  const mapping = classMapping(dataset, model.id2label);
  const rng = Rng.fromSeed(spec.seed);
  const schedule = makeSchedule(model.schedule);
  const tuner = initDiffusionTuner(model.params, model.config, spec.method, spec.methodOptions, rng);
  for (let step = 1; step <= spec.steps; step++) {
    const indices = Array.from({ length: spec.batchSize }, () => rng.int(dataset.length));
    const x0 = await loadCleanBatch(model, dataset, indices);
    try {
      const loss = diffusionStep(model.params, model.config, tuner, { x0, labels: indices.map((i) => mapping[dataset.label(i)]!) }, schedule, rng, {
        lr: spec.lr,
        classDropout: spec.classDropout,
      });
      onStep?.(step, loss);
    } finally {
      x0.dispose();
    }
  }
  return tuner;
}
