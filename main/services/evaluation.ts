// Scores a run's trained model on images of its dataset: the run's own validation images (the
// trainer's seeded stratified split of the run's manifest), the dataset's test split, or both.
// Runs in the main process (inference only, a few hundred images at most for a studio dataset);
// results are cached per (run, split) in memory, and every image's prediction is stored with the
// run (the labeling filters "predicted class" and "prediction disagrees with label" read them).
import { basename, join } from 'node:path';
import type { EvaluationPrediction, EvaluationSplit, RunEvaluation } from '../../preload/api';
import type { DatasetManifest } from '../engine/data/manifest';
import type { LoadedModel } from '../engine/io/checkpoint';
import type { TrainSummary } from '../engine/train/trainer';
import type { Store } from '../store';
import type { RunRow } from '../store/runs';
import { notFound, ServiceError } from './errors';
import type { MediaStore } from './media';

interface RunConfig {
  modelDir?: string;
  manifest?: string;
  spec?: { method?: string; methodOptions?: unknown; seed?: number; valFraction?: number; limitPerClass?: number };
}

const PAGE = 5_000;
const BATCH = 32;

/** Softmax probability of the arg-max logit. */
export function maxSoftmax(logits: readonly number[]): number {
  const max = Math.max(...logits);
  let sum = 0;
  for (const l of logits) sum += Math.exp(l - max);
  return 1 / sum;
}

