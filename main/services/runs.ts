import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ParsedInput, RunDetail, RunSummary } from '../../preload/api';
import { writeFileAtomic } from '../engine/io/atomic';
import type { DatasetManifest } from '../engine/data/manifest';
import type { WorkerMessage, WorkerRequest } from '../worker/protocol';
import type { Store } from '../store';
import type { MetricPoint, RunRow } from '../store/runs';
import { notFound, ServiceError } from './errors';
import type { EventBus } from './events';
import type { MediaStore } from './media';

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
}

export function createRunService(store: Store, media: MediaStore, events: EventBus, dataDir: string, worker: WorkerEntry) {
  const live = new Map<number, LiveRun>();
  const runDir = (id: number) => join(dataDir, 'runs', String(id));

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

  function onMessage(id: number, message: WorkerMessage) {
    const now = Date.now() / 1000;
    switch (message.type) {
      case 'ready':
        store.runs.mergeInfo(id, { pid: message.pid });
        return;
      case 'backend':
        store.runs.mergeInfo(id, { backend: message.name, backendReason: message.reason });
        return;
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
      case 'checkpoint':
        flush(id);
        store.runs.addCheckpoint(id, message.step, message.path, message.sha256);
        return;
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

  function launch(run: RunRow, resume: boolean) {
    const config = run.config as { modelDir: string; manifest: string; spec: Record<string, unknown> };
    const child = fork(worker.modulePath, [], { execArgv: worker.execArgv, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    const state: LiveRun = { child, stopRequested: false, finished: false, buffer: [], timer: null, stderr: '' };
    live.set(run.id, state);
    store.runs.setStatus(run.id, 'queued');
    child.stderr?.on('data', (chunk: Buffer) => {
      state.stderr = (state.stderr + chunk.toString()).slice(-4_000);
    });
    child.on('message', (message) => onMessage(run.id, message as WorkerMessage));
    child.once('message', () => {
      const request: WorkerRequest = {
        type: 'start',
        run: { modelDir: config.modelDir, dataDir: config.manifest, outDir: runDir(run.id), resume: resume ? runDir(run.id) : undefined, spec: config.spec as never },
      };
      child.send(request);
    });
    child.on('exit', (code, signal) => {
      if (state.timer) clearTimeout(state.timer);
      flush(run.id);
      live.delete(run.id);
      if (state.finished) return;
      // The worker died without saying why (killed, out of memory): never leave the run "running".
      const lastLine = state.stderr.trim().split('\n').at(-1);
      if (state.stopRequested) store.runs.setStatus(run.id, state.stopRequested);
      else store.runs.setStatus(run.id, 'failed', lastLine || `the training process ended (${signal ?? `exit code ${code}`})`);
      progress(run.id);
    });
  }

  /** The labelled images of a dataset outside its test split, as the worker reads them. */
  function writeManifest(datasetId: number, file: string) {
    const classes = store.datasets.classes(datasetId).filter((c) => c.imageCount > 0);
    if (classes.length < 2) throw new ServiceError('validation', 'Label images of at least two classes before training.');
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

  return {
    async create(input: ParsedInput<'runs.create'>): Promise<RunSummary> {
      const dataset = store.datasets.get(input.datasetId);
      if (!dataset) throw notFound(`Dataset ${input.datasetId}`);
      const model = store.models.list().find((m) => m.id === input.modelId);
      if (!model) throw notFound(`Model ${input.modelId}`);
      const { getMethod } = await import('../engine/methods/registry');
      try {
        getMethod(input.method);
      } catch (error) {
        throw new ServiceError('validation', (error as Error).message);
      }
      const { name, datasetId, modelId, method, methodOptions, ...training } = input;
      const spec = { method, methodOptions, ...training };
      const id = store.runs.create(name ?? `${method} on ${dataset.name}`, datasetId, modelId, method, {});
      const manifest = join(runDir(id), 'data.json');
      await mkdir(runDir(id), { recursive: true });
      try {
        await writeManifest(datasetId, manifest);
      } catch (error) {
        store.runs.setStatus(id, 'failed', (error as Error).message);
        throw error;
      }
      store.runs.setConfig(id, { modelDir: model.path, manifest, spec });
      launch(requireRun(id), false);
      return summaryOf(requireRun(id));
    },
    list: (): RunSummary[] => store.runs.list().map(summaryOf),
    get(id: number): RunDetail {
      const run = requireRun(id);
      return { ...summaryOf(run), config: run.config, info: run.info, metrics: store.runs.summaries(id) };
    },
    metrics: (id: number, name: string, afterStep: number) => {
      requireRun(id);
      return store.runs.series(id, name, '', afterStep);
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
    /** Resolves when no worker is alive (tests, shutdown). */
    async idle(): Promise<void> {
      while (live.size > 0) await new Promise((resolve) => setTimeout(resolve, 50));
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
}

export type RunService = ReturnType<typeof createRunService>;
