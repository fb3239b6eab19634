// Training process entry. Started by child_process.fork (IPC via process.send / 'message') or by
// Electron's utilityProcess (process.parentPort); receives one run, drives the trainer, posts
// every event back, checkpoints and exits on `stop`, exits 1 with a one-line error on failure.
// It never imports electron or the store: the main process is the one writer of the database.
import { initBackend } from '../engine/backend';
import { loadDitFolder, type LoadedDit } from '../engine/diffusion/dit-folder';
import { defaultPreviewEvery, DiffusionRun, previewGridCount, type DiffusionRunEvent, type DiffusionRunSettings } from '../engine/diffusion/run';
import { disposeModel, loadModelFolder } from '../engine/io/checkpoint';
import { inputSpec } from '../engine/eval';
import { openTrainingData } from '../engine/train/data';
import { SAMPLE_CACHE_BYTES, Trainer, type TrainEvent } from '../engine/train/trainer';
import { storageError } from '../services/errors';
import { workerRequestSchema, type DryRunResult, type ParsedRunSpec, type WorkerMessage } from './protocol';

interface Port {
  onMessage(listener: (message: unknown) => void): void;
  /** The parent went away (fork's IPC channel closed). */
  onClose(listener: () => void): void;
  send(message: WorkerMessage): Promise<void>;
}

/** Electron's utilityProcess exposes parentPort on process; fork gives process.send. */
interface ParentPort {
  on(event: 'message', listener: (e: { data: unknown }) => void): void;
  postMessage(message: unknown): void;
}

function connect(): Port {
  const parentPort = (process as { parentPort?: ParentPort }).parentPort;
  if (parentPort) {
    return {
      onMessage: (listener) => parentPort.on('message', (e) => listener(e.data)),
      // Electron ends a utility process together with its parent.
      onClose: () => undefined,
      send: async (message) => parentPort.postMessage(message),
    };
  }
  const send = process.send?.bind(process);
  if (!send) throw new Error('the training worker must be started with child_process.fork or utilityProcess');
  return {
    onMessage: (listener) => process.on('message', listener),
    onClose: (listener) => process.on('disconnect', listener),
    // Resolving on the callback gives back-pressure and lets exit wait until the last event left.
    // A send fails only when the channel is closing (EPIPE before 'disconnect' arrives): the
    // parent is gone, no one is left to tell, so the event is dropped and onClose ends the run.
    send: (message) => (process.connected ? new Promise((resolve) => send(message, undefined, {}, () => resolve())) : Promise.resolve()),
  };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function oneLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? 'unknown error';
}

function disposeDit(model: LoadedDit): void {
  for (const tensor of Object.values(model.params)) tensor.dispose();
}

/**
 * Reads a dry run's figures from its events: start-up (from the process's start) until the start event, each step's time
 * from its examples/s, and calls `stop` once `steps` steps are in. The first step is not timed
 * (it pays one-off kernel set-up) unless it is the only one.
 */
function dryRunClock(batchSize: number, steps: number, stop: () => void) {
  const stepMs: number[] = [];
  let setupS = 0;
  let started: Extract<TrainEvent, { type: 'start' }> | undefined;
  return {
    onEvent(e: DiffusionRunEvent): void {
      if (e.type === 'start') {
        // From the process's start (performance's time origin): a run pays its start-up too.
        setupS = performance.now() / 1000;
        started = e;
      }
      if (e.type === 'step') {
        stepMs.push((batchSize / e.examplesPerS) * 1000);
        if (stepMs.length >= steps) stop();
      }
    },
    result() {
      if (!started || stepMs.length === 0) throw new Error('the dry run took no step');
      const timed = stepMs.length > 1 ? stepMs.slice(1) : stepMs;
      const measured = {
        trainableParams: started.trainableParams,
        totalParams: started.totalParams,
        trainSize: started.trainSize,
        valSize: started.valSize,
        setupS,
        msPerStep: median(timed),
        stepsMeasured: timed.length,
        // maxRSS is in kilobytes.
        peakBytes: process.resourceUsage().maxRSS * 1024,
      } satisfies Omit<DryRunResult, 'cacheGrowthBytes' | 'previews'>;
      return { measured, started, stepsTaken: stepMs.length };
    },
  };
}

