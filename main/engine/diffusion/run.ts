// A studio run that fine-tunes a DiT: the diffusion counterpart of the classification Trainer,
// driven by the same worker. It emits the Trainer's events (start, step, checkpoint, extended,
// done) plus sample grids of fixed seeds (`previews`), and writes the Trainer's checkpoint format
// so stop, resume and extend behave as they do for classification runs.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { ImageDataset } from '../data/dataset';
import { loadLatestCheckpoint, saveCheckpoint } from '../train/checkpoint';
import { Rng } from '../train/rng';
import { learningRate } from '../train/schedule';
import type { TrainSpec } from '../train/spec';
import { extendedSpec, RunControls, type TrainEvent } from '../train/trainer';
import type { LoadedDit } from './dit-folder';
import { DIFFUSION_METHODS, diffusionStep, disposeTuner, initDiffusionTuner, saveDiffusionAdapter, tunedModel, type DiffusionMethod, type DiffusionTuner } from './finetune';
import { generate, writePng } from './generate';
import { makeSchedule } from './schedule';
import { loadCleanBatch } from './train';

/** The diffusion-only settings of a run (the rest is the ordinary TrainSpec). */
export const diffusionRunSettingsSchema = z
  .object({
    classDropout: z.number().min(0).max(1).default(0.1).describe('share of samples trained as the null class (keeps guidance working)'),
    previewEvery: z.number().int().positive().optional().describe('steps between sample grids (default: a quarter of the budget)'),
    previewCount: z.number().int().min(1).max(16).default(8).describe('samples per grid'),
    previewSteps: z.number().int().min(1).max(250).default(20).describe('DDIM steps per grid'),
    previewSeed: z.number().int().default(0).describe('seed of every grid (the same noise each time)'),
    previewCfg: z.number().min(0).max(20).default(3).describe('guidance scale of class-conditional grids'),
  })
  .strict();
export type DiffusionRunSettings = z.output<typeof diffusionRunSettingsSchema>;

/** How one data class conditions the model: a model class of the same name, or the null class. */
export interface ClassConditioning {
  dataClass: string;
  modelClass: string | null;
}

export type DiffusionRunEvent =
  | TrainEvent
  | { type: 'conditioning'; classes: ClassConditioning[] }
  /** One grid of PNG files sampled at `step` (0: the base model), with each sample's class ('' = null class). */
  | { type: 'previews'; step: number; files: string[]; classes: string[] };

/** A class name as compared: case, spaces and punctuation aside ("T-shirt_top" is "T-shirt/top"). */
const nameKey = (name: string) => name.toLowerCase().replace(/[^\p{L}\p{N}]+/gu, '');

/** Data class → model class id by name; unmatched classes train unconditionally. */
export function conditioningOf(dataClasses: readonly string[], id2label: readonly string[]): { ids: number[]; classes: ClassConditioning[] } {
  const keys = id2label.map(nameKey);
  const ids = dataClasses.map((name) => keys.indexOf(nameKey(name)));
  return {
    ids: ids.map((id) => (id < 0 ? id2label.length : id)),
    classes: dataClasses.map((dataClass, i) => ({ dataClass, modelClass: ids[i]! < 0 ? null : id2label[ids[i]!]! })),
  };
}

/** The grid's class per sample: the data's matched classes in turn, or the null class when none match. */
export function previewClasses(conditioningIds: readonly number[], numClasses: number, count: number): number[] {
  const matched = [...new Set(conditioningIds.filter((id) => id < numClasses))];
  const pool = matched.length > 0 ? matched : [numClasses];
  return Array.from({ length: count }, (_, i) => pool[i % pool.length]!);
}

export const defaultPreviewEvery = (steps: number): number => Math.max(1, Math.round(steps / 4));

/** Grids a run of `steps` steps samples: the base model's, every `previewEvery` steps, and the last step's. */
export const previewGridCount = (steps: number, previewEvery: number): number => 1 + Math.floor(steps / previewEvery) + (steps % previewEvery === 0 ? 0 : 1);

export interface DiffusionRunOptions {
  model: LoadedDit;
  dataset: ImageDataset;
  spec: TrainSpec;
  settings: DiffusionRunSettings;
  /** Run folder: checkpoints/, previews/, adapter/. */
  outDir: string;
  resume?: string;
  onEvent?: (event: DiffusionRunEvent) => void;
}

export class DiffusionRun extends RunControls {
  constructor(private readonly options: DiffusionRunOptions) {
    super();
    if (!(DIFFUSION_METHODS as readonly string[]).includes(options.spec.method)) {
      throw new Error(`method "${options.spec.method}" does not apply to a diffusion model; use ${DIFFUSION_METHODS.join(', ')}`);
    }
  }

