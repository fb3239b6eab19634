// Diffusion fine-tuning of a DiT with the PEFT methods of the registry. The DiT's blocks carry the
// ViT's canonical module names (blocks.{i}.attn.qkv, .attn.proj, .mlp.fc1, .mlp.fc2, .norm1,
// .norm2), so LoRA, SaRA and SSF apply unchanged through their VitHooks; `full` trains every DiT
// weight (the fixed sin-cos pos_embed excepted). The base parameters are never modified.
import * as tf from '@tensorflow/tfjs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { CheckpointLayout } from '../io/checkpoint';
import { readSafetensors } from '../io/safetensors';
import { parseOptions } from '../methods/framework';
import { getMethod } from '../methods/registry';
import type { NamedTensors, PeftMethod } from '../methods/types';
import { ditEpsilon, ditParamShapes, type DitConfig } from '../models/dit';
import type { VitConfig, VitHooks, VitParams } from '../models/vit';
import { writeMethodAdapter } from '../train/export';
import { initOptimizerState, optimizerStep, type OptimizerConfig, type OptimizerState } from '../train/optim';
import { Rng } from '../train/rng';
import { disposeBatch, epsilonLoss, noiseBatch } from './loss';
import type { NoiseSchedule } from './schedule';

/** Methods whose sites exist in a DiT (the head-side and token methods have nothing to act on). */
export const DIFFUSION_METHODS = ['full', 'lora', 'sara', 'ssf'] as const;
export type DiffusionMethod = (typeof DIFFUSION_METHODS)[number];

/** The DiT as the methods registry sees it: a ViT of the same width, depth and heads, no head. */
export function ditAsVit(config: DitConfig): VitConfig {
  return {
    imageSize: config.imageSize,
    patchSize: config.patchSize,
    numChannels: config.inChannels,
    hiddenSize: config.hiddenSize,
    depth: config.depth,
    numHeads: config.numHeads,
    headDim: config.hiddenSize / config.numHeads,
    mlpSize: config.mlpSize,
    activation: 'gelu_tanh',
    qkvBias: true,
    layerNormEps: 1e-6,
    pooling: 'cls',
    finalNorm: 'none',
    numLabels: 0,
  };
}

/** DiT module names whose ViT counterpart has another name; the rest are the same or DiT-only. */
const VIT_NAME: Readonly<Record<string, string>> = { 'x_embedder.proj': 'patch_embed' };

/** A method's ViT hooks on the DiT's module names. */
function ditHooks(hooks: VitHooks): VitHooks {
  return {
    linear: hooks.linear ? (name, x, y) => hooks.linear!(VIT_NAME[name] ?? name, x, y) : undefined,
    weight: hooks.weight ? (name, w) => hooks.weight!(VIT_NAME[name] ?? name, w) : undefined,
    norm: hooks.norm,
  };
}

export interface DiffusionTuner {
  method: DiffusionMethod;
  options: object;
  /** Trainable float tensors and the method's int32 buffers (SaRA's indices). */
  trainable: NamedTensors;
  optimizer: OptimizerState;
  optimizerConfig: OptimizerConfig;
}

const ADAMW: OptimizerConfig = { kind: 'adamw', weightDecay: 0, beta1: 0.9, beta2: 0.999, eps: 1e-8, momentum: 0 };

function registryMethod(name: DiffusionMethod): PeftMethod<object> | undefined {
  return name === 'full' ? undefined : getMethod(name);
}

const floatNames = (t: NamedTensors) => Object.keys(t).filter((n) => t[n]!.dtype === 'float32');

/** Starts a fine-tune: the method's trainable tensors (from the base weights) and AdamW state. */
export function initDiffusionTuner(base: VitParams, config: DitConfig, method: DiffusionMethod, rawOptions: unknown, rng: Rng): DiffusionTuner {
  const m = registryMethod(method);
  let options: object = {};
  let trainable: NamedTensors;
  if (m) {
    options = parseOptions(m, rawOptions);
    trainable = m.init(base, ditAsVit(config), options, rng);
  } else {
    trainable = {};
    for (const name of ditParamShapes(config).keys()) if (name !== 'pos_embed') trainable[name] = tf.clone(base[name]!);
  }
  const floats = Object.fromEntries(floatNames(trainable).map((n) => [n, trainable[n]!]));
  return { method, options, trainable, optimizer: initOptimizerState(ADAMW, floats), optimizerConfig: ADAMW };
}

/** Parameters and hooks that run the base model with the tuner's method applied (inference). */
export function tunedModel(base: VitParams, config: DitConfig, tuner: Pick<DiffusionTuner, 'method' | 'options' | 'trainable'>): { params: VitParams; hooks?: VitHooks } {
  const m = registryMethod(tuner.method);
  if (!m) return { params: { ...base, ...tuner.trainable } };
  return { params: base, hooks: ditHooks(m.hooks(tuner.trainable, ditAsVit(config), tuner.options, { training: false, rng: Rng.fromSeed(0) })) };
}

/**
 * One AdamW step on a batch of clean images x0 in [-1, 1] with their labels: noised at uniform
 * timesteps, labels dropped to the null class at `classDropout`. Replaces the tuner's trainable and
 * optimizer tensors (the old ones are disposed); returns the loss.
 */