async function main(): Promise<void> {
  const port = connect();
  let trainer: Pick<Trainer, 'stop' | 'requestCheckpoint' | 'extend'> | undefined;
  let started = false;
  let stopBeforeStart = false;
  const fail = async (err: unknown) => {
    // A full or read-only disk under a checkpoint write reads as what to do about it.
    const message = storageError(err)?.message ?? oneLine(err);
    process.stderr.write(`peft-studio worker: ${message}\n`);
    await port.send({ type: 'error', message }).catch(() => undefined);
    process.exit(1);
  };

  // Commands that arrive while the model loads are applied once the trainer exists.
  const early: { checkpoint: boolean; extend: number } = { checkpoint: false, extend: 0 };

  /** Same commands, same events: a DiffusionRun stands where the Trainer would. */
  const runDiffusion = async ({ modelDir, dataDir, outDir, resume, spec }: ParsedRunSpec, settings: DiffusionRunSettings) => {
    const model = await loadDitFolder(modelDir);
    try {
      const dataset = await openTrainingData(dataDir);
      const pending: Promise<void>[] = [];
      const diffusion = new DiffusionRun({ model, dataset, spec, settings, outDir, resume, onEvent: (e) => void pending.push(port.send(e)) });
      trainer = diffusion;
      if (stopBeforeStart) diffusion.stop();
      if (early.checkpoint) diffusion.requestCheckpoint();
      if (early.extend > 0) diffusion.extend(early.extend);
      await diffusion.run();
      await Promise.all(pending);
    } finally {
      disposeDit(model);
    }
  };

  const run = async (request: ParsedRunSpec) => {
    const { modelDir, dataDir, outDir, resume, spec } = request;
    const backend = await initBackend();
    await port.send({ type: 'backend', name: backend.name, reason: backend.reason });
    if (request.diffusion) return runDiffusion(request, request.diffusion);
    const model = await loadModelFolder(modelDir);
    try {
      const dataset = await openTrainingData(dataDir);
      // Events are posted without awaiting inside the loop; ordering is kept by the channel.
      const pending: Promise<void>[] = [];
      const classifier = new Trainer({ model, dataset, spec, outDir, resume, onEvent: (e) => void pending.push(port.send(e)) });
      trainer = classifier;
      if (stopBeforeStart) classifier.stop();
      if (early.checkpoint) classifier.requestCheckpoint();
      if (early.extend > 0) classifier.extend(early.extend);
      await classifier.run();
      await Promise.all(pending);
    } finally {
      disposeModel(model);
    }
  };

  /**
   * A dry run: the real trainer on the real data for `steps` updates (no evaluation, no periodic
   * checkpoints; outDir is a scratch folder the caller removes), timing each step and reading the
   * process's peak resident memory, which is what decides whether a run fits.
   */
  const estimateClassifier = async ({ modelDir, dataDir, outDir, spec }: ParsedRunSpec, steps: number): Promise<DryRunResult> => {
    const model = await loadModelFolder(modelDir);
    try {
      const dataset = await openTrainingData(dataDir);
      const quiet = Math.max(spec.steps, steps) + 1;
      const clock = dryRunClock(spec.batchSize, steps, () => dry.stop());
      const dry = new Trainer({ model, dataset, spec: { ...spec, evalEvery: quiet, checkpointEvery: quiet }, outDir, onEvent: clock.onEvent });
      trainer = dry;
      await dry.run();
      const { measured, started, stepsTaken } = clock.result();
      const { imageSize, numChannels } = inputSpec(model);
      const perImage = imageSize * imageSize * numChannels * 4;
      const seen = Math.min(stepsTaken * spec.batchSize, started.trainSize);
      return {
        ...measured,
        cacheGrowthBytes: Math.max(0, Math.min(SAMPLE_CACHE_BYTES, (started.trainSize + started.valSize) * perImage) - seen * perImage),
      };
    } finally {
      disposeModel(model);
    }
  };

  /**
   * A diffusion run's dry run: the real DiffusionRun for `steps` updates (base grid first, as the
   * run does), then one grid of the run's own size and sampler after the last step, timed from
   * that step's end to the grid's PNGs. No decoded-image cache grows over a diffusion run.
   */
  const estimateDiffusion = async ({ modelDir, dataDir, outDir, spec }: ParsedRunSpec, settings: DiffusionRunSettings, steps: number): Promise<DryRunResult> => {
    const model = await loadDitFolder(modelDir);
    try {
      const dataset = await openTrainingData(dataDir);
      const clock = dryRunClock(spec.batchSize, steps, () => dry.stop());
      let lastStepAt = 0;
      let msPerGrid: number | undefined;
      const dry = new DiffusionRun({
        model,
        dataset,
        spec: { ...spec, checkpointEvery: Math.max(spec.steps, steps) + 1 },
        settings: { ...settings, previewEvery: steps },
        outDir,
        onEvent: (e) => {
          clock.onEvent(e);
          if (e.type === 'step') lastStepAt = performance.now();
          if (e.type === 'previews' && e.step > 0) msPerGrid = performance.now() - lastStepAt;
        },
      });
      trainer = dry;
      await dry.run();
      if (msPerGrid === undefined) throw new Error('the dry run sampled no grid after a step');
      const previewEvery = settings.previewEvery ?? defaultPreviewEvery(spec.steps);
      return {
        ...clock.result().measured,
        cacheGrowthBytes: 0,
        previews: { grids: previewGridCount(spec.steps, previewEvery), msPerGrid, samplesPerGrid: settings.previewCount, samplingSteps: settings.previewSteps },
      };
    } finally {
      disposeDit(model);
    }
  };

  const estimate = async (request: ParsedRunSpec, steps: number): Promise<DryRunResult> => {
    await initBackend();
    return request.diffusion ? estimateDiffusion(request, request.diffusion, steps) : estimateClassifier(request, steps);
  };

  // An orphaned run would train for nobody: checkpoint (so it can be resumed) and end.
  port.onClose(() => {
    if (trainer) trainer.stop();
    else process.exit(0);
  });

  port.onMessage((message) => {
    const parsed = workerRequestSchema.safeParse(message);
    if (!parsed.success) {
      void fail(new Error(`invalid message: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'message'}: ${i.message}`).join('; ')}`));
      return;
    }
    const request = parsed.data;
    if (request.type === 'stop') {
      if (trainer) trainer.stop();
      else if (started) stopBeforeStart = true;
      else process.exit(0);
      return;
    }
    if (request.type === 'checkpoint') {
      if (trainer) trainer.requestCheckpoint();
      else early.checkpoint = true;
      return;
    }
    if (request.type === 'extend') {
      if (trainer) trainer.extend(request.steps);
      else early.extend = Math.max(early.extend, request.steps);
      return;
    }
    if (started) {
      void fail(new Error('this worker already has a run; start a new worker per run'));
      return;
    }
    started = true;
    const work =
      request.type === 'estimate'
        ? estimate(request.run, request.steps).then((result) => port.send({ type: 'estimate', ...result }))
        : run(request.run);
    work.then(
      () => process.exit(0),
      (err: unknown) => fail(err),
    );
  });
  await port.send({ type: 'ready', pid: process.pid });
}

// tfjs' wasm module rethrows from its own uncaughtException/unhandledRejection listeners, which
// dumps its minified source; ours go first and end the process with the one-line error instead.
const crash = (err: unknown) => {
  process.stderr.write(`peft-studio worker: ${oneLine(err)}\n`);
  process.exit(1);
};
process.prependListener('uncaughtException', crash);
process.prependListener('unhandledRejection', crash);

main().catch((err: unknown) => {
  process.stderr.write(`peft-studio worker: ${oneLine(err)}\n`);
  process.exit(1);
});