  async run(): Promise<void> {
    const { model, dataset, settings, outDir } = this.options;
    const emit = (e: DiffusionRunEvent) => this.options.onEvent?.(e);
    const t0 = performance.now();
    let spec = this.options.spec;
    const method = spec.method as DiffusionMethod;
    const conditioning = conditioningOf(dataset.classes, model.id2label);
    const gridClasses = previewClasses(conditioning.ids, model.config.numClasses, settings.previewCount);
    const schedule = makeSchedule(model.schedule);

    let rng = Rng.fromSeed(spec.seed);
    let tuner: DiffusionTuner = initDiffusionTuner(model.params, model.config, method, spec.methodOptions, rng);
    let step = 0;
    let resumedFrom: Extract<TrainEvent, { type: 'start' }>['resumedFrom'] = null;
    if (this.options.resume) {
      const saved = await loadLatestCheckpoint(this.options.resume);
      // The method's int32 buffers (SaRA's indices) come back from the checkpoint like its floats.
      disposeTuner(tuner);
      tuner = { ...tuner, trainable: saved.state.trainable, optimizer: saved.state.optimizer };
      rng = Rng.fromState(saved.state.rng);
      step = saved.state.step;
      spec = { ...spec, steps: Math.max(spec.steps, saved.spec.steps) };
      resumedFrom = { step, dir: saved.dir, skipped: saved.skipped };
    }
    const count = (t: DiffusionTuner) => Object.values(t.trainable).filter((x) => x.dtype === 'float32').reduce((n, x) => n + x.size, 0);
    const trainableParams = count(tuner);
    emit({
      type: 'start',
      method,
      trainableParams,
      totalParams: model.paramCount + (method === 'full' ? 0 : trainableParams),
      trainSize: dataset.length,
      valSize: 0,
      valSource: 'dataset',
      classes: dataset.classes,
      featureCache: false,
      resumedFrom,
    });
    emit({ type: 'conditioning', classes: conditioning.classes });

    const previewEvery = settings.previewEvery ?? defaultPreviewEvery(spec.steps);
    const grid = async (at: number, t: DiffusionTuner | null) => {
      const tuned = t ? tunedModel(model.params, model.config, t) : undefined;
      const pixels = generate(tuned ? { ...model, params: tuned.params } : model, {
        classes: gridClasses,
        steps: settings.previewSteps,
        seed: settings.previewSeed,
        cfg: gridClasses[0] === model.config.numClasses ? 1 : settings.previewCfg,
        sampler: 'ddim',
        eta: 0,
        hooks: tuned?.hooks,
      });
      const dir = path.join(outDir, 'previews', `step-${String(at).padStart(8, '0')}`);
      await mkdir(dir, { recursive: true });
      const files = pixels.map((_, i) => path.join(dir, `${i}.png`));
      await Promise.all(pixels.map((p, i) => writePng(files[i]!, p, model.config.imageSize, model.config.inChannels)));
      emit({ type: 'previews', step: at, files, classes: gridClasses.map((c) => model.id2label[c] ?? '') });
    };

    let lastCheckpoint: string | null = null;
    let lastCheckpointStep = -1;
    const checkpoint = async () => {
      const saved = await saveCheckpoint(
        path.join(outDir, 'checkpoints'),
        { step, trainable: tuner.trainable, optimizer: tuner.optimizer, rng: rng.state(), data: { epoch: 0, order: [], cursor: 0 } },
        { spec, classes: dataset.classes, numLabels: model.config.numClasses },
      );
      lastCheckpoint = saved.dir;
      lastCheckpointStep = step;
      emit({ type: 'checkpoint', step, path: saved.dir, sha256: saved.sha256 });
    };

    try {
      if (!resumedFrom) await grid(0, null);
      const warmupSteps = () => spec.warmupSteps ?? Math.round(spec.steps * 0.1);
      while (step < spec.steps && !this.stopRequested) {
        if (this.extendTo > spec.steps) {
          spec = extendedSpec(spec, this.extendTo);
          await checkpoint();
          emit({ type: 'extended', step, steps: spec.steps });
        }
        const started = performance.now();
        const lr = learningRate(step, { lr: spec.lr, minLr: spec.minLr, warmupSteps: warmupSteps(), totalSteps: spec.steps });
        const indices = Array.from({ length: spec.batchSize }, () => rng.int(dataset.length));
        const x0 = await loadCleanBatch(model, dataset, indices);
        let loss: number;
        try {
          const labels = indices.map((i) => conditioning.ids[dataset.label(i)]!);
          loss = diffusionStep(model.params, model.config, tuner, { x0, labels }, schedule, rng, { lr, classDropout: settings.classDropout });
        } finally {
          x0.dispose();
        }
        step++;
        emit({ type: 'step', step, loss, lr, examplesPerS: spec.batchSize / ((performance.now() - started) / 1000) });
        if (step % previewEvery === 0 || step === spec.steps) await grid(step, tuner);
        if (step % spec.checkpointEvery === 0 || this.checkpointRequested) {
          this.checkpointRequested = false;
          await checkpoint();
        }
      }
      if (lastCheckpointStep !== step) await checkpoint();
      const stopped = step < spec.steps;
      const adapterDir = stopped ? null : path.join(outDir, 'adapter');
      if (adapterDir) await saveDiffusionAdapter(adapterDir, tuner, model.config, { baseModel: model.name, steps: step });
      emit({
        type: 'done',
        summary: {
          method,
          trainableParams,
          totalParams: model.paramCount + (method === 'full' ? 0 : trainableParams),
          valAccuracy: null,
          valLoss: null,
          steps: step,
          wallS: (performance.now() - t0) / 1000,
          stopped,
          trainSize: dataset.length,
          valSize: 0,
          valSource: 'dataset',
          featureCache: false,
          adapterDir,
          modelDir: null,
          lastCheckpoint,
        },
      });
    } finally {
      disposeTuner(tuner);
    }
  }
}
