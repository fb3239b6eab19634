// The new-run page's estimate: a dry run of a few steps in a worker process (never the UI's or
// the main process's event loop), then advice from what it measured against this machine.
import { fork } from 'node:child_process';
import type { RunEstimate } from '../../preload/api';
import type { DryRunResult, RunSpec, WorkerMessage, WorkerRequest } from '../worker/protocol';
import { ServiceError } from './errors';
import type { WorkerEntry } from './runs';

/** Updates the dry run takes; the first is not timed (it pays one-off kernel set-up). */
export const DRY_RUN_STEPS = 5;
/** A dry run longer than this is ended: its estimate would not be worth the wait. */
const DRY_RUN_TIMEOUT_MS = 10 * 60 * 1000;
/** Above this share of the machine's memory a run is expected to be killed or to swap. */
const TOTAL_MEMORY_SHARE = 0.9;
/** A budget longer than this gets a "will take long" note. */
const LONG_RUN_S = 60 * 60;

/** Forks a worker for one dry run and resolves with what it measured. */
export function dryRun(worker: WorkerEntry, run: RunSpec, steps = DRY_RUN_STEPS): Promise<DryRunResult> {
  return new Promise((resolve, reject) => {
    const child = fork(worker.modulePath, [], { execArgv: worker.execArgv, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    let stderr = '';
    let result: DryRunResult | undefined;
    let failure: string | undefined;
    const timer = setTimeout(() => {
      failure = `the dry run took longer than ${DRY_RUN_TIMEOUT_MS / 60_000} minutes`;
      child.kill('SIGKILL');
    }, DRY_RUN_TIMEOUT_MS);
    child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4_000)));
    child.on('message', (raw) => {
      const message = raw as WorkerMessage;
      if (message.type === 'ready') child.send({ type: 'estimate', run, steps } satisfies WorkerRequest);
      else if (message.type === 'estimate') {
        const { type: _type, ...measured } = message;
        result = measured;
      } else if (message.type === 'error') failure = message.message;
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (result) return resolve(result);
      const reason = failure ?? (stderr.trim().split('\n').at(-1) || `the dry-run process ended (${signal ?? `exit code ${code}`})`);
      reject(new ServiceError('validation', `The dry run failed: ${reason}`));
    });
  });
}

const gib = (bytes: number) => `${(bytes / 1024 ** 3).toFixed(bytes < 10 * 1024 ** 3 ? 1 : 0)} GiB`;

function duration(s: number): string {
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 90 * 60) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

/**
 * Turns a dry run into the estimate the new-run page shows: the time for the whole budget (with a
 * diffusion run's sample grids) and the peak memory projected over the full run (the
 * decoded-image cache keeps growing as images are first seen), checked against this machine's
 * memory, with what to change when it won't do.
 */
export function adviseEstimate(
  measured: DryRunResult,
  run: { steps: number; batchSize: number },
  memory: { freeBytes: number; totalBytes: number },
): RunEstimate {
  const previews = measured.previews && { ...measured.previews, totalS: (measured.previews.grids * measured.previews.msPerGrid) / 1000 };
  const etaS = measured.setupS + (run.steps * measured.msPerStep) / 1000 + (previews?.totalS ?? 0);
  const projected = measured.peakBytes + measured.cacheGrowthBytes;
  const advice: string[] = [];
  let fits: RunEstimate['fits'] = 'yes';
  const smaller = run.batchSize > 1 ? ` lower the batch size (now ${run.batchSize}),` : '';
  if (projected > memory.totalBytes * TOTAL_MEMORY_SHARE) {
    fits = 'no';
    advice.push(
      `It will not fit: it needs about ${gib(projected)} and this machine has ${gib(memory.totalBytes)} in all —${smaller} use a smaller base model, or a method with fewer trainable parameters.`,
    );
  } else if (projected > memory.freeBytes) {
    fits = 'tight';
    advice.push(
      `Memory is tight: it needs about ${gib(projected)} and ${gib(memory.freeBytes)} is free now — close other programs or${smaller || ' choose a smaller model'} first.`,
    );
  }
  if (etaS > LONG_RUN_S) {
    const grids = previews ? ` plus ${previews.grids.toLocaleString('en-US')} sample grids (${duration(previews.totalS)})` : '';
    const sooner = previews
      ? 'fewer steps, a smaller batch, or fewer and smaller sample grids (Samples every, Samples per grid, Sampling steps) finish sooner'
      : 'fewer steps, a smaller batch, or a method that caches features (linear-probe) finish sooner';
    advice.push(
      `It will take long: about ${duration(etaS)} for ${run.steps.toLocaleString('en-US')} steps at ${(measured.msPerStep / 1000).toFixed(2)} s per step${grids} — ${sooner}.`,
    );
  }
  return {
    trainableParams: measured.trainableParams,
    totalParams: measured.totalParams,
    trainSize: measured.trainSize,
    valSize: measured.valSize,
    msPerStep: measured.msPerStep,
    stepsMeasured: measured.stepsMeasured,
    setupS: measured.setupS,
    etaS,
    ...(previews ? { previews } : {}),
    peakBytes: measured.peakBytes,
    projectedPeakBytes: projected,
    freeMemoryBytes: memory.freeBytes,
    totalMemoryBytes: memory.totalBytes,
    fits,
    advice,
  };
}
