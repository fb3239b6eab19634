// Messages between the main process and a training worker (child_process.fork or Electron's
// utilityProcess). Both sides import this file; the worker validates what it receives.
import { z } from 'zod';
import { trainSpecSchema } from '../engine/train/spec';
import type { TrainEvent } from '../engine/train/trainer';

export const runSpecSchema = z
  .object({
    /** Base model folder (model.safetensors + config.json + preprocessor_config.json). */
    modelDir: z.string().min(1),
    /** ImageFolder or IDX folder. */
    dataDir: z.string().min(1),
    /** Run folder: checkpoints/, adapter/, model/. */
    outDir: z.string().min(1),
    /** Run or checkpoint folder to continue from. */
    resume: z.string().min(1).optional(),
    spec: trainSpecSchema,
  })
  .strict();

/** What the main process sends (spec fields may be left to their defaults). */
export type RunSpec = z.input<typeof runSpecSchema>;
/** What the worker runs after validation (defaults filled in). */
export type ParsedRunSpec = z.output<typeof runSpecSchema>;

/** Main → worker. `stop` checkpoints after the current step and ends the run (exit code 0). */
export const workerRequestSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('start'), run: runSpecSchema }).strict(),
  z.object({ type: z.literal('stop') }).strict(),
]);

export type WorkerRequest = { type: 'start'; run: RunSpec } | { type: 'stop' };

/**
 * Worker → main, in this order: `ready` once it listens; `backend` after tfjs starts; the
 * trainer's events (start, step, eval, checkpoint, done); or `error` (then exit code 1).
 */
export type WorkerMessage =
  | { type: 'ready'; pid: number }
  | { type: 'backend'; name: string; reason: string }
  | TrainEvent
  | { type: 'error'; message: string };
