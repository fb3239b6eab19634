import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { freemem, totalmem } from 'node:os';
import { join } from 'node:path';
import { isDiffusionModel, type ParsedInput, type RunDetail, type RunEstimate, type RunPreview, type RunSummary } from '../../preload/api';
import { DIFFUSION_METHODS } from '../engine/diffusion/finetune';
import { extendedSpec } from '../engine/train/trainer';
import type { TrainSpec } from '../engine/train/spec';
import { writeFileAtomic } from '../engine/io/atomic';
import type { DatasetManifest } from '../engine/data/manifest';
import type { WorkerMessage, WorkerRequest } from '../worker/protocol';
import type { Store } from '../store';
import type { MetricPoint, RunRow } from '../store/runs';
import { notFound, ServiceError } from './errors';
import type { EventBus } from './events';
import { intakeImage } from './image-intake';
import { sha256, type MediaStore } from './media';
import { adviseEstimate, dryRun } from './run-estimate';
import { createRunLogs } from './run-log';

/** How to start a training process: the built worker under the app, the TypeScript one under tests. */
export interface WorkerEntry {
  modulePath: string;
  execArgv: string[];
}

/** Step metrics are buffered and written in one transaction per flush: cheap for SQLite, live enough for charts. */
const FLUSH_MS = 250;

interface LiveRun {
  child: ChildProcess;
  /** What the run becomes once the worker has checkpointed and left: stopped, or paused (to be resumed). */
  stopRequested: false | 'stopped' | 'paused';
  finished: boolean;
  buffer: MetricPoint[];
  timer: NodeJS.Timeout | null;
  stderr: string;
  /** A raised budget the worker has not confirmed yet; applied by a resume if it finishes first. */
  pendingSteps: number;
}

/** Step lines in the log: the first and every this many (evaluations and checkpoints always). */
const LOG_STEP_EVERY = 10;

/** Where a run keeps its manifest, checkpoints, adapter, merged model and log. */
export const runFolder = (dataDir: string, id: number): string => join(dataDir, 'runs', String(id));

