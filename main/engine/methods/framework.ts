// What every method shares: the new head side (trainable in every method), assembling trainable
// tensors, forward and merged parameter sets, option parsing, and the canonical adapter format.
import * as tf from '@tensorflow/tfjs';
import type { CheckpointLayout } from '../io/checkpoint';
import { normAfterPooling, vitParamShapes, type VitConfig, type VitParams } from '../models/vit';
import type { Rng } from '../train/rng';
import { layoutModulePath } from './modules';
import type { NamedTensors, PeftMethod } from './types';

/** Standard deviation of the new head's weights (ViT's initializer_range). */
const HEAD_INIT_STD = 0.02;

/** The base config with a head for `numLabels` classes. */
export function targetConfig(config: VitConfig, numLabels: number): VitConfig {
  return { ...config, numLabels };
}

/**
 * The head side: the new classifier plus the final LayerNorm when it sits right before it
 * (normAfterPooling), as in a linear probe of "head + its LayerNorm".
 */
export function headSideShapes(config: VitConfig): Map<string, number[]> {
  const d = config.hiddenSize;
  const shapes = new Map<string, number[]>();
  // No classes, no head side: the DiT seen as a ViT (diffusion/finetune.ts ditAsVit).
  if (config.numLabels === 0) return shapes;
  if (config.finalNorm !== 'none' && normAfterPooling(config)) shapes.set('norm.weight', [d]).set('norm.bias', [d]);
  return shapes.set('head.weight', [d, config.numLabels]).set('head.bias', [config.numLabels]);
}

/** New head N(0, 0.02²) with zero bias; the final norm starts from the pretrained one. */
export function initHeadSide(base: VitParams, config: VitConfig, rng: Rng): NamedTensors {
  const out: NamedTensors = {};
  for (const [name, shape] of headSideShapes(config)) {
    if (name === 'head.weight') out[name] = tf.tensor(rng.fill(shape[0]! * shape[1]!, (r) => HEAD_INIT_STD * r.normal()), shape);
    else if (name === 'head.bias') out[name] = tf.zeros(shape);
    else {
      const source = base[name];
      if (!source) throw new Error(`base model has no "${name}" to start the head side from`);
      out[name] = tf.clone(source);
    }
  }
  return out;
}

/** Every trainable name and shape of a method, head side first, in a stable order. */
export function trainableShapes<O extends object>(method: PeftMethod<O>, config: VitConfig, options: O): Map<string, number[]> {
  return new Map([...headSideShapes(config), ...method.shapes(config, options)]);
}

export function trainableParamCount<O extends object>(method: PeftMethod<O>, config: VitConfig, options: O): number {
  let n = 0;
  for (const shape of trainableShapes(method, config, options).values()) n += shape.reduce((a, b) => a * b, 1);
  return n;
}

/** Trainable tensors of a fresh run: head side, then the method's own, checked against shapes(). */
export function initTrainable<O extends object>(method: PeftMethod<O>, base: VitParams, config: VitConfig, options: O, rng: Rng): NamedTensors {
  const trainable = { ...initHeadSide(base, config, rng), ...method.init(base, config, options, rng) };
  const expected = new Map([...trainableShapes(method, config, options), ...(method.buffers?.(config, options) ?? [])]);
  const names = Object.keys(trainable);
  const problem =
    names.find((n) => !expected.has(n)) ??
    [...expected.keys()].find((n) => !trainable[n] || trainable[n].shape.join(',') !== expected.get(n)!.join(','));
  if (problem !== undefined || names.length !== expected.size) {
    tf.dispose(Object.values(trainable));
    throw new Error(`method ${method.name}: init() disagrees with shapes() at "${problem ?? '(count)'}"`);
  }
  return trainable;
}

/** The parameter set the forward sees: trainable tensors override base ones of the same name. */
export function forwardParams(base: VitParams, trainable: NamedTensors): VitParams {
  return { ...base, ...trainable };
}

/**
 * Canonical ViT parameters with the method folded in, for export and hook-free inference.
 * `owned` lists the tensors created here (dispose them); everything else is shared.
 */
export function mergedParams<O extends object>(
  method: PeftMethod<O>,
  base: VitParams,
  trainable: NamedTensors,
  config: VitConfig,
  options: O,
): { params: VitParams; owned: tf.Tensor[] } {
  if (!method.merge) throw new Error(`method ${method.name} cannot be merged into the weights; export its adapter instead`);
  const merged = method.merge(base, trainable, config, options);
  const params: Record<string, tf.Tensor> = {};
  for (const name of vitParamShapes(config).keys()) {
    const t = merged[name] ?? trainable[name] ?? base[name];
    if (!t) throw new Error(`merged model lacks "${name}"`);
    params[name] = t;
  }
  return { params, owned: Object.values(merged) };
}

/** Validates raw options (from JSON or the CLI) against the method's schema; one-line errors. */
export function parseOptions<O extends object>(method: PeftMethod<O>, raw: unknown): O {
  const result = method.options.safeParse(raw ?? {});
  if (!result.success) {
    const issues = result.error.issues.map((i) => `${i.path.join('.') || 'options'}: ${i.message}`);
    throw new Error(`method ${method.name}: ${issues.join('; ')}`);
  }
  return result.data;
}

/** Adapter tensors under our canonical names, unchanged ([in, out] linears): clones. */
export function canonicalAdapterTensors(trainable: NamedTensors): NamedTensors {
  return Object.fromEntries(Object.entries(trainable).map(([k, t]) => [k, tf.clone(t)]));
}

/** Key prefix of Hugging Face PEFT adapter files. */
export const PEFT_PREFIX = 'base_model.model.';

/**
 * Head-side tensors in Hugging Face PEFT's modules_to_save form: the layout's module path,
 * PyTorch [out, in] linear weights. `inverse` maps file tensors back.
 */
export function peftHeadSide(tensors: NamedTensors, config: VitConfig, layout: CheckpointLayout, inverse: boolean): NamedTensors {
  const out: NamedTensors = {};
  for (const name of headSideShapes(config).keys()) {
    const [module, kind] = [name.slice(0, name.lastIndexOf('.')), name.slice(name.lastIndexOf('.') + 1)];
    const key = `${PEFT_PREFIX}${layoutModulePath(layout, module, config) ?? module}.${kind}`;
    const source = inverse ? tensors[key] : tensors[name];
    if (!source) throw new Error(`adapter lacks "${inverse ? key : name}"`);
    out[inverse ? name : key] = name === 'head.weight' ? tf.transpose(source) : tf.clone(source);
  }
  return out;
}

/** modules_to_save for a PEFT adapter_config.json: the head side's module paths. */
export function peftModulesToSave(config: VitConfig, layout: CheckpointLayout): string[] {
  const modules = new Set([...headSideShapes(config).keys()].map((n) => n.slice(0, n.lastIndexOf('.'))));
  return [...modules].map((m) => layoutModulePath(layout, m, config) ?? m);
}
