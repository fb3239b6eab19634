// Scores a loaded classifier on a labelled data set: accuracy, per-class precision/recall,
// confusion matrix and throughput. Shared by the CLI and (later) the services.
import * as tf from '@tensorflow/tfjs';
import { batches, type ImageDataset } from './data/dataset';
import type { InputSpec } from './data/decode';
import type { LoadedModel } from './io/checkpoint';
import { vitForward } from './models/vit';

export interface Prediction {
  id: string;
  /** Indices into the model's classes. */
  label: number;
  pred: number;
  logits: number[];
}

export interface ClassScore {
  name: string;
  /** Null when the model never predicted this class. */
  precision: number | null;
  /** Null when the data set has no sample of this class. */
  recall: number | null;
  support: number;
}

export interface EvalResult {
  n: number;
  accuracy: number;
  classes: string[];
  perClass: ClassScore[];
  /** confusion[true][pred], over the model's classes. */
  confusion: number[][];
  seconds: number;
  /** End to end: decoding plus forward passes. */
  imagesPerSecond: number;
  /** Forward passes alone (including reading logits back). */
  forwardImagesPerSecond: number;
}

export function inputSpec(model: Pick<LoadedModel, 'config' | 'preprocess'>): InputSpec {
  return { imageSize: model.config.imageSize, numChannels: model.config.numChannels, preprocess: model.preprocess };
}

/**
 * Maps data-set labels to model class indices by name, so an ImageFolder sorted differently from
 * the model's id2label still scores correctly; a class the model does not know is an error.
 */
function labelMap(dataset: ImageDataset, modelClasses: readonly string[]): number[] {
  const map = dataset.classes.map((c) => modelClasses.indexOf(c));
  const unknown = dataset.classes.filter((_, i) => map[i]! < 0);
  if (unknown.length > 0) {
    throw new Error(
      `data classes ${unknown.slice(0, 5).join(', ')}${unknown.length > 5 ? ` (+${unknown.length - 5})` : ''} are not labels of the model ` +
        `(${modelClasses.slice(0, 5).join(', ')}${modelClasses.length > 5 ? ', …' : ''})`,
    );
  }
  return map;
}

export async function evaluate(
  model: LoadedModel,
  dataset: ImageDataset,
  options: { batchSize: number; limit?: number; onPrediction?: (p: Prediction) => void; signal?: AbortSignal },
): Promise<EvalResult> {
  const classes = model.id2label;
  const k = classes.length;
  const toModel = labelMap(dataset, classes);
  const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  let n = 0;
  let correct = 0;
  let forwardMs = 0;
  const start = performance.now();
  for await (const batch of batches(dataset, inputSpec(model), options)) {
    options.signal?.throwIfAborted();
    const t0 = performance.now();
    const logitsTensor = tf.tidy(() => vitForward(model.params, model.config, tf.tensor4d(batch.images, batch.shape)));
    const logits = (await logitsTensor.data()) as Float32Array;
    logitsTensor.dispose();
    forwardMs += performance.now() - t0;
    for (let b = 0; b < batch.labels.length; b++) {
      const row = Array.from(logits.subarray(b * k, (b + 1) * k));
      const pred = row.indexOf(Math.max(...row));
      const label = toModel[batch.labels[b]!]!;
      confusion[label]![pred]!++;
      if (pred === label) correct++;
      n++;
      options.onPrediction?.({ id: batch.ids[b]!, label, pred, logits: row });
    }
  }
  if (n === 0) throw new Error('no samples to evaluate');
  const seconds = (performance.now() - start) / 1000;
  const perClass = classes.map((name, c) => {
    const support = confusion[c]!.reduce((a, b) => a + b, 0);
    const predicted = confusion.reduce((a, row) => a + row[c]!, 0);
    const hits = confusion[c]![c]!;
    return { name, precision: predicted ? hits / predicted : null, recall: support ? hits / support : null, support };
  });
  return {
    n,
    accuracy: correct / n,
    classes,
    perClass,
    confusion,
    seconds,
    imagesPerSecond: n / seconds,
    forwardImagesPerSecond: n / (forwardMs / 1000),
  };
}