export function diffusionStep(
  base: VitParams,
  config: DitConfig,
  tuner: DiffusionTuner,
  batch: { x0: tf.Tensor4D; labels: readonly number[] },
  schedule: NoiseSchedule,
  rng: Rng,
  options: { lr: number; classDropout: number },
): number {
  const m = registryMethod(tuner.method);
  const names = floatNames(tuner.trainable);
  const noised = noiseBatch(batch.x0, batch.labels, schedule, rng, { classDropout: options.classDropout, nullClass: config.numClasses });
  const vitView = ditAsVit(config);
  const penaltyRng = rng;
  try {
    const result = tf.tidy(() => {
      const lossOf = (...values: tf.Tensor[]): tf.Scalar => {
        const trainable = { ...tuner.trainable, ...Object.fromEntries(names.map((n, i) => [n, values[i]!])) };
        const params = m ? base : { ...base, ...trainable };
        const hooks = m ? ditHooks(m.hooks(trainable, vitView, tuner.options, { training: true, rng })) : undefined;
        const loss = epsilonLoss(ditEpsilon(params, config, { x: noised.xt, t: noised.t, y: noised.y }, hooks), noised.noise);
        return m?.penalty ? tf.add(loss, m.penalty(trainable, vitView, tuner.options, penaltyRng)) : loss;
      };
      const { value, grads } = tf.valueAndGrads(lossOf)(names.map((n) => tuner.trainable[n]!));
      const floats = Object.fromEntries(names.map((n) => [n, tuner.trainable[n]!]));
      const step = optimizerStep(tuner.optimizerConfig, floats, Object.fromEntries(names.map((n, i) => [n, grads[i]!])), tuner.optimizer, options.lr);
      return { loss: value, params: step.params, slots: step.state.slots };
    });
    const loss = result.loss.dataSync()[0]!;
    result.loss.dispose();
    tf.dispose(names.map((n) => tuner.trainable[n]!));
    tf.dispose(Object.values(tuner.optimizer.slots).flatMap((s) => Object.values(s)));
    tuner.trainable = { ...tuner.trainable, ...result.params };
    tuner.optimizer = { t: tuner.optimizer.t + 1, slots: result.slots };
    return loss;
  } finally {
    disposeBatch(noised);
  }
}

export function disposeTuner(tuner: DiffusionTuner): void {
  tf.dispose([...Object.values(tuner.trainable), ...Object.values(tuner.optimizer.slots).flatMap((s) => Object.values(s))]);
}

/**
 * Where the DiT's adapted modules sit in the original DiT checkpoints dit-folder.ts reads:
 * blocks.{i}.attn.qkv / .attn.proj / .mlp.fc1 / .mlp.fc2, the names timm gives a ViT's.
 */
const DIT_MODULE_LAYOUT: CheckpointLayout = 'timm';

/** Our facts in a diffusion adapter_config.json (top-level before the PEFT layout, under peft_studio since). */
interface DiffusionAdapterFacts {
  task: 'diffusion';
  method: DiffusionMethod;
  options: object;
  steps: number;
}

/**
 * Writes the tuner's adapter in the classifier export's Hugging Face PEFT layout (train/export.ts):
 * LoRA as base_model.model.<DiT module>.lora_A/B.weight with PEFT's adapter_config.json, the other
 * methods under our canonical names, as their classifier export has them.
 */
export async function saveDiffusionAdapter(dir: string, tuner: DiffusionTuner, config: DitConfig, meta: { baseModel: string; steps: number }): Promise<void> {
  const facts: DiffusionAdapterFacts = { task: 'diffusion', method: tuner.method, options: tuner.options, steps: meta.steps };
  await writeMethodAdapter(dir, getMethod(tuner.method), tuner.trainable, ditAsVit(config), tuner.options, DIT_MODULE_LAYOUT, {
    base_layout: 'dit',
    base_model_name_or_path: meta.baseModel,
    peft_studio: facts,
  });
}

/**
 * Reads a diffusion adapter back, checking its tensors against the method's shapes for `config`.
 * Adapters written before the PEFT layout (task at the top of adapter_config.json, canonical key
 * names throughout) still load: where the facts sit tells the two apart.
 */
export async function loadDiffusionAdapter(dir: string, config: DitConfig): Promise<Pick<DiffusionTuner, 'method' | 'options' | 'trainable'>> {
  const raw = JSON.parse(await readFile(path.join(dir, 'adapter_config.json'), 'utf8')) as Partial<DiffusionAdapterFacts> & { peft_studio?: Partial<DiffusionAdapterFacts> };
  const peftLayout = raw.peft_studio !== undefined;
  const facts = raw.peft_studio ?? raw;
  if (facts.task !== 'diffusion' || !(DIFFUSION_METHODS as readonly string[]).includes(String(facts.method))) {
    throw new Error(`${dir}: not a diffusion adapter (adapter_config.json task "${facts.task}", method "${facts.method}")`);
  }
  const method = facts.method!;
  const m = registryMethod(method);
  const options = m ? parseOptions(m, facts.options) : {};
  const vitView = ditAsVit(config);
  const expected = m
    ? new Map([...m.shapes(vitView, options), ...(m.buffers?.(vitView, options) ?? [])])
    : new Map([...ditParamShapes(config)].filter(([n]) => n !== 'pos_embed'));
  const { tensors } = await readSafetensors(path.join(dir, 'adapter_model.safetensors'));
  const file: NamedTensors = Object.fromEntries([...tensors].map(([name, h]) => [name, tf.tensor(h.data, h.shape, h.dtype)]));
  let named = file;
  try {
    named = peftLayout && m ? m.fromAdapterTensors(file, vitView, options, DIT_MODULE_LAYOUT) : file;
    for (const [name, shape] of expected) {
      const t = named[name];
      if (!t || t.shape.join(',') !== shape.join(',')) {
        throw new Error(`${dir}: adapter tensor "${name}" is ${t ? `[${t.shape.join(', ')}]` : 'missing'}, the model needs [${shape.join(', ')}]`);
      }
    }
    return { method, options, trainable: Object.fromEntries([...expected.keys()].map((name) => [name, tf.clone(named[name]!)])) };
  } finally {
    tf.dispose([...Object.values(file), ...(named === file ? [] : Object.values(named))]);
  }
}
