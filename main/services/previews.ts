// Predictions on one image at a time: the top classes and where a ViT looked (attention rollout),
// under an imported model or a run's trained model. Inference runs in the main process (one image);
// the last model used stays loaded, so trying several images in a row loads it once.
import { readFile } from 'node:fs/promises';
import type { ParsedInput, PreviewResult } from '../../preload/api';
import type { LoadedModel } from '../engine/io/checkpoint';
import type { TrainSummary } from '../engine/train/trainer';
import type { Store } from '../store';
import { notFound, ServiceError } from './errors';
import type { EvaluationService } from './evaluation';
import { intakeImage } from './image-intake';
import type { MediaStore } from './media';

type PreviewInput = ParsedInput<'previews.predict'>;

const TOP_K = 5;
/** A model nobody previewed for this long is released (a large ViT holds hundreds of MB). */
const IDLE_RELEASE_MS = 5 * 60_000;

interface Loaded {
  key: string;
  name: string;
  model: LoadedModel;
  dispose: () => void;
}

/** The k largest probabilities with their labels, largest first. */
export function topClasses(probabilities: ArrayLike<number>, labels: readonly string[], k = TOP_K): PreviewResult['top'] {
  return Array.from(probabilities, (probability, i) => ({ label: labels[i] ?? String(i), probability }))
    .sort((a, b) => b.probability - a.probability)
    .slice(0, k);
}

export function createPreviewService(store: Store, media: MediaStore, evaluation: EvaluationService) {
  let loaded: Loaded | undefined;
  // One prediction at a time: a second one may swap (and dispose) the loaded model.
  let queue: Promise<unknown> = Promise.resolve();
  let idleTimer: NodeJS.Timeout | undefined;

  async function modelFor(ref: PreviewInput['model']): Promise<Loaded> {
    let key: string;
    let name: string;
    let load: () => Promise<{ model: LoadedModel; dispose: () => void }>;
    if (ref.kind === 'model') {
      const row = store.models.list().find((m) => m.id === ref.id);
      if (!row) throw notFound(`Model ${ref.id}`);
      key = `model:${row.id}:${row.path}`;
      name = row.name;
      load = async () => {
        const { loadModelFolder, disposeModel } = await import('../engine/io/checkpoint');
        const model = await loadModelFolder(row.path).catch((error: Error) => {
          throw new ServiceError('io', `Model ${row.name} could not be loaded: ${error.message}`);
        });
        return { model, dispose: () => disposeModel(model) };
      };
    } else {
      const run = store.runs.get(ref.id);
      if (!run) throw notFound(`Run ${ref.id}`);
      // What the run's model is changes as it trains on: key by its status and progress.
      const summary = run.info.summary as TrainSummary | undefined;
      key = `run:${run.id}:${run.status}:${summary?.steps ?? store.runs.latestCheckpoint(run.id)?.step ?? ''}`;
      name = run.name;
      load = () => evaluation.loadRunModel(run.id);
    }
    if (loaded?.key === key) return loaded;
    release();
    const { model, dispose } = await load();
    loaded = { key, name, model, dispose };
    return loaded;
  }

  function release() {
    loaded?.dispose();
    loaded = undefined;
  }

  async function imageBytes(image: PreviewInput['image']): Promise<{ bytes: Buffer; label: string }> {
    if (image.kind === 'upload') return { bytes: Buffer.from(image.base64, 'base64'), label: image.name };
    if (!store.images.isHashReferenced(image.hash)) throw notFound('That image');
    return { bytes: await readFile(media.pathOf('image', image.hash)), label: 'the image' };
  }

  async function predict(input: PreviewInput): Promise<PreviewResult> {
    const { bytes, label } = await imageBytes(input.image);
    // Dropped bytes pass the same checks as an import: decodable, whole, of sane size.
    const intake = await intakeImage(bytes);
    if (!intake.ok) throw new ServiceError('validation', `${label}: ${intake.reason}`);
    const { initBackend } = await import('../engine/backend');
    await initBackend();
    const { model, name } = await modelFor(input.model);
    const tf = await import('@tensorflow/tfjs');
    const { decodeImage } = await import('../engine/data/decode');
    const { inputSpec } = await import('../engine/eval');
    const { vitExplain } = await import('../engine/explain');
    const spec = inputSpec(model);
    const pixels = await decodeImage(bytes, spec).catch((error: Error) => {
      throw new ServiceError('validation', `${label} cannot be fed to ${name}: ${error.message}`);
    });
    const [probabilities, saliency] = tf.tidy(() => {
      const images = tf.tensor4d(pixels, [1, spec.imageSize, spec.imageSize, spec.numChannels]);
      const explained = vitExplain(model.params, model.config, images);
      return [tf.softmax(explained.logits), explained.saliency];
    });
    try {
      const probs = await probabilities!.data();
      const values = Array.from(await saliency!.data());
      const max = Math.max(...values);
      return {
        modelName: name,
        top: topClasses(probs, model.id2label),
        saliency: { rows: saliency!.shape[1], cols: saliency!.shape[2], values: values.map((v) => (max > 0 ? v / max : 0)) },
        width: intake.width,
        height: intake.height,
      };
    } finally {
      tf.dispose([probabilities!, saliency!]);
    }
  }

  return {
    predict(input: PreviewInput): Promise<PreviewResult> {
      clearTimeout(idleTimer);
      const next = queue.then(() => predict(input));
      queue = next.catch(() => undefined);
      idleTimer = setTimeout(() => void queue.then(release), IDLE_RELEASE_MS).unref();
      return next;
    },
    /** Frees the loaded model (shutdown, tests). */
    async close(): Promise<void> {
      clearTimeout(idleTimer);
      await queue;
      release();
    },
  };
}

export type PreviewService = ReturnType<typeof createPreviewService>;
