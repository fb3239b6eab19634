// Trainer checkpoints: everything a resume needs to continue the exact same trajectory
// (trainable tensors, optimizer slots and step count, RNG state, data order and position, the
// spec), in a folder that appears atomically and carries a sha256 manifest, so a torn or
// corrupted checkpoint is detected and never loaded.
import * as tf from '@tensorflow/tfjs';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../io/atomic';
import { readSafetensors, writeSafetensors, type HostTensor } from '../io/safetensors';
import type { NamedTensors } from '../methods/types';
import type { OptimizerState } from './optim';
import type { RngState } from './rng';
import type { TrainSpec } from './spec';

const STATE_FILE = 'state.safetensors';
const MANIFEST_FILE = 'manifest.json';
const FORMAT = 'peft-studio-checkpoint/1';

export interface DataPosition {
  epoch: number;
  /** The current epoch's order of training-sample indices. */
  order: number[];
  /** Next position in `order`. */
  cursor: number;
}

export interface TrainerState {
  step: number;
  trainable: NamedTensors;
  optimizer: OptimizerState;
  rng: RngState;
  data: DataPosition;
}

interface Meta {
  format: string;
  step: number;
  optimizerT: number;
  rng: RngState;
  data: DataPosition;
  spec: TrainSpec;
  numLabels: number;
  classes: string[];
}

export interface SavedCheckpoint {
  dir: string;
  sha256: string;
}

export function checkpointDirName(step: number): string {
  return `step-${String(step).padStart(8, '0')}`;
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Writes `<root>/step-NNNNNNNN/`; returns the folder and the sha256 of its state file. */
export async function saveCheckpoint(
  root: string,
  state: TrainerState,
  context: { spec: TrainSpec; classes: string[]; numLabels: number },
): Promise<SavedCheckpoint> {
  const tensors: Record<string, HostTensor> = {};
  const add = (key: string, t: tf.Tensor) => {
    // Int32 tensors (index buffers of sparse methods) stay exact as I32.
    tensors[key] =
      t.dtype === 'int32'
        ? { dtype: 'int32', shape: [...t.shape], data: t.dataSync() as Int32Array }
        : { dtype: 'float32', shape: [...t.shape], data: t.dataSync() as Float32Array };
  };
  for (const [name, t] of Object.entries(state.trainable)) add(`param/${name}`, t);
  for (const [slot, byName] of Object.entries(state.optimizer.slots)) for (const [name, t] of Object.entries(byName)) add(`opt/${slot}/${name}`, t);
  const meta: Meta = {
    format: FORMAT,
    step: state.step,
    optimizerT: state.optimizer.t,
    rng: state.rng,
    data: state.data,
    spec: context.spec,
    numLabels: context.numLabels,
    classes: context.classes,
  };
  await fs.mkdir(root, { recursive: true });
  const final = path.join(root, checkpointDirName(state.step));
  // Build in a temporary sibling, then rename: the step folder exists only once complete.
  const temp = path.join(root, `.${checkpointDirName(state.step)}.${randomBytes(4).toString('hex')}.tmp`);
  await fs.mkdir(temp);
  try {
    const file = path.join(temp, STATE_FILE);
    await writeSafetensors(file, tensors, { trainer: JSON.stringify(meta) });
    const digest = sha256(await fs.readFile(file));
    await writeFileAtomic(path.join(temp, MANIFEST_FILE), [Buffer.from(JSON.stringify({ format: FORMAT, files: { [STATE_FILE]: digest } }, null, 2))]);
    await fs.rm(final, { recursive: true, force: true });
    await fs.rename(temp, final);
    return { dir: final, sha256: digest };
  } catch (err) {
    await fs.rm(temp, { recursive: true, force: true });
    throw err;
  }
}

export interface LoadedCheckpoint {
  dir: string;
  state: TrainerState;
  spec: TrainSpec;
  classes: string[];
  numLabels: number;
}

/** Verifies the manifest's hash before parsing anything; throws a one-line reason otherwise. */
export async function loadCheckpoint(dir: string): Promise<LoadedCheckpoint> {
  let manifest: { format?: string; files?: Record<string, string> };
  try {
    manifest = JSON.parse(await fs.readFile(path.join(dir, MANIFEST_FILE), 'utf8')) as typeof manifest;
  } catch (err) {
    throw new Error(`${dir}: no readable ${MANIFEST_FILE} (${(err as Error).message.split('\n')[0]})`, { cause: err });
  }
  const expected = manifest.files?.[STATE_FILE];
  if (manifest.format !== FORMAT || typeof expected !== 'string') throw new Error(`${dir}: ${MANIFEST_FILE} is not a ${FORMAT} manifest`);
  const file = path.join(dir, STATE_FILE);
  const actual = sha256(await fs.readFile(file));
  if (actual !== expected) throw new Error(`${file}: sha256 ${actual.slice(0, 12)}… does not match the manifest (${expected.slice(0, 12)}…): corrupt checkpoint`);
  const { tensors, metadata } = await readSafetensors(file);
  const meta = JSON.parse(metadata.trainer ?? 'null') as Meta | null;
  if (!meta || meta.format !== FORMAT) throw new Error(`${file}: missing trainer metadata`);
  const trainable: NamedTensors = {};
  const slots: Record<string, NamedTensors> = {};
  for (const [key, h] of tensors) {
    const t = tf.tensor(h.data, h.shape, h.dtype);
    if (key.startsWith('param/')) trainable[key.slice('param/'.length)] = t;
    else {
      const m = /^opt\/([^/]+)\/(.+)$/.exec(key);
      if (!m) {
        t.dispose();
        continue;
      }
      (slots[m[1]!] ??= {})[m[2]!] = t;
    }
  }
  return {
    dir,
    state: { step: meta.step, trainable, optimizer: { t: meta.optimizerT, slots }, rng: meta.rng, data: meta.data },
    spec: meta.spec,
    classes: meta.classes,
    numLabels: meta.numLabels,
  };
}

/**
 * A checkpoint folder, or a run folder whose `checkpoints/` holds several: the newest that
 * verifies. Corrupt ones are skipped and reported in `skipped`.
 */
export async function loadLatestCheckpoint(dir: string): Promise<LoadedCheckpoint & { skipped: string[] }> {
  const isCheckpoint = await fs.stat(path.join(dir, MANIFEST_FILE)).then(
    () => true,
    () => false,
  );
  if (isCheckpoint) return { ...(await loadCheckpoint(dir)), skipped: [] };
  const root = path.basename(dir) === 'checkpoints' ? dir : path.join(dir, 'checkpoints');
  const names = (await fs.readdir(root).catch(() => [] as string[])).filter((n) => /^step-\d+$/.test(n)).sort().reverse();
  const skipped: string[] = [];
  for (const name of names) {
    try {
      return { ...(await loadCheckpoint(path.join(root, name))), skipped };
    } catch (err) {
      skipped.push((err as Error).message);
    }
  }
  throw new Error(`${dir}: no valid checkpoint${skipped.length ? ` (${skipped.join('; ')})` : ' (no checkpoints/step-* folders)'}`);
}