export function createRunService(store: Store, media: MediaStore, events: EventBus, dataDir: string, worker: WorkerEntry) {
  const live = new Map<number, LiveRun>();
  const runDir = (id: number) => runFolder(dataDir, id);
  const logs = createRunLogs(runDir, (id, lines) => events.emit('run.log', { id, lines }));
  let estimating = false;
  /** Preview grids being moved into the media store (idle() waits for them). */
  const storingPreviews = new Set<Promise<void>>();

  const requireRun = (id: number): RunRow => {
    const run = store.runs.get(id);
    if (!run) throw notFound(`Run ${id}`);
    return run;
  };

  const summaryOf = (run: RunRow): RunSummary => {
    const metrics = new Map(store.runs.summaries(run.id).map((m) => [m.name, m]));
    const config = run.config as { spec?: { steps?: number } };
    return {
      id: run.id,
      name: run.name,
      method: run.method,
      status: run.status,
      datasetId: run.datasetId,
      modelId: run.modelId,
      error: run.error,
      createdAt: run.createdAt,
      startedAt: run.startedAt,
      finishedAt: run.finishedAt,
      step: metrics.get('loss')?.lastStep ?? 0,
      totalSteps: config.spec?.steps ?? 0,
      lastLoss: metrics.get('loss')?.last ?? null,
      lastValAccuracy: metrics.get('val_accuracy')?.last ?? null,
      bestValAccuracy: metrics.get('val_accuracy')?.max ?? null,
      trainableParams: (run.info.trainableParams as number | undefined) ?? null,
      totalParams: (run.info.totalParams as number | undefined) ?? null,
      backend: (run.info.backend as string | undefined) ?? null,
      lastCheckpointStep: store.runs.latestCheckpoint(run.id)?.step ?? null,
    };
  };

  const progress = (id: number) => events.emit('run.progress', summaryOf(requireRun(id)));

  const flush = (id: number) => {
    const state = live.get(id);
    if (!state || state.buffer.length === 0) return;
    const points = state.buffer;
    state.buffer = [];
    store.runs.appendMetrics(id, points);
    progress(id);
  };

  const record = (id: number, points: MetricPoint[]) => {
    const state = live.get(id)!;
    state.buffer.push(...points);
    state.timer ??= setTimeout(() => {
      state.timer = null;
      flush(id);
    }, FLUSH_MS);
  };

  /** The log line a worker message earns, if any. */
  function logMessage(id: number, message: WorkerMessage) {
    const info = (text: string) => logs.write(id, 'info', text);
    switch (message.type) {
      case 'ready':
        return info(`worker started (pid ${message.pid})`);
      case 'backend':
        return info(`backend ${message.name}: ${message.reason}`);
      case 'start': {
        const pct = ((100 * message.trainableParams) / message.totalParams).toFixed(2);
        info(
          `training ${message.method} on ${message.trainSize} images, validating on ${message.valSize}; ` +
            `${message.trainableParams.toLocaleString('en-US')} of ${message.totalParams.toLocaleString('en-US')} parameters trainable (${pct} %)` +
            (message.cacheNote ? `; ${message.cacheNote}` : message.featureCache ? '; frozen features cached' : ''),
        );
        if (message.resumedFrom) info(`resumed from the checkpoint of step ${message.resumedFrom.step}`);
        for (const skipped of message.resumedFrom?.skipped ?? []) logs.write(id, 'warn', `skipped an unreadable checkpoint: ${skipped}`);
        return;
      }
      case 'step':
        if (message.step === 1 || message.step % LOG_STEP_EVERY === 0) {
          info(`step ${message.step}: loss ${message.loss.toFixed(4)}, lr ${message.lr.toExponential(2)}, ${message.examplesPerS.toFixed(1)} examples/s`);
        }
        return;
      case 'eval':
        return info(`step ${message.step}: val loss ${message.valLoss.toFixed(4)}, val accuracy ${(message.valAccuracy * 100).toFixed(1)} %`);
      case 'checkpoint':
        return info(`checkpoint saved at step ${message.step}`);
      case 'extended':
        return info(`budget raised to ${message.steps} steps at step ${message.step}; the cosine now runs over ${message.steps} steps`);
      case 'done': {
        const { summary } = message;
        return info(`${summary.stopped ? 'stopped' : 'finished'} at step ${summary.steps} after ${summary.wallS.toFixed(1)} s`);
      }
      case 'conditioning': {
        const mapped = message.classes.filter((c) => c.modelClass !== null);
        const unmatched = message.classes.filter((c) => c.modelClass === null).map((c) => c.dataClass);
        if (mapped.length > 0) info(`class-conditional: ${mapped.map((c) => `${c.dataClass} → ${c.modelClass}`).join(', ')}`);
        if (unmatched.length > 0) logs.write(id, 'warn', `not classes of the model, trained unconditionally (null class): ${unmatched.join(', ')}`);
        return;
      }
      case 'previews':
        return info(message.step === 0 ? `base model samples (${message.files.length})` : `samples at step ${message.step}`);
      case 'error':
        return logs.write(id, 'error', message.message);
    }
  }

  /** Moves a grid's PNGs into the media store, lists them, and tells the run page. */
  async function storePreviews(id: number, step: number, files: readonly string[], classes: readonly string[]) {
    const items: RunPreview[] = [];
    for (const [index, file] of files.entries()) {
      const png = await readFile(file);
      const intake = await intakeImage(png);
      if (!intake.ok) throw new Error(`sample ${file} failed its intake: ${intake.reason}`);
      const hash = sha256(png);
      await media.put(hash, png, intake.thumbnail);
      items.push({ step, index, hash, className: classes[index] ?? '' });
    }
    store.runs.addPreviews(id, items);
    await Promise.all(files.map((file) => rm(file, { force: true })));
    events.emit('run.previews', { id, step });
  }

  function onMessage(id: number, message: WorkerMessage) {
    const now = Date.now() / 1000;
    logMessage(id, message);
    switch (message.type) {
      case 'ready':
        store.runs.mergeInfo(id, { pid: message.pid });
        return;
      case 'backend':
        store.runs.mergeInfo(id, { backend: message.name, backendReason: message.reason });
        return;
      case 'extended': {
        // The worker wrote a checkpoint with the new budget first: the config follows it now.
        const state = live.get(id)!;
        if (state.pendingSteps <= message.steps) state.pendingSteps = 0;
        setSpec(id, extendedSpec(specOf(requireRun(id)), message.steps));
        return progress(id);
      }
      case 'start':
        store.runs.mergeInfo(id, {
          trainableParams: message.trainableParams,
          totalParams: message.totalParams,
          trainSize: message.trainSize,
          valSize: message.valSize,
          // 'dataset': the user's val images; 'drawn': none existed, so a seeded stratified share.
          valSource: message.valSource,
          classes: message.classes,
          featureCache: message.featureCache,
        });
        store.runs.setStatus(id, 'running');
        return progress(id);
      case 'step':
        return record(id, [
          { name: 'loss', step: message.step, value: message.loss, time: now },
          { name: 'lr', step: message.step, value: message.lr, time: now },
          { name: 'examples_per_s', step: message.step, value: message.examplesPerS, time: now },
        ]);
      case 'eval':
        return record(id, [
          { name: 'val_loss', context: '', step: message.step, value: message.valLoss, time: now },
          { name: 'val_accuracy', context: '', step: message.step, value: message.valAccuracy, time: now },
        ]);
      case 'conditioning':
        store.runs.mergeInfo(id, { conditioning: message.classes });
        return;
      case 'previews': {
        const storing = storePreviews(id, message.step, message.files, message.classes)
          .catch((error: unknown) => logs.write(id, 'warn', `samples of step ${message.step} not stored: ${(error as Error).message}`))
          .finally(() => storingPreviews.delete(storing));
        storingPreviews.add(storing);
        return;
      }
      case 'checkpoint':
        flush(id);
        store.runs.addCheckpoint(id, message.step, message.path, message.sha256);
        return progress(id);
      case 'done': {
        flush(id);
        live.get(id)!.finished = true;
        store.runs.mergeInfo(id, { summary: message.summary });
        store.runs.setStatus(id, message.summary.stopped ? live.get(id)!.stopRequested || 'stopped' : 'done');
        return progress(id);
      }
      case 'error':
        flush(id);
        live.get(id)!.finished = true;
        store.runs.setStatus(id, 'failed', message.message);
        return progress(id);
    }
  }

  const specOf = (run: RunRow) => (run.config as { spec: TrainSpec }).spec;
  const setSpec = (id: number, spec: TrainSpec) => store.runs.setConfig(id, { ...(requireRun(id).config as object), spec });

  function launch(run: RunRow, resume: boolean) {
    const config = run.config as { modelDir: string; manifest: string; spec: Record<string, unknown>; diffusion?: Record<string, unknown> };
    const child = fork(worker.modulePath, [], { execArgv: worker.execArgv, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    const state: LiveRun = { child, stopRequested: false, finished: false, buffer: [], timer: null, stderr: '', pendingSteps: 0 };
    live.set(run.id, state);
    store.runs.setStatus(run.id, 'queued');
    const checkpoint = store.runs.latestCheckpoint(run.id);
    logs.write(run.id, 'info', resume && checkpoint ? `resuming from step ${checkpoint.step} of ${String(config.spec.steps)}` : `starting (${String(config.spec.steps)} steps)`);
    child.stdout?.on('data', (chunk: Buffer) => logs.write(run.id, 'info', chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => {
      state.stderr = (state.stderr + chunk.toString()).slice(-4_000);
      logs.write(run.id, 'warn', chunk.toString());
    });
    child.on('message', (message) => onMessage(run.id, message as WorkerMessage));
    child.once('message', () => {
      const request: WorkerRequest = {
        type: 'start',
        run: { modelDir: config.modelDir, dataDir: config.manifest, outDir: runDir(run.id), resume: resume ? runDir(run.id) : undefined, spec: config.spec as never, diffusion: config.diffusion },
      };
      child.send(request);
    });
    child.on('exit', (code, signal) => {
      if (state.timer) clearTimeout(state.timer);
      flush(run.id);
      live.delete(run.id);
      if (code !== 0) logs.write(run.id, 'error', `the training process ended (${signal ?? `exit code ${code}`})`);
      // Extended while the worker was already writing its final files: the resume takes the rest.
      if (state.pendingSteps > 0 && requireRun(run.id).status === 'done') {
        extendIdle(requireRun(run.id), state.pendingSteps);
        return;
      }
      if (state.finished) return;
      // The worker died without saying why (killed, out of memory): never leave the run "running".
      const lastLine = state.stderr.trim().split('\n').at(-1);
      if (state.stopRequested) store.runs.setStatus(run.id, state.stopRequested);
      else store.runs.setStatus(run.id, 'failed', lastLine || `the training process ended (${signal ?? `exit code ${code}`})`);
      progress(run.id);
    });
  }

  /** The labelled images of a dataset outside its test split, as the worker reads them. */
  function writeManifest(datasetId: number, file: string, task: 'classification' | 'diffusion' = 'classification') {
    const classes = store.datasets.classes(datasetId).filter((c) => c.imageCount > 0);
    // A generator learns from one class as well; a classifier needs two to tell apart.
    if (task === 'diffusion' && classes.length === 0) throw new ServiceError('validation', 'Label some images before fine-tuning a diffusion model on them.');
    if (task === 'classification' && classes.length < 2) throw new ServiceError('validation', 'Label images of at least two classes before training.');
    const labelOf = new Map(classes.map((c, index) => [c.id, index]));
    const manifest: DatasetManifest = { classes: classes.map((c) => c.name), items: [] };
    const PAGE = 5_000;
    for (let offset = 0; ; offset += PAGE) {
      const { items } = store.images.page(datasetId, {}, offset, PAGE);
      for (const image of items) {
        const label = image.classId === null ? undefined : labelOf.get(image.classId);
        if (label === undefined || image.split === 'test') continue;
        manifest.items.push({ file: media.pathOf('image', image.hash), label, split: image.split });
      }
      if (items.length < PAGE) break;
    }
    return writeFileAtomic(file, [Buffer.from(JSON.stringify(manifest))]);
  }

  /** The dataset, model and trainer spec a new run (or its dry run) names, or why not. */
  async function resolveNewRun(input: ParsedInput<'runs.create'>) {
    const dataset = store.datasets.get(input.datasetId);
    if (!dataset) throw notFound(`Dataset ${input.datasetId}`);
    const model = store.models.list().find((m) => m.id === input.modelId);
    if (!model) throw notFound(`Model ${input.modelId}`);
    const { name: _name, datasetId: _datasetId, modelId: _modelId, method, methodOptions, diffusion, ...training } = input;
    const spec = { method, methodOptions, ...training };
    if (isDiffusionModel(model)) {
      if (!(DIFFUSION_METHODS as readonly string[]).includes(method)) {
        throw new ServiceError('validation', `${model.name} is a diffusion model: fine-tune it with ${DIFFUSION_METHODS.join(', ')}, not ${method}.`);
      }
      return { dataset, model, spec, diffusion: diffusion ?? {} };
    }
    if (diffusion) throw new ServiceError('validation', `${model.name} is a classifier: diffusion settings apply only to a diffusion (DiT) base model.`);
    const { getMethod } = await import('../engine/methods/registry');
    try {
      getMethod(input.method);
    } catch (error) {
      throw new ServiceError('validation', (error as Error).message);
    }
    return { dataset, model, spec, diffusion: undefined };
  }

  /** Raises a run's budget while no worker runs it, and resumes it (a finished run too). */
  function extendIdle(run: RunRow, steps: number): RunSummary {
    setSpec(run.id, extendedSpec(specOf(run), steps));
    logs.write(run.id, 'info', `budget raised to ${steps} steps; resuming`);
    if (run.status === 'done') store.runs.setStatus(run.id, 'stopped');
    return service.resume(run.id);
  }

  const service = {
    async create(input: ParsedInput<'runs.create'>): Promise<RunSummary> {
      const { dataset, model, spec, diffusion } = await resolveNewRun(input);
      const { name, datasetId, modelId, method } = input;
      const id = store.runs.create(name ?? `${method} on ${dataset.name}`, datasetId, modelId, method, {});
      const manifest = join(runDir(id), 'data.json');
      await mkdir(runDir(id), { recursive: true });
      try {
        await writeManifest(datasetId, manifest, diffusion ? 'diffusion' : 'classification');
      } catch (error) {
        store.runs.setStatus(id, 'failed', (error as Error).message);
        throw error;
      }
      store.runs.setConfig(id, { modelDir: model.path, manifest, spec, ...(diffusion ? { diffusion } : {}) });
      launch(requireRun(id), false);
      return summaryOf(requireRun(id));
    },
    list: (): RunSummary[] => store.runs.list().map(summaryOf),
    get(id: number): RunDetail {
      const run = requireRun(id);
      const task = (run.config as { diffusion?: unknown }).diffusion ? 'diffusion' : 'classification';
      return { ...summaryOf(run), task, config: run.config, info: run.info, metrics: store.runs.summaries(id), checkpoints: store.runs.checkpoints(id) };
    },
    /** Asks the training worker for a checkpoint at its next step boundary. */
    checkpoint(id: number): RunSummary {
      const run = requireRun(id);
      const state = live.get(id);
      if (!state) throw new ServiceError('conflict', `Run ${run.name} is not training: its last checkpoint is already saved.`);
      logs.write(id, 'info', 'checkpoint requested');
      state.child.send({ type: 'checkpoint' } satisfies WorkerRequest);
      return summaryOf(run);
    },
    /**
     * Adds `more` steps to the budget. A training run takes it at its next step boundary (the
     * worker checkpoints with the new budget, then the config follows); any other run gets the new
     * budget in its config and resumes from its last checkpoint. Either way the learning rate from
     * that step on follows the cosine over the new total, warmup unchanged.
     */
    extend(id: number, more: number): RunSummary {
      const run = requireRun(id);
      const state = live.get(id);
      const budget = Math.max(state?.pendingSteps ?? 0, specOf(run).steps) + more;
      if (budget > 1_000_000) throw new ServiceError('validation', 'A run may have at most 1,000,000 steps.');
      if (!state) return extendIdle(run, budget);
      if (state.stopRequested) throw new ServiceError('conflict', `Run ${run.name} is stopping; extend it once it has stopped.`);
      state.pendingSteps = budget;
      logs.write(id, 'info', `budget raise to ${budget} steps requested`);
      state.child.send({ type: 'extend', steps: budget } satisfies WorkerRequest);
      return summaryOf(run);
    },
    /** The last `lines` lines of the run's log, oldest first. */
    log: (id: number, lines: number) => {
      requireRun(id);
      return logs.tail(id, lines);
    },
    /** A dry run of the settings in a worker: measured step time (and a diffusion run's sample grid), memory, and advice. */
    async estimate(input: ParsedInput<'runs.estimate'>): Promise<RunEstimate> {
      const { model, spec, diffusion } = await resolveNewRun(input);
      if (estimating) throw new ServiceError('conflict', 'An estimate is already running; wait for it to finish.');
      estimating = true;
      const scratch = join(dataDir, 'tmp', `estimate-${process.pid}-${Date.now()}`);
      try {
        await mkdir(scratch, { recursive: true });
        const manifest = join(scratch, 'data.json');
        await writeManifest(input.datasetId, manifest, diffusion ? 'diffusion' : 'classification');
        const measured = await dryRun(worker, { modelDir: model.path, dataDir: manifest, outDir: scratch, spec: spec as never, diffusion });
        return adviseEstimate(measured, spec, { freeBytes: freemem(), totalBytes: totalmem() });
      } finally {
        estimating = false;
        await rm(scratch, { recursive: true, force: true });
      }
    },
    /** A diffusion run's sample grids, step 0 (the base model) first. */
    previews(id: number): RunPreview[] {
      requireRun(id);
      return store.runs.previews(id);
    },
    metrics: (id: number, name: string, afterStep: number, maxPoints?: number) => {
      requireRun(id);
      return maxPoints === undefined ? store.runs.series(id, name, '', afterStep) : store.runs.seriesWithin(id, name, '', afterStep, maxPoints);
    },
    /** Checkpoints after the current step and ends the worker; `paused` says the user means to resume. */
    stop(id: number, as: 'stopped' | 'paused' = 'stopped'): RunSummary {
      const run = requireRun(id);
      const state = live.get(id);
      if (!state) throw new ServiceError('conflict', `Run ${run.name} is not training.`);
      state.stopRequested = as;
      state.child.send({ type: 'stop' } satisfies WorkerRequest);
      return summaryOf(run);
    },
    resume(id: number): RunSummary {
      const run = requireRun(id);
      if (live.has(id)) throw new ServiceError('conflict', `Run ${run.name} is already training.`);
      if (run.status === 'done') throw new ServiceError('conflict', `Run ${run.name} has finished.`);
      // A checkpoint on disk that the database does not record was written after the last metrics
      // it stored (by a worker orphaned when the studio died, or killed between the write and its
      // message): resuming from it would leave a gap in the curves, so it goes and the steps replay.
      // Half-written checkpoint folders of a killed worker go too (no worker of this run is alive).
      const known = store.runs.latestCheckpoint(id)?.step ?? -1;
      const checkpoints = join(runDir(id), 'checkpoints');
      for (const name of existsSync(checkpoints) ? readdirSync(checkpoints) : []) {
        const step = /^step-(\d+)$/.exec(name)?.[1];
        const stale = step === undefined ? /^\.step-\d+\.[0-9a-f]+\.tmp$/.test(name) : Number(step) > known;
        if (stale) rmSync(join(checkpoints, name), { recursive: true, force: true });
      }
      launch(run, known >= 0);
      return summaryOf(requireRun(id));
    },
    /** Resolves when no worker is alive and every log line has landed (tests, shutdown). */
    async idle(): Promise<void> {
      while (live.size > 0) await new Promise((resolve) => setTimeout(resolve, 50));
      await Promise.all(storingPreviews);
      await logs.flushed();
    },
    /** At shutdown: workers are killed; their runs show as interrupted and resume from the last checkpoint. */
    killAll(): void {
      for (const [id, state] of live) {
        state.finished = true;
        state.child.kill('SIGKILL');
        store.runs.setStatus(id, 'interrupted', 'The studio closed while this run was training; resume it from its last checkpoint.');
      }
    },
  };
  return service;
}

export type RunService = ReturnType<typeof createRunService>;
