// Imports a DiT model folder (model.safetensors in the original DiT checkpoints' key layout +
// config.json with the DiT constructor's arguments) into the canonical parameters of models/dit.ts.
import * as tf from '@tensorflow/tfjs';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { CheckpointError } from '../io/checkpoint';
import { SafetensorsError, SafetensorsReader, type HostTensor } from '../io/safetensors';
import { ditParamShapes, sincosPosEmbed, type DitConfig } from '../models/dit';
import type { VitParams } from '../models/vit';
import { DEFAULT_SCHEDULE, type ScheduleConfig } from './schedule';

export interface LoadedDit {
  config: DitConfig;
  params: VitParams;
  schedule: ScheduleConfig;
  /** Class names, index = class id; the null class (id = numClasses) has no name. */
  id2label: string[];
  paramCount: number;
  name: string;
}

const configSchema = z.object({
  _name_or_path: z.string().optional(),
  model_type: z.literal('dit').optional(),
  input_size: z.number().int().positive(),
  patch_size: z.number().int().positive(),
  in_channels: z.number().int().positive(),
  hidden_size: z.number().int().positive(),
  depth: z.number().int().positive(),
  num_heads: z.number().int().positive(),
  mlp_ratio: z.number().positive().default(4),
  num_classes: z.number().int().positive(),
  learn_sigma: z.boolean().default(true),
  frequency_embedding_size: z.number().int().positive().default(256),
  id2label: z.record(z.string(), z.string()).optional(),
  diffusion: z
    .object({
      schedule: z.enum(['linear', 'cosine']).default('linear'),
      timesteps: z.number().int().positive().default(1000),
      beta_start: z.number().positive().default(1e-4),
      beta_end: z.number().positive().default(0.02),
      prediction: z.literal('epsilon').default('epsilon'),
    })
    .optional(),
});

/** True when a folder's config.json declares a DiT (model_type "dit"). */
export async function isDitFolder(dir: string): Promise<boolean> {
  try {
    return (JSON.parse(await fs.readFile(path.join(dir, 'config.json'), 'utf8')) as { model_type?: unknown }).model_type === 'dit';
  } catch {
    return false;
  }
}

/** PyTorch tensor → canonical: Linear [out, in] → [in, out]; Conv2d [D, C, p, p] → [(p1 p2 c), D]. */
function toCanonical(name: string, host: HostTensor, want: number[]): tf.Tensor {
  return tf.tidy(() => {
    const t = tf.tensor(host.data, host.shape, 'float32');
    if (name === 'x_embedder.proj.weight' && t.rank === 4) {
      const [d, c, ph, pw] = t.shape as [number, number, number, number];
      return tf.reshape(tf.transpose(t, [2, 3, 1, 0]), [ph * pw * c, d]);
    }
    // nn.Embedding keeps [rows, D], which is already the canonical shape.
    if (name.endsWith('.weight') && t.rank === 2 && !name.startsWith('y_embedder.')) return tf.transpose(t);
    // Biases, the embedding table, and pos_embed stored [1, N, D].
    return t.size === want.reduce((a, b) => a * b, 1) ? tf.reshape(t, want) : t;
  });
}

/**
 * Loads a DiT folder. pos_embed may be absent from the weights (it is a fixed function of the
 * config); every other key must be present and no unknown key may be. Throws CheckpointError.
 */
export async function loadDitFolder(dir: string): Promise<LoadedDit> {
  const configFile = path.join(dir, 'config.json');
  const weightsFile = path.join(dir, 'model.safetensors');
  let raw: unknown;
  try {
    raw = JSON.parse(await fs.readFile(configFile, 'utf8'));
  } catch (err) {
    throw new CheckpointError(`${configFile}: ${(err as Error).message}`);
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new CheckpointError(`${configFile}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const cfg = parsed.data;
  if (cfg.input_size % cfg.patch_size !== 0) throw new CheckpointError(`${configFile}: input_size ${cfg.input_size} is not a multiple of patch_size ${cfg.patch_size}`);
  if (cfg.hidden_size % cfg.num_heads !== 0) throw new CheckpointError(`${configFile}: hidden_size ${cfg.hidden_size} is not divisible by num_heads ${cfg.num_heads}`);
  const config: DitConfig = {
    imageSize: cfg.input_size,
    patchSize: cfg.patch_size,
    inChannels: cfg.in_channels,
    hiddenSize: cfg.hidden_size,
    depth: cfg.depth,
    numHeads: cfg.num_heads,
    mlpSize: Math.floor(cfg.hidden_size * cfg.mlp_ratio),
    numClasses: cfg.num_classes,
    learnSigma: cfg.learn_sigma,
    frequencySize: cfg.frequency_embedding_size,
  };
  const d = cfg.diffusion;
  const schedule: ScheduleConfig = d ? { kind: d.schedule, timesteps: d.timesteps, betaStart: d.beta_start, betaEnd: d.beta_end } : DEFAULT_SCHEDULE;
  const id2label = Array.from({ length: config.numClasses }, (_, i) => cfg.id2label?.[String(i)] ?? String(i));

  const reader = await SafetensorsReader.open(weightsFile).catch((err: unknown) => {
    throw new CheckpointError((err as NodeJS.ErrnoException).code === 'ENOENT' ? `${weightsFile}: not found` : (err as Error).message);
  });
  const params: Record<string, tf.Tensor> = {};
  try {
    const names = new Set(reader.names);
    const expected = ditParamShapes(config);
    const missing = [...expected.keys()].filter((n) => !names.has(n) && n !== 'pos_embed');
    if (missing.length > 0) throw new CheckpointError(`${weightsFile}: missing DiT keys: ${missing.slice(0, 4).join(', ')}${missing.length > 4 ? ` (${missing.length} in all)` : ''}`);
    const unknown = [...names].filter((n) => !expected.has(n));
    if (unknown.length > 0) throw new CheckpointError(`${weightsFile}: unexpected DiT keys: ${unknown.slice(0, 4).join(', ')}${unknown.length > 4 ? ` (${unknown.length} in all)` : ''}`);
    for (const [name, want] of expected) {
      if (!names.has(name)) {
        params[name] = tf.tensor2d(sincosPosEmbed(config.hiddenSize, config.imageSize / config.patchSize), want as [number, number]);
        continue;
      }
      const host = await reader.read(name).catch((err: unknown) => {
        throw err instanceof SafetensorsError ? new CheckpointError(err.message) : err;
      });
      const t = toCanonical(name, host, want);
      params[name] = t;
      if (t.shape.join(',') !== want.join(',')) {
        throw new CheckpointError(`${weightsFile}: ${name} [${host.shape.join(', ')}] does not fit config.json (expects [${want.join(', ')}] after conversion)`);
      }
    }
  } catch (err) {
    tf.dispose(Object.values(params));
    throw err;
  } finally {
    await reader.close();
  }
  const paramCount = Object.values(params).reduce((n, t) => n + t.size, 0);
  return { config, params, schedule, id2label, paramCount, name: cfg._name_or_path || path.basename(path.resolve(dir)) };
}
