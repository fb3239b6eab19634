// Generating and editing with a DiT model in the studio: class-conditional samples and SINE-style
// edits, each image a PNG in the media store (content-addressed) and listed for this session until
// the user keeps it in a dataset through the import path. The starter DiT is small (28×28, 1.3 M
// parameters), so a request runs in the main process, one at a time, like a preview.
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Tensor4D } from '@tensorflow/tfjs';
import sharp from 'sharp';
import type { EditResult, GeneratedImage, ImportStarted, ParsedInput } from '../../preload/api';
import type { LoadedDit } from '../engine/diffusion/dit-folder';
import type { ClassEpsilonFn } from '../engine/diffusion/edit';
import type { Store } from '../store';
import { notFound, ServiceError } from './errors';
import type { EventBus } from './events';
import { intakeImage } from './image-intake';
import type { ImportService } from './imports';
import { sha256, type MediaStore } from './media';

/** This session's results kept listed (and safe from the media sweep) until the studio closes. */
const MAX_RESULTS = 500;
/** Samples per model batch: a cancel or a progress event gets through between chunks. */
const SAMPLE_CHUNK = 8;

interface Loaded {
  key: string;
  model: LoadedDit;
}

export function createDiffusionService(store: Store, media: MediaStore, imports: ImportService, events: EventBus) {
  const results: GeneratedImage[] = [];
  // Sampling jobs that may be cancelled: jobId → cancel requested.
  const jobs = new Map<string, { cancelled: boolean }>();
  const loaded = new Map<number, Loaded>();
  // One generation at a time: each holds the engine for its whole length.
  let queue: Promise<unknown> = Promise.resolve();

  async function ditModel(modelId: number): Promise<LoadedDit> {
    const row = store.models.list().find((m) => m.id === modelId);
    if (!row) throw notFound(`Model ${modelId}`);
    if (row.layout !== 'dit') throw new ServiceError('validation', `${row.name} is not a diffusion model (DiT); it is a ${row.layout} classifier.`);
    // Keyed by folder too: a re-import may point the same id elsewhere.
    const key = row.path;
    const cached = loaded.get(modelId);
    if (cached?.key === key) return cached.model;
    const { loadDitFolder } = await import('../engine/diffusion/dit-folder');
    const model = await loadDitFolder(row.path).catch((error: Error) => {
      throw new ServiceError('io', `Model ${row.name} could not be loaded: ${error.message}`);
    });
    release(modelId);
    loaded.set(modelId, { key, model });
    return model;
  }

  function release(modelId: number) {
    const cached = loaded.get(modelId);
    if (!cached) return;
    for (const tensor of Object.values(cached.model.params)) tensor.dispose();
    loaded.delete(modelId);
  }

  function classOf(model: LoadedDit, classId: number): string {
    const name = model.id2label[classId];
    if (name === undefined) throw new ServiceError('validation', `${model.name} has classes 0…${model.id2label.length - 1}; got ${classId}.`);
    return name;
  }

  /** Stores 8-bit pixels as a PNG with its thumbnail and lists it. */
  async function keepPixels(pixels: Uint8Array, model: LoadedDit, meta: Pick<GeneratedImage, 'kind' | 'className' | 'seed' | 'index'>): Promise<GeneratedImage> {
    const { imageSize: size, inChannels: channels } = model.config;
    const image = sharp(Buffer.from(pixels), { raw: { width: size, height: size, channels: channels as 1 | 3 } });
    // Without 'b-w', sharp writes one-channel input as RGB.
    const png = await (channels === 1 ? image.toColourspace('b-w') : image).png().toBuffer();
    const intake = await intakeImage(png);
    if (!intake.ok) throw new Error(`generated image failed its own intake: ${intake.reason}`);
    const hash = sha256(png);
    await media.put(hash, png, intake.thumbnail);
    const result: GeneratedImage = { hash, ...meta, modelName: model.name, width: size, height: size, createdAt: new Date().toISOString() };
    results.unshift(result);
    results.splice(MAX_RESULTS);
    return result;
  }

  async function sample(input: ParsedInput<'diffusion.sample'>, job: { cancelled: boolean }): Promise<GeneratedImage[]> {
    const { initBackend } = await import('../engine/backend');
    await initBackend();
    const model = await ditModel(input.modelId);
    const className = classOf(model, input.classId);
    const { toPixels } = await import('../engine/diffusion/generate');
    const { guidedEpsilon, sample: runSampler } = await import('../engine/diffusion/sampler');
    const { makeSchedule } = await import('../engine/diffusion/schedule');
    const { imageSize: size, inChannels: channels } = model.config;
    const { jobId, n, steps } = input;
    const images: GeneratedImage[] = [];
    // Chunks seeded by their first index (the sampler's firstIndex) give the images one batch would.
    for (let first = 0; first < n && !job.cancelled; first += SAMPLE_CHUNK) {
      const count = Math.min(SAMPLE_CHUNK, n - first);
      const x = runSampler(guidedEpsilon(model, Array<number>(count).fill(input.classId), input.cfg), {
        schedule: makeSchedule(model.schedule),
        steps,
        sampler: 'ddim',
        eta: input.eta,
        shape: [count, size, size, channels],
        seed: input.seed,
        firstIndex: first,
        onStep: (done) => jobId && events.emit('diffusion.progress', { jobId, done: first * steps + done * count, total: n * steps }),
      });
      const pixels = toPixels(x);
      x.dispose();
      for (const [i, p] of pixels.entries()) images.push(await keepPixels(p, model, { kind: 'sample', className, seed: input.seed, index: first + i }));
      // Let a jobs.cancel call (and the progress events) through before the next chunk.
      await new Promise((resolve) => setImmediate(resolve));
    }
    // results lists newest first; the request's own order is sample order.
    return images;
  }

  async function inputBytes(image: ParsedInput<'diffusion.edit'>['image']): Promise<{ bytes: Buffer; label: string }> {
    if (image.kind === 'upload') return { bytes: Buffer.from(image.base64, 'base64'), label: image.name };
    if (!store.images.isHashReferenced(image.hash) && !results.some((r) => r.hash === image.hash)) throw notFound('That image');
    return { bytes: await readFile(media.pathOf('image', image.hash)), label: 'the image' };
  }

  /** ε_ft: another DiT of the base's shape, or the base with a diffusion adapter; dispose() frees what it loaded. */
  async function fineTunedModel(ref: NonNullable<ParsedInput<'diffusion.edit'>['fineTuned']>, base: LoadedDit): Promise<{ eps: ClassEpsilonFn; name: string; dispose: () => void }> {
    const { ditClassEpsilon } = await import('../engine/diffusion/edit');
    if (ref.kind === 'model') {
      const model = await ditModel(ref.modelId);
      classOf(model, ref.classId);
      if (JSON.stringify(model.config) !== JSON.stringify(base.config)) {
        throw new ServiceError('validation', `${model.name} does not have ${base.name}'s shape; a fine-tuned model must share its base's configuration.`);
      }
      return { eps: ditClassEpsilon(model), name: model.name, dispose: () => undefined };
    }
    classOf(base, ref.classId);
    const { loadDiffusionAdapter, tunedModel } = await import('../engine/diffusion/finetune');
    const adapter = await loadDiffusionAdapter(ref.path, base.config).catch((error: Error) => {
      throw new ServiceError('validation', `The adapter ${ref.path} cannot be applied to ${base.name}: ${error.message}`);
    });
    const tuned = tunedModel(base.params, base.config, adapter);
    return {
      eps: ditClassEpsilon({ params: tuned.params, config: base.config }, tuned.hooks),
      name: `${base.name} + ${basename(ref.path)}`,
      dispose: () => Object.values(adapter.trainable).forEach((t) => t.dispose()),
    };
  }

  async function edit(input: ParsedInput<'diffusion.edit'>): Promise<EditResult> {
    const { bytes, label } = await inputBytes(input.image);
    // Dropped bytes pass the same checks as an import: decodable, whole, of sane size.
    const intake = await intakeImage(bytes);
    if (!intake.ok) throw new ServiceError('validation', `${label}: ${intake.reason}`);
    const { initBackend } = await import('../engine/backend');
    await initBackend();
    const model = await ditModel(input.modelId);
    const className = classOf(model, input.targetClass);
    const fineTuned = input.fineTuned ? await fineTunedModel(input.fineTuned, model) : null;
    const { imageSize: size, inChannels: channels } = model.config;
    // The model's resolution and channels: cover-crop to a square, greyscale for one channel.
    let resized = sharp(bytes).rotate().resize(size, size, { fit: 'cover' }).removeAlpha();
    if (channels === 1) resized = resized.greyscale();
    const raw = await resized.raw().toBuffer();
    const tf = await import('@tensorflow/tfjs');
    const { ditClassEpsilon, editImages, effectiveBeta } = await import('../engine/diffusion/edit');
    const { makeSchedule } = await import('../engine/diffusion/schedule');
    const { toPixels } = await import('../engine/diffusion/generate');
    const x0 = tf.tidy(() => tf.sub(tf.div(tf.tensor4d(Float32Array.from(raw), [1, size, size, channels]), 127.5), 1) as Tensor4D);
    const options = {
      schedule: makeSchedule(model.schedule),
      targetClasses: [input.targetClass],
      nullClass: model.config.numClasses,
      scale: input.scale,
      beta: input.beta,
      window: input.window,
      t0: input.t0,
      steps: input.steps,
      seed: input.seed,
      ...(fineTuned && { fineTuned: { eps: fineTuned.eps, classes: [input.fineTuned!.classId] } }),
    };
    let out: Tensor4D;
    try {
      out = editImages(ditClassEpsilon(model), x0, options);
    } finally {
      fineTuned?.dispose();
    }
    const [beforePixels, afterPixels] = [toPixels(x0)[0]!, toPixels(out)[0]!];
    tf.dispose([x0, out]);
    const before = await keepPixels(beforePixels, model, { kind: 'input', className: 'input', seed: input.seed, index: 0 });
    const after = await keepPixels(afterPixels, model, { kind: 'edit', className, seed: input.seed, index: 0 });
    return { before, after, betaUsed: effectiveBeta(options), fineTunedName: fineTuned?.name ?? null };
  }

  async function keep(input: ParsedInput<'diffusion.keep'>): Promise<ImportStarted> {
    const result = results.find((r) => r.hash === input.hash);
    if (!result) throw notFound('That generated image');
    const base64 = (await readFile(media.pathOf('image', input.hash))).toString('base64');
    const name = `${result.kind}-${result.className.replace(/[^\w.-]+/g, '_')}-${result.seed}-${result.index}-${input.hash.slice(0, 8)}.png`;
    // The import path: its intake checks, its media and class handling, its progress events.
    return imports.start(input.datasetId, { kind: 'upload', files: [{ name, folder: input.className ?? '', base64 }] });
  }

  const serial = <T>(work: () => Promise<T>): Promise<T> => {
    const next = queue.then(work);
    queue = next.catch(() => undefined);
    return next;
  };

  return {
    sample(input: ParsedInput<'diffusion.sample'>): Promise<GeneratedImage[]> {
      // Registered at once, so a cancel reaches a request still waiting its turn.
      const job = { cancelled: false };
      const { jobId } = input;
      if (jobId) jobs.set(jobId, job);
      return serial(() => sample(input, job)).finally(() => {
        if (jobId && jobs.get(jobId) === job) jobs.delete(jobId);
      });
    },
    edit: (input: ParsedInput<'diffusion.edit'>) => serial(() => edit(input)),
    keep,
    /** Asks a sampling job to stop after its current chunk; false when no such job runs. */
    cancel(jobId: string): boolean {
      const job = jobs.get(jobId);
      if (job) job.cancelled = true;
      return job !== undefined;
    },
    results: (): GeneratedImage[] => [...results],
    /** Whether the media sweep must keep a file: a listed result of this session. */
    holds: (hash: string): boolean => results.some((r) => r.hash === hash),
    /** Frees the loaded models (shutdown, tests). */
    async close(): Promise<void> {
      await queue;
      for (const modelId of [...loaded.keys()]) release(modelId);
    },
  };
}

export type DiffusionService = ReturnType<typeof createDiffusionService>;
