// Messages between the main process and a training worker (child_process.fork or Electron's
// utilityProcess). Both sides import this file; the worker validates what it receives.
import { z } from 'zod';
import { diffusionRunSettingsSchema, type DiffusionRunEvent } from '../engine/diffusion/run';
import { trainSpecSchema } from '../engine/train/spec';
import type { RunEstimatePreviews } from '../../preload/api';

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
    /** Present when the base model is a DiT: the run fine-tunes it for diffusion. */
    diffusion: diffusionRunSettingsSchema.optional(),
  })
  .strict();

/** What the main process sends (spec fields may be left to their defaults). */
export type RunSpec = z.input<typeof runSpecSchema>;
/** What the worker runs after validation (defaults filled in). */
export type ParsedRunSpec = z.output<typeof runSpecSchema>;

/**
 * Main → worker. `stop` checkpoints after the current step and ends the run (exit code 0);
 * `checkpoint` saves one at the next step boundary and goes on; `extend` raises the step budget
 * there; `estimate` is a dry run: `steps` updates, then one `estimate` message, then exit.
 */
export const workerRequestSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('start'), run: runSpecSchema }).strict(),
  z.object({ type: z.literal('stop') }).strict(),
  z.object({ type: z.literal('checkpoint') }).strict(),
  z.object({ type: z.literal('extend'), steps: z.number().int().positive() }).strict(),
  z.object({ type: z.literal('estimate'), run: runSpecSchema, steps: z.number().int().min(2).max(50) }).strict(),
]);

export type WorkerRequest =
  | { type: 'start'; run: RunSpec }
  | { type: 'stop' }
  | { type: 'checkpoint' }
  | { type: 'extend'; steps: number }
  | { type: 'estimate'; run: RunSpec; steps: number };

/** What a dry run measured (see the worker's `estimate`). */
export interface DryRunResult {
  trainableParams: number;
  totalParams: number;
  trainSize: number;
  valSize: number;
  /** Process start, model load, data open and (cached methods) feature extraction, before the first step. */
  setupS: number;
  /** Median over the measured steps after the first (which pays one-off kernel set-up). */
  msPerStep: number;
  stepsMeasured: number;
  /** The worker's peak resident memory during the dry run. */
  peakBytes: number;
  /** What the decoded-image cache would still add over a full run (it grows as images are first seen). */
  cacheGrowthBytes: number;
  /** A diffusion run's sample grids: one timed after the dry run's last step, and how many the full run draws. */
  previews?: Omit<RunEstimatePreviews, 'totalS'>;
}

/**
 * Worker → main, in this order: `ready` once it listens; `backend` after tfjs starts; the
 * trainer's events (start, step, eval, checkpoint, done; a diffusion run adds conditioning and
 * previews); or `error` (then exit code 1).
 */
export type WorkerMessage =
  | { type: 'ready'; pid: number }
  | { type: 'backend'; name: string; reason: string }
  | DiffusionRunEvent
  | ({ type: 'estimate' } & DryRunResult)
  | { type: 'error'; message: string };
