// The training loop: a PEFT method on a loaded ViT over a labelled data set, with a seeded split,
// explicit optimizer/RNG/data state, periodic evaluation and atomic checkpoints, and export of
// the adapter and (for mergeable methods) a merged model folder at the end.
import * as tf from '@tensorflow/tfjs';
import path from 'node:path';
import type { ImageDataset } from '../data/dataset';
import type { InputSpec } from '../data/decode';
import { inputSpec } from '../eval';
import type { LoadedModel } from '../io/checkpoint';
import { forwardParams, initTrainable, mergedParams, parseOptions, targetConfig, trainableParamCount, trainableShapes } from '../methods/framework';
import { getMethod } from '../methods/registry';
import type { HookContext, NamedTensors, PeftMethod } from '../methods/types';
import { gridSize, vitForward, vitForwardFrom, vitHead, vitNeck, vitParamShapes, vitPooled, vitTokensAt, type VitConfig } from '../models/vit';
import { augment, defaultAugment, isIdentity, NO_AUGMENT, type AugmentConfig } from './augment';
import { loadLatestCheckpoint, saveCheckpoint, type DataPosition } from './checkpoint';
import { writeAdapter, writeModelFolder } from './export';
import { crossEntropy } from './loss';
import { clipFactor, disposeOptimizerState, initOptimizerState, optimizerStep, type OptimizerConfig, type OptimizerState } from './optim';
import { Rng } from './rng';
import { learningRate, type ScheduleConfig } from './schedule';
import type { TrainSpec } from './spec';
import { trainValSplit } from './split';

export interface TrainSummary {
  method: string;
  trainableParams: number;
  totalParams: number;
  /** Null when no validation split was held out. */
  valAccuracy: number | null;
  valLoss: number | null;
  /** Updates done (may be fewer than spec.steps when stopped). */
  steps: number;
  wallS: number;
  stopped: boolean;
  trainSize: number;
  valSize: number;
  /** Whether validation used the dataset's own val images or a seeded stratified draw. */
  valSource: 'dataset' | 'drawn';
  featureCache: boolean;
  /** Set when the run finished: the adapter folder, and the merged model folder if the method merges. */
  adapterDir: string | null;
  modelDir: string | null;
  lastCheckpoint: string | null;
}

export type TrainEvent =
  | {
      type: 'start';
      method: string;
      trainableParams: number;
      totalParams: number;
      trainSize: number;
      valSize: number;
      valSource: 'dataset' | 'drawn';
      classes: string[];
      featureCache: boolean;
      /** Which frozen activations are cached, or why a frozen prefix that could be is not (budget). */
      cacheNote?: string;
      resumedFrom: { step: number; dir: string; skipped: string[] } | null;
    }
  | { type: 'step'; step: number; loss: number; lr: number; examplesPerS: number }
  | { type: 'eval'; step: number; valLoss: number; valAccuracy: number }
  | { type: 'checkpoint'; step: number; path: string; sha256: string }
  /** The step budget was raised at `step` (a checkpoint with the new budget was written first). */
  | { type: 'extended'; step: number; steps: number }
  | { type: 'done'; summary: TrainSummary };

export interface TrainerOptions {
  model: LoadedModel;
  dataset: ImageDataset;
  spec: TrainSpec;
  /** Run folder: checkpoints/, adapter/, model/. */
  outDir: string;
  /** A run folder or checkpoint folder to continue from. */
  resume?: string;
  onEvent?: (event: TrainEvent) => void;
  /** Budget of the frozen-prefix token cache (default PREFIX_CACHE_BYTES). */
  prefixCacheBytes?: number;
}

/** Decoded samples are kept in memory while they fit this budget (most PEFT data sets do). */
export const SAMPLE_CACHE_BYTES = 512 * 1024 * 1024;
/**
 * Tokens entering a method's first touched block (PeftMethod.frozenPrefix) are cached for all
 * training and validation images only while they fit this budget: unlike pooled features they
 * are [1 + patches, D] per image (ViT-B/16 at 224 px: 0.6 MB).
 */
export const PREFIX_CACHE_BYTES = 1024 ** 3;
/** Batch size of feature extraction and evaluation passes (no gradients: memory is small). */
const INFERENCE_BATCH = 64;

class Samples {
  private readonly cache = new Map<number, Float32Array>();
  private readonly perSample: number;