export function createEvaluationService(store: Store, media: MediaStore, dataDir: string) {
  const cache = new Map<string, Promise<RunEvaluation>>();

  const requireRun = (id: number): RunRow => {
    const run = store.runs.get(id);
    if (!run) throw notFound(`Run ${id}`);
    return run;
  };

  /** The run's trained model: the merged folder it wrote, else its latest checkpoint merged into the base. */
  async function loadRunModel(run: RunRow): Promise<{ model: LoadedModel; dispose: () => void }> {
    const { loadModelFolder, disposeModel } = await import('../engine/io/checkpoint');
    const summary = run.info.summary as TrainSummary | undefined;
    if (summary?.modelDir) {
      const model = await loadModelFolder(summary.modelDir);
      return { model, dispose: () => disposeModel(model) };
    }
    const config = run.config as RunConfig;
    if (run.status === 'queued' || run.status === 'running') {
      throw new ServiceError('conflict', `This run has no evaluable model yet: it is still training; evaluate it when it has finished.`);
    }
    const { getMethod } = await import('../engine/methods/registry');
    const method = config.spec?.method ? getMethod(config.spec.method) : undefined;
    if (!method?.merge) {
      throw new ServiceError('conflict', `This run has no evaluable model yet: the ${run.method} method does not merge into the model's weights.`);
    }
    const { loadLatestCheckpoint } = await import('../engine/train/checkpoint');
    const ck = await loadLatestCheckpoint(join(dataDir, 'runs', String(run.id))).catch(() => undefined);
    if (!ck || !config.modelDir) {
      throw new ServiceError('conflict', `This run has no evaluable model yet: it ended before its first checkpoint; resume it or train a new run.`);
    }
    const tf = await import('@tensorflow/tfjs');
    const { mergedParams, parseOptions, targetConfig } = await import('../engine/methods/framework');
    const base = await loadModelFolder(config.modelDir);
    const owned = [...Object.values(ck.state.trainable), ...Object.values(ck.state.optimizer.slots).flatMap((s) => Object.values(s))];
    try {
      const target = targetConfig(base.config, ck.classes.length);
      const merged = mergedParams(method, base.params, ck.state.trainable, target, parseOptions(method, ck.spec.methodOptions));
      const model: LoadedModel = { ...base, config: target, params: merged.params, id2label: ck.classes };
      return {
        model,
        dispose: () => {
          tf.dispose(merged.owned);
          tf.dispose(owned);
          disposeModel(base);
        },
      };
    } catch (error) {
      tf.dispose(owned);
      disposeModel(base);
      throw error;
    }
  }

  /** The run's validation images, chosen exactly as the trainer chose them. */
  async function valManifest(run: RunRow): Promise<DatasetManifest> {
    const config = run.config as RunConfig;
    if (!config.manifest) throw new ServiceError('conflict', 'This run has no data manifest: it never started training.');
    const { readManifest } = await import('../engine/data/manifest');
    const { trainValSplit } = await import('../engine/train/split');
    const manifest = await readManifest(config.manifest);
    const spec = config.spec ?? {};
    const { val } = trainValSplit(
      manifest.items.map((item) => item.label),
      manifest.items.map((item) => item.split),
      { valFraction: spec.valFraction ?? 0.1, seed: spec.seed ?? 0, limitPerClass: spec.limitPerClass },
    );
    return { classes: manifest.classes, items: val.map((i) => manifest.items[i]!) };
  }

  /** The dataset's test images whose class the run was trained on (runs never train on the test split). */
  function testManifest(run: RunRow, classes: string[]): DatasetManifest {
    if (run.datasetId === null) throw new ServiceError('conflict', "This run's dataset was deleted: only its validation images can be evaluated.");
    const index = new Map(classes.map((name, i) => [name, i]));
    const labelOf = new Map(store.datasets.classes(run.datasetId).map((c) => [c.id, index.get(c.name)]));
    const manifest: DatasetManifest = { classes, items: [] };
    for (let offset = 0; ; offset += PAGE) {
      const { items } = store.images.page(run.datasetId, { split: 'test' }, offset, PAGE);
      for (const image of items) {
        const label = image.classId === null ? undefined : labelOf.get(image.classId);
        if (label !== undefined) manifest.items.push({ file: media.pathOf('image', image.hash), label, split: 'test' });
      }
      if (items.length < PAGE) break;
    }
    return manifest;
  }

  /** The run's dataset images by content hash (what a manifest item's file is named by). */
  function imagesByHash(run: RunRow): Map<string, { id: number; fileName: string }> {
    const images = new Map<string, { id: number; fileName: string }>();
    if (run.datasetId === null) return images;
    for (let after: number | undefined; ; ) {
      const { items } = store.images.page(run.datasetId, {}, 0, PAGE, after);
      for (const image of items) images.set(image.hash, { id: image.id, fileName: image.fileName });
      if (items.length < PAGE) break;
      after = items.at(-1)!.id;
    }
    return images;
  }

  async function compute(run: RunRow, split: EvaluationSplit): Promise<RunEvaluation> {
    const { initBackend } = await import('../engine/backend');
    await initBackend();
    const { evaluate } = await import('../engine/eval');
    const { manifestDataset } = await import('../engine/data/manifest');
    const { model, dispose } = await loadRunModel(run);
    try {
      const classes = model.id2label;
      const items: DatasetManifest['items'] = [];
      if (split !== 'test') items.push(...(await valManifest(run)).items);
      if (split !== 'val') items.push(...testManifest(run, classes).items);
      if (items.length === 0) {
        throw new ServiceError(
          'conflict',
          split === 'val'
            ? 'This run held out no validation images (validation fraction 0).'
            : 'The dataset has no labelled test images of this run\'s classes: make splits with a test share first.',
        );
      }
      const images = imagesByHash(run);
      const predictions: EvaluationPrediction[] = [];
      const result = await evaluate(model, manifestDataset({ classes, items }), {
        batchSize: BATCH,
        onPrediction: (p) => {
          const hash = basename(p.id);
          const image = images.get(hash);
          predictions.push({ imageHash: hash, imageId: image?.id ?? null, fileName: image?.fileName ?? hash, label: p.label, pred: p.pred, confidence: maxSoftmax(p.logits) });
        },
      });
      const datasetId = run.datasetId;
      if (datasetId !== null) {
        store.transaction(() =>
          store.predictions.save(run.id, datasetId, predictions.map((p) => ({ imageHash: p.imageHash, className: classes[p.pred]!, confidence: p.confidence }))),
        );
      }
      return {
        runId: run.id,
        split,
        n: result.n,
        accuracy: result.accuracy,
        classes: result.classes,
        perClass: result.perClass,
        confusion: result.confusion,
        predictions,
      };
    } finally {
      dispose();
    }
  }

  return {
    evaluate(id: number, split: EvaluationSplit): Promise<RunEvaluation> {
      const run = requireRun(id);
      // Keyed by what the run's model is, so a resumed run is scored again once it changes.
      const summary = run.info.summary as TrainSummary | undefined;
      const key = `${id}:${split}:${run.status}:${summary?.steps ?? store.runs.latestCheckpoint(id)?.step ?? ''}`;
      let pending = cache.get(key);
      if (!pending) {
        pending = compute(run, split);
        cache.set(key, pending);
        pending.catch(() => cache.delete(key));
      }
      return pending;
    },
    /** The run's trained model as evaluate() scores it (previews and soups load the same way); call dispose(). */
    loadRunModel: (id: number) => loadRunModel(requireRun(id)),
    /** The run's validation images, as the trainer chose them. */
    valManifest: (id: number) => valManifest(requireRun(id)),
  };
}

export type EvaluationService = ReturnType<typeof createEvaluationService>;