  constructor(
    private readonly dataset: ImageDataset,
    readonly spec: InputSpec,
  ) {
    this.perSample = spec.imageSize * spec.imageSize * spec.numChannels;
  }

  label(i: number): number {
    return this.dataset.label(i);
  }

  async get(i: number): Promise<Float32Array> {
    const hit = this.cache.get(i);
    if (hit) return hit;
    const x = await this.dataset.load(i, this.spec);
    if ((this.cache.size + 1) * this.perSample * 4 <= SAMPLE_CACHE_BYTES) this.cache.set(i, x);
    return x;
  }

  async batch(indices: readonly number[], transform?: (x: Float32Array) => Float32Array): Promise<{ images: Float32Array; shape: [number, number, number, number] }> {
    const decoded = await Promise.all(indices.map((i) => this.get(i)));
    const images = new Float32Array(indices.length * this.perSample);
    // Transforms run in index order after decoding, so RNG draws do not depend on I/O timing.
    decoded.forEach((d, k) => images.set(transform ? transform(d) : d, k * this.perSample));
    const { imageSize: s, numChannels: c } = this.spec;
    return { images, shape: [indices.length, s, s, c] };
  }
}

/**
 * Activations of a frozen, deterministic backbone computed once per image: the pooled features
 * (featureCacheable methods), the method's taps (tapCache) or the tokens entering the first block
 * the method touches (frozenPrefix), first axis = sample.
 */
interface FeatureCache {
  tensors: tf.Tensor[];
  row: Map<number, number>;
}

/** How a cached method turns frozen activations into logits, and how they are computed. */
interface CachedForward {
  extract(images: tf.Tensor4D): tf.Tensor[];
  /** `ctx` reaches the hooks of methods that still run blocks (dropout draws on training steps). */
  logits(trainable: NamedTensors, rows: tf.Tensor[], ctx: HookContext): tf.Tensor2D;
  /** Set when the cache is held to the prefix budget: bytes of one image's activations. */
  bytesPerImage?: number;
  /** What is cached, for the start event. */
  what: string;
}

function cachedForward(method: PeftMethod<object>, options: object, base: NamedTensors, trainable: NamedTensors, config: VitConfig): CachedForward | undefined {
  if (method.featureCacheable) {
    return {
      what: 'pooled backbone features',
      extract: (images) => [vitPooled(base, config, images)],
      logits: (t, rows) => {
        const params = forwardParams(base, t);
        return vitHead(params, vitNeck(params, config, rows[0] as tf.Tensor2D));
      },
    };
  }
  const taps = method.tapCache;
  if (taps) {
    return {
      what: 'backbone taps',
      extract: (images) => taps.taps(base, config, options, images),
      logits: (t, rows) => taps.logits(base, t, config, options, rows as tf.Tensor3D[]),
    };
  }
  const block = method.frozenPrefix?.(config, options);
  // Crops change the tokens every step, and a position-table hook changes the embedding itself.
  const probe = block === undefined || method.sampleCrop ? undefined : method.hooks(trainable, config, options, { training: false, rng: Rng.fromSeed(0) });
  if (block !== undefined && probe && !probe.posEmbed) {
    return {
      bytesPerImage: (1 + gridSize(config) ** 2) * config.hiddenSize * 4,
      what: `tokens entering block ${block}`,
      extract: (images) => [vitTokensAt(base, config, images, block)],
      logits: (t, rows, ctx) => vitForwardFrom(forwardParams(base, t), config, rows[0] as tf.Tensor3D, block, method.hooks(t, config, options, ctx)),
    };
  }
  return undefined;
}

const bytesText = (bytes: number) => (bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)} GiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`);

function gatherRows(cache: FeatureCache, indices: readonly number[]): tf.Tensor[] {
  const rows = tf.tensor1d(
    indices.map((i) => cache.row.get(i)!),
    'int32',
  );
  return cache.tensors.map((t) => tf.gather(t, rows));
}

/**
 * The spec with a new step budget. Warmup is pinned to what the old budget gave, so an extension
 * only changes the cosine's end: from the current step on, the rate follows the cosine over the
 * new total (as if the run had been planned that long), and steps already taken keep theirs.
 */
export function extendedSpec(spec: TrainSpec, steps: number): TrainSpec {
  return { ...spec, steps, warmupSteps: warmupOf(spec) };
}

const warmupOf = (spec: TrainSpec) => spec.warmupSteps ?? Math.round(spec.steps * 0.1);

/**
 * What the worker may ask of a training loop while it runs, taken at the next step boundary:
 * stop, checkpoint now, raise the budget. The classifier Trainer and the DiffusionRun share them.
 */
export class RunControls {
  protected stopRequested = false;
  protected checkpointRequested = false;
  protected extendTo = 0;

  /** Asks the loop to checkpoint and return after the current step. */
  stop(): void {
    this.stopRequested = true;
  }

  /** Asks for a checkpoint at the next step boundary ("save checkpoint now"); the run goes on. */
  requestCheckpoint(): void {
    this.checkpointRequested = true;
  }

  /** Raises the step budget to `steps` at the next step boundary (see extendedSpec). */
  extend(steps: number): void {
    this.extendTo = Math.max(this.extendTo, steps);
  }
}

export class Trainer extends RunControls {
  constructor(private readonly opts: TrainerOptions) {
    super();
  }

  async run(): Promise<TrainSummary> {
    const { model, dataset, outDir } = this.opts;
    // Mutable: an extension raises the budget mid-run, and checkpoints record the spec they ran.
    let spec = this.opts.spec;
    const emit = (e: TrainEvent) => this.opts.onEvent?.(e);
    const started = performance.now();
    const method = getMethod(spec.method);
    const options = parseOptions(method, spec.methodOptions);
    const classes = dataset.classes;
    const config = targetConfig(model.config, classes.length);
    const base = model.params;
    const input = inputSpec(model);
    // A feature-cacheable method defaults to no augmentation: the cache is its whole speed-up.
    const aug: AugmentConfig = spec.augment ?? (method.featureCacheable ? NO_AUGMENT : defaultAugment(config.numChannels));
    // Int32 buffers (SaRA's indices) ride along in the trainable set but are never differentiated
    // nor optimised.
    const buffers = method.buffers?.(config, options) ?? new Map<string, number[]>();
    const optimised = (t: NamedTensors): NamedTensors => Object.fromEntries(Object.entries(t).filter(([k]) => !buffers.has(k)));

    const all = Array.from({ length: dataset.length }, (_, i) => i);
    const splits = dataset.split ? all.map((i) => dataset.split!(i)) : undefined;
    const { train, val, valSource } = trainValSplit(all.map((i) => dataset.label(i)), splits, spec);
    if (train.length === 0) throw new Error('no training samples left after the validation split');

    let rng: Rng;
    let trainable: NamedTensors;
    let opt: OptimizerState;
    let data: DataPosition;
    let step: number;
    let resumedFrom: { step: number; dir: string; skipped: string[] } | null = null;
    const optConfig: OptimizerConfig = {
      kind: spec.optimizer,
      weightDecay: spec.weightDecay,
      beta1: spec.beta1,
      beta2: spec.beta2,
      eps: spec.eps,
      momentum: spec.momentum,
    };
    if (this.opts.resume) {
      const ck = await loadLatestCheckpoint(this.opts.resume);
      const problem =
        specMismatch(ck.spec, spec) ??
        (ck.classes.join('\n') !== classes.join('\n') ? 'the data set classes differ' : undefined) ??
        shapeMismatch(ck.state.trainable, new Map([...trainableShapes(method, config, options), ...buffers]));
      if (problem) {
        tf.dispose([...Object.values(ck.state.trainable), ...Object.values(ck.state.optimizer.slots).flatMap((s) => Object.values(s))]);
        throw new Error(`cannot resume from ${ck.dir}: ${problem}`);
      }
      ({ trainable, optimizer: opt, data, step } = ck.state);
      rng = Rng.fromState(ck.state.rng);
      resumedFrom = { step, dir: ck.dir, skipped: ck.skipped };
    } else {
      rng = Rng.fromSeed(spec.seed);
      trainable = initTrainable(method, base, config, options, rng);
      opt = initOptimizerState(optConfig, optimised(trainable));
      data = { epoch: 0, order: rng.shuffle([...train]), cursor: 0 };
      step = 0;
    }

    const candidate = spec.cacheFeatures && isIdentity(aug) ? cachedForward(method, options, base, trainable, config) : undefined;
    const cacheBytes = (candidate?.bytesPerImage ?? 0) * (train.length + val.length);
    const cacheBudget = this.opts.prefixCacheBytes ?? PREFIX_CACHE_BYTES;
    const cached = candidate && cacheBytes <= cacheBudget ? candidate : undefined;
    const useCache = cached !== undefined;
    const cacheNote = !candidate
      ? undefined
      : cached
        ? `${candidate.what} cached once per image${cacheBytes > 0 ? ` (${bytesText(cacheBytes)})` : ''}`
        : `${candidate.what} not cached: ${bytesText(cacheBytes)} for ${train.length + val.length} images is over the ${bytesText(cacheBudget)} budget`;

    const trainableParams = trainableParamCount(method, config, options);
    const canonical = vitParamShapes(config);
    const totalParams =
      [...canonical.values()].reduce((n, s) => n + s.reduce((a, b) => a * b, 1), 0) +
      Object.entries(optimised(trainable))
        .filter(([k]) => !canonical.has(k))
        .reduce((n, [, t]) => n + t.size, 0);
    const samples = new Samples(dataset, input);
    let trainCache: FeatureCache | undefined;
    let valCache: FeatureCache | undefined;
    const schedule: ScheduleConfig = {
      lr: spec.lr,
      minLr: spec.minLr,
      warmupSteps: warmupOf(spec),
      totalSteps: spec.steps,
    };
    const checkpointRoot = path.join(outDir, 'checkpoints');
    let lastCheckpoint: string | null = resumedFrom?.dir ?? null;
    let lastCheckpointStep = resumedFrom?.step ?? -1;
    let lastCheckpointSha = '';
    // Held in an object: closures assign it, and TypeScript does not track closure assignments.
    const latest: { val: { loss: number; accuracy: number } | null; evalStep: number } = { val: null, evalStep: -1 };

    try {
      if (cached) {
        trainCache = await extractFeatures(samples, cached, train);
        if (val.length > 0) valCache = await extractFeatures(samples, cached, val);
      }
      emit({ type: 'start', method: method.name, trainableParams, totalParams, trainSize: train.length, valSize: val.length, valSource, classes, featureCache: useCache, cacheNote, resumedFrom });

      /** `requested`: the user asked (report it even if this step is saved); `rewrite`: the spec changed. */
      const checkpoint = async (why: 'periodic' | 'requested' | 'rewrite' = 'periodic') => {
        // A resumed run knows its checkpoint's folder but not its hash: asked for, it writes anew.
        if (lastCheckpointStep === step && why !== 'rewrite' && !(why === 'requested' && !lastCheckpointSha)) {
          if (why === 'requested' && lastCheckpoint) emit({ type: 'checkpoint', step, path: lastCheckpoint, sha256: lastCheckpointSha });
          return;
        }
        const saved = await saveCheckpoint(
          checkpointRoot,
          { step, trainable, optimizer: opt, rng: rng.state(), data },
          { spec, classes, numLabels: config.numLabels },
        );
        lastCheckpoint = saved.dir;
        lastCheckpointStep = step;
        lastCheckpointSha = saved.sha256;
        emit({ type: 'checkpoint', step, path: saved.dir, sha256: saved.sha256 });
      };
      const evaluate = async () => {
        if (val.length === 0 || latest.evalStep === step) return;
        const result = await evaluateSplit(samples, method, options, base, trainable, config, val, valCache && cached ? { cache: valCache, forward: cached } : undefined, rng);
        latest.val = result;
        latest.evalStep = step;
        emit({ type: 'eval', step, valLoss: result.loss, valAccuracy: result.accuracy });
      };

      // Commands from the worker land between steps, so every checkpoint is of a whole step.
      const applyCommands = async () => {
        if (this.extendTo > spec.steps) {
          spec = extendedSpec(spec, this.extendTo);
          schedule.totalSteps = spec.steps;
          // Saved at once with the new budget: a resume from here replays exactly this schedule.
          await checkpoint('rewrite');
          emit({ type: 'extended', step, steps: spec.steps });
        }
        if (this.checkpointRequested) {
          this.checkpointRequested = false;
          await checkpoint('requested');
        }
      };

      for (;;) {
        await applyCommands();
        if (step >= spec.steps || this.stopRequested) break;
        const t0 = performance.now();
        const indices: number[] = [];
        while (indices.length < spec.batchSize) {
          if (data.cursor >= data.order.length) data = { epoch: data.epoch + 1, order: rng.shuffle([...train]), cursor: 0 };
          indices.push(data.order[data.cursor++]!);
        }
        const labels = Int32Array.from(indices, (i) => dataset.label(i));
        const batch = trainCache
          ? undefined
          : await samples.batch(indices, isIdentity(aug) ? undefined : (x) => augment(x, config.imageSize, config.numChannels, aug, input.preprocess, rng));
        const lr = learningRate(step, schedule);
        const params = optimised(trainable);
        const names = Object.keys(params);
        const result = tf.tidy(() => {
          const y = tf.tensor1d(labels, 'int32');
          let xs = batch ? tf.tensor4d(batch.images, batch.shape) : undefined;
          // Patch-based methods train on one random crop window of the batch per step.
          const sampled = xs && method.sampleCrop ? method.sampleCrop(xs, config, options, rng) : undefined;
          if (sampled) xs = sampled.images;
          const rows = trainCache ? gatherRows(trainCache, indices) : undefined;
          const lossOf = (...ts: tf.Tensor[]) => {
            const t = { ...trainable, ...Object.fromEntries(names.map((n, i) => [n, ts[i]!])) };
            const logits = rows
              ? cached!.logits(t, rows, { training: true, rng })
              : vitForward(forwardParams(base, t), config, xs!, method.hooks(t, config, options, { training: true, rng, crop: sampled?.crop }));
            const task = crossEntropy(logits, y, spec.labelSmoothing);
            return method.penalty ? tf.add(task, method.penalty(t, config, options, rng)) : task;
          };
          const { value, grads } = tf.valueAndGrads(lossOf)(names.map((n) => params[n]!));
          const clip = spec.clipNorm === null ? undefined : clipFactor(grads, spec.clipNorm).factor;
          const update = optimizerStep(optConfig, params, Object.fromEntries(names.map((n, i) => [n, grads[i]!])), opt, lr, clip);
          return { loss: value, params: update.params, slots: update.state.slots, t: update.state.t };
        });
        const old = { params, opt };
        trainable = { ...trainable, ...result.params };
        opt = { t: result.t, slots: result.slots };
        tf.dispose(Object.values(old.params));
        disposeOptimizerState(old.opt);
        step++;
        const replaced = method.afterStep?.(step, trainable, base, config, options);
        if (replaced) {
          for (const [k, t] of Object.entries(replaced)) {
            trainable[k]!.dispose();
            trainable[k] = t;
          }
        }
        const loss = (await result.loss.data())[0]!;
        result.loss.dispose();
        if (!Number.isFinite(loss)) throw new Error(`loss is ${loss} at step ${step}: lower --lr or enable gradient clipping`);
        emit({ type: 'step', step, loss, lr, examplesPerS: spec.batchSize / ((performance.now() - t0) / 1000) });
        if (step % spec.evalEvery === 0) await evaluate();
        if (step % spec.checkpointEvery === 0) await checkpoint();
        // Yield to the event loop: a step's awaits may all settle as microtasks, which would starve
        // the IPC 'message' handler that delivers stop.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }

      const stopped = step < spec.steps;
      let adapterDir: string | null = null;
      let modelDir: string | null = null;
      // A finished run keeps a checkpoint of its last step too, so it can be extended later.
      await checkpoint();
      if (!stopped) {
        await evaluate();
        adapterDir = path.join(outDir, 'adapter');
        const info = { layout: model.layout, baseModel: model.summary.name, id2label: classes };
        await writeAdapter(adapterDir, method, trainable, config, options, info);
        if (method.merge) {
          modelDir = path.join(outDir, 'model');
          const merged = mergedParams(method, base, trainable, config, options);
          try {
            await writeModelFolder(modelDir, merged.params, config, { name: `${model.summary.name}+${method.name}`, preprocess: model.preprocess, id2label: classes });
          } finally {
            tf.dispose(merged.owned);
          }
        }
      }
      const summary: TrainSummary = {
        method: method.name,
        trainableParams,
        totalParams,
        valAccuracy: latest.val?.accuracy ?? null,
        valLoss: latest.val?.loss ?? null,
        steps: step,
        wallS: (performance.now() - started) / 1000,
        stopped,
        trainSize: train.length,
        valSize: val.length,
        valSource,
        featureCache: useCache,
        adapterDir,
        modelDir,
        lastCheckpoint,
      };
      emit({ type: 'done', summary });
      return summary;
    } finally {
      tf.dispose(Object.values(trainable));
      disposeOptimizerState(opt);
      if (trainCache) tf.dispose(trainCache.tensors);
      if (valCache) tf.dispose(valCache.tensors);
    }
  }
}

/** The fields of two specs that differ, as a sentence, or undefined when they agree. */
function specMismatch(savedSpec: TrainSpec, currentSpec: TrainSpec): string | undefined {
  // The budget may differ (an extended run); warmup must resolve to the same number of steps.
  const comparable = (s: TrainSpec) => ({ ...s, steps: undefined, warmupSteps: warmupOf(s) });
  const saved = comparable(savedSpec);
  const current = comparable(currentSpec);
  const keys = new Set([...Object.keys(saved), ...Object.keys(current)] as (keyof TrainSpec)[]);
  const differ = [...keys].filter((k) => JSON.stringify(saved[k]) !== JSON.stringify(current[k]));
  if (differ.length === 0) return undefined;
  return `it was made with different settings: ${differ.map((k) => `${k} ${JSON.stringify(saved[k])} (now ${JSON.stringify(current[k])})`).join(', ')}`;
}

/** Why checkpointed tensors do not fit the method's trainable shapes (another base model?). */
function shapeMismatch(tensors: NamedTensors, expected: Map<string, number[]>): string | undefined {
  for (const [name, shape] of expected) {
    const t = tensors[name];
    if (!t) return `it has no "${name}"`;
    if (t.shape.join(',') !== shape.join(',')) return `"${name}" is [${t.shape.join(', ')}] but this model needs [${shape.join(', ')}]`;
  }
  const extra = Object.keys(tensors).find((n) => !expected.has(n));
  return extra === undefined ? undefined : `it has an unexpected "${extra}"`;
}

async function extractFeatures(samples: Samples, forward: CachedForward, indices: readonly number[]): Promise<FeatureCache> {
  const parts: tf.Tensor[][] = [];
  try {
    for (let start = 0; start < indices.length; start += INFERENCE_BATCH) {
      const batch = await samples.batch(indices.slice(start, start + INFERENCE_BATCH));
      parts.push(tf.tidy(() => forward.extract(tf.tensor4d(batch.images, batch.shape))));
    }
    const tensors = parts[0]!.map((_, k) => tf.concat(parts.map((p) => p[k]!), 0));
    return { tensors, row: new Map(indices.map((i, k) => [i, k])) };
  } finally {
    tf.dispose(parts.flat());
  }
}

async function evaluateSplit(
  samples: Samples,
  method: PeftMethod<object>,
  options: object,
  base: NamedTensors,
  trainable: NamedTensors,
  config: VitConfig,
  indices: readonly number[],
  cached: { cache: FeatureCache; forward: CachedForward } | undefined,
  rng: Rng,
): Promise<{ loss: number; accuracy: number }> {
  let lossSum = 0;
  let correct = 0;
  const params = forwardParams(base, trainable);
  for (let start = 0; start < indices.length; start += INFERENCE_BATCH) {
    const chunk = indices.slice(start, start + INFERENCE_BATCH);
    const batch = cached ? undefined : await samples.batch(chunk);
    const [loss, hits] = tf.tidy(() => {
      const labels = tf.tensor1d(chunk.map((i) => samples.label(i)), 'int32');
      const logits = cached
        ? cached.forward.logits(trainable, gatherRows(cached.cache, chunk), { training: false, rng })
        : // training: false draws nothing from rng, so evaluation never shifts the trajectory.
          vitForward(params, config, tf.tensor4d(batch!.images, batch!.shape), method.hooks(trainable, config, options, { training: false, rng }));
      return [tf.mul(crossEntropy(logits, labels), chunk.length), tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), labels), 'float32'))];
    });
    lossSum += (await loss!.data())[0]!;
    correct += (await hits!.data())[0]!;
    tf.dispose([loss!, hits!]);
  }
  return { loss: lossSum / indices.length, accuracy: correct / indices.length };
}
