// Imports a Hugging Face-shaped model folder (model.safetensors + config.json +
// preprocessor_config.json) into the canonical ViT parameters of models/vit.ts, whichever of the
// four common key layouts the weights use.
import * as tf from '@tensorflow/tfjs';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { vitParamShapes, type VitActivation, type VitConfig, type VitFinalNorm, type VitParams, type VitPooling } from '../models/vit';
import { SafetensorsError, SafetensorsReader, type HostTensor } from './safetensors';

export type CheckpointLayout = 'hf' | 'timm' | 'torchvision' | 'lucidrains';
export const CHECKPOINT_LAYOUTS: readonly CheckpointLayout[] = ['hf', 'timm', 'torchvision', 'lucidrains'];

/** How raw images become model input (ViTImageProcessor's vocabulary, resolved). */
export interface PreprocessConfig {
  /** Target size, or null to require images of the model's size already. */
  resize: { height: number; width: number } | null;
  /** Multiplier applied to 0–255 pixel values, or null for none. */
  rescale: number | null;
  /** Per-channel mean and std (length numChannels), or null for no normalisation. */
  normalize: { mean: number[]; std: number[] } | null;
}

export interface ModelSummary {
  name: string;
  layout: CheckpointLayout;
  paramCount: number;
  imageSize: number;
  numChannels: number;
  classes: string[];
}

export interface LoadedModel {
  config: VitConfig;
  params: VitParams;
  preprocess: PreprocessConfig;
  layout: CheckpointLayout;
  id2label: string[];
  paramCount: number;
  summary: ModelSummary;
}

export class CheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointError';
  }
}

const squareSize = z.union([z.number().int().positive(), z.tuple([z.number().int().positive(), z.number().int().positive()])]);

const configSchema = z.object({
  _name_or_path: z.string().optional(),
  layout: z.enum(CHECKPOINT_LAYOUTS).optional(),
  image_size: squareSize,
  patch_size: squareSize,
  num_channels: z.number().int().positive().default(3),
  hidden_size: z.number().int().positive(),
  num_hidden_layers: z.number().int().positive(),
  num_attention_heads: z.number().int().positive(),
  head_dim: z.number().int().positive().optional(),
  intermediate_size: z.number().int().positive(),
  hidden_act: z.string().default('gelu'),
  qkv_bias: z.boolean().optional(),
  layer_norm_eps: z.number().positive().optional(),
  pooling: z.enum(['cls', 'mean', 'avg', 'token']).optional(),
  id2label: z.record(z.string(), z.string()).optional(),
});

const preprocessorSchema = z.object({
  do_resize: z.boolean().default(true),
  size: z
    .union([z.number().int().positive(), z.object({ height: z.number().int().positive(), width: z.number().int().positive() })])
    .optional(),
  do_rescale: z.boolean().default(true),
  rescale_factor: z.number().default(1 / 255),
  do_normalize: z.boolean().default(true),
  image_mean: z.union([z.number(), z.array(z.number())]).default([0.5, 0.5, 0.5]),
  image_std: z.union([z.number(), z.array(z.number())]).default([0.5, 0.5, 0.5]),
});

/** HF hidden_act names → our activations. */
const ACTIVATIONS: Readonly<Record<string, VitActivation>> = {
  relu: 'relu',
  gelu: 'gelu',
  gelu_tanh: 'gelu_tanh',
  gelu_new: 'gelu_tanh',
  gelu_pytorch_tanh: 'gelu_tanh',
};

/** Layout-specific defaults that HF's ViTConfig leaves implicit. */
const LAYOUT_DEFAULTS: Readonly<Record<CheckpointLayout, { eps: number; qkvBias: boolean }>> = {
  hf: { eps: 1e-12, qkvBias: true },
  timm: { eps: 1e-6, qkvBias: true },
  torchvision: { eps: 1e-6, qkvBias: true },
  lucidrains: { eps: 1e-5, qkvBias: false },
};

async function readJson(file: string, required: boolean): Promise<unknown> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !required) return undefined;
    throw new CheckpointError(`${file}: cannot read (${(err as Error).message})`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CheckpointError(`${file}: invalid JSON (${(err as Error).message})`);
  }
}

function parseWith<T>(schema: z.ZodType<T>, value: unknown, file: string): T {
  const result = schema.safeParse(value);
  if (!result.success) {
    const issues = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new CheckpointError(`${file}: ${issues.slice(0, 3).join('; ')}${issues.length > 3 ? ` (+${issues.length - 3} more)` : ''}`);
  }
  return result.data;
}

function square(value: number | [number, number], what: string, file: string): number {
  if (typeof value === 'number') return value;
  if (value[0] !== value[1]) throw new CheckpointError(`${file}: non-square ${what} ${value.join('×')} is not supported`);
  return value[0];
}

/** Recognises the key layout from marker keys. */
export function detectLayout(names: Iterable<string>): CheckpointLayout | undefined {
  const set = new Set(names);
  if (set.has('vit.embeddings.patch_embeddings.projection.weight') || set.has('embeddings.patch_embeddings.projection.weight')) return 'hf';
  if (set.has('patch_embed.proj.weight')) return 'timm';
  if (set.has('conv_proj.weight')) return 'torchvision';
  if (set.has('to_patch_embedding.1.weight')) return 'lucidrains';
  return undefined;
}

/**
 * One canonical tensor built from one or more source tensors:
 * 'copy' reshapes (LayerNorm params, biases, tokens, position embeddings), 'concat' joins 1-D
 * biases, 'linear' transposes a PyTorch [out, in] weight (concatenating several along out first),
 * 'conv' turns a Conv2d patch weight [D, C, p, p] into the (p1 p2 c)-ordered [p*p*C, D] matmul.
 */
interface Rule {
  target: string;
  sources: string[];
  kind: 'copy' | 'concat' | 'linear' | 'conv';
}

interface Structure {
  depth: number;
  qkvBias: boolean;
  finalNorm: VitFinalNorm;
  /** False for backbone-only checkpoints (HF ViTModel, timm num_classes=0). */
  hasHead: boolean;
}

/** Each layout's classifier module; absent in backbone-only checkpoints. */
const HEAD_MODULE: Readonly<Record<CheckpointLayout, string>> = {
  hf: 'classifier',
  timm: 'head',
  torchvision: 'heads.head',
  lucidrains: 'mlp_head.1',
};

/**
 * Keys that are known but unused: HF ViTModel's pooler (dense + tanh on the class token) is not
 * part of ViTForImageClassification's forward, which is what the engine computes.
 */
function ignoredKeys(layout: CheckpointLayout): Set<string> {
  if (layout !== 'hf') return new Set();
  return new Set(['', 'vit.'].flatMap((v) => [`${v}pooler.dense.weight`, `${v}pooler.dense.bias`]));
}

function layoutRules(layout: CheckpointLayout, s: Structure, names: ReadonlySet<string>): Rule[] {
  const rules: Rule[] = [];
  const add = (target: string, kind: Rule['kind'], ...sources: string[]) => rules.push({ target, sources, kind });
  const norm = (target: string, source: string) => {
    add(`${target}.weight`, 'copy', `${source}.weight`);
    add(`${target}.bias`, 'copy', `${source}.bias`);
  };
  const dense = (target: string, source: string) => {
    add(`${target}.weight`, 'linear', `${source}.weight`);
    add(`${target}.bias`, 'copy', `${source}.bias`);
  };
  switch (layout) {
    case 'hf': {
      const v = names.has('vit.embeddings.cls_token') ? 'vit.' : '';
      add('patch_embed.weight', 'conv', `${v}embeddings.patch_embeddings.projection.weight`);
      add('patch_embed.bias', 'copy', `${v}embeddings.patch_embeddings.projection.bias`);
      add('cls_token', 'copy', `${v}embeddings.cls_token`);
      add('pos_embed', 'copy', `${v}embeddings.position_embeddings`);
      for (let i = 0; i < s.depth; i++) {
        const l = `${v}encoder.layer.${i}`;
        const a = `${l}.attention.attention`;
        norm(`blocks.${i}.norm1`, `${l}.layernorm_before`);
        add(`blocks.${i}.attn.qkv.weight`, 'linear', `${a}.query.weight`, `${a}.key.weight`, `${a}.value.weight`);
        if (s.qkvBias) add(`blocks.${i}.attn.qkv.bias`, 'concat', `${a}.query.bias`, `${a}.key.bias`, `${a}.value.bias`);
        dense(`blocks.${i}.attn.proj`, `${l}.attention.output.dense`);
        norm(`blocks.${i}.norm2`, `${l}.layernorm_after`);
        dense(`blocks.${i}.mlp.fc1`, `${l}.intermediate.dense`);
        dense(`blocks.${i}.mlp.fc2`, `${l}.output.dense`);
      }
      if (s.finalNorm !== 'none') norm('norm', `${v}layernorm`);
      if (s.hasHead) dense('head', HEAD_MODULE[layout]);
      break;
    }
    case 'timm': {
      add('patch_embed.weight', 'conv', 'patch_embed.proj.weight');
      add('patch_embed.bias', 'copy', 'patch_embed.proj.bias');
      add('cls_token', 'copy', 'cls_token');
      add('pos_embed', 'copy', 'pos_embed');
      for (let i = 0; i < s.depth; i++) {
        const b = `blocks.${i}`;
        norm(`${b}.norm1`, `${b}.norm1`);
        add(`${b}.attn.qkv.weight`, 'linear', `${b}.attn.qkv.weight`);
        if (s.qkvBias) add(`${b}.attn.qkv.bias`, 'copy', `${b}.attn.qkv.bias`);
        dense(`${b}.attn.proj`, `${b}.attn.proj`);
        norm(`${b}.norm2`, `${b}.norm2`);
        dense(`${b}.mlp.fc1`, `${b}.mlp.fc1`);
        dense(`${b}.mlp.fc2`, `${b}.mlp.fc2`);
      }
      // timm puts the final norm on the tokens ('norm') or, with average pooling, on the pooled
      // vector ('fc_norm').
      if (s.finalNorm !== 'none') norm('norm', s.finalNorm === 'pooled' ? 'fc_norm' : 'norm');
      if (s.hasHead) dense('head', HEAD_MODULE[layout]);
      break;
    }
    case 'torchvision': {
      add('patch_embed.weight', 'conv', 'conv_proj.weight');
      add('patch_embed.bias', 'copy', 'conv_proj.bias');
      add('cls_token', 'copy', 'class_token');
      add('pos_embed', 'copy', 'encoder.pos_embedding');
      for (let i = 0; i < s.depth; i++) {
        const l = `encoder.layers.encoder_layer_${i}`;
        // torchvision ≥ 0.13 names the MLP linears mlp.0 / mlp.3; older releases linear_1 / linear_2.
        const legacy = names.has(`${l}.mlp.linear_1.weight`);
        norm(`blocks.${i}.norm1`, `${l}.ln_1`);
        add(`blocks.${i}.attn.qkv.weight`, 'linear', `${l}.self_attention.in_proj_weight`);
        add(`blocks.${i}.attn.qkv.bias`, 'copy', `${l}.self_attention.in_proj_bias`);
        dense(`blocks.${i}.attn.proj`, `${l}.self_attention.out_proj`);
        norm(`blocks.${i}.norm2`, `${l}.ln_2`);
        dense(`blocks.${i}.mlp.fc1`, `${l}.mlp.${legacy ? 'linear_1' : '0'}`);
        dense(`blocks.${i}.mlp.fc2`, `${l}.mlp.${legacy ? 'linear_2' : '3'}`);
      }
      norm('norm', 'encoder.ln');
      if (s.hasHead) dense('head', HEAD_MODULE[layout]);
      break;
    }
    case 'lucidrains': {
      add('patch_embed.weight', 'linear', 'to_patch_embedding.1.weight');
      add('patch_embed.bias', 'copy', 'to_patch_embedding.1.bias');
      add('cls_token', 'copy', 'cls_token');
      add('pos_embed', 'copy', 'pos_embedding');
      for (let i = 0; i < s.depth; i++) {
        const l = `transformer.layers.${i}`;
        norm(`blocks.${i}.norm1`, `${l}.0.norm`);
        add(`blocks.${i}.attn.qkv.weight`, 'linear', `${l}.0.fn.to_qkv.weight`);
        if (s.qkvBias) add(`blocks.${i}.attn.qkv.bias`, 'copy', `${l}.0.fn.to_qkv.bias`);
        dense(`blocks.${i}.attn.proj`, `${l}.0.fn.to_out.0`);
        norm(`blocks.${i}.norm2`, `${l}.1.norm`);
        dense(`blocks.${i}.mlp.fc1`, `${l}.1.fn.net.0`);
        dense(`blocks.${i}.mlp.fc2`, `${l}.1.fn.net.3`);
      }
      norm('norm', 'mlp_head.0');
      if (s.hasHead) dense('head', HEAD_MODULE[layout]);
      break;
    }
  }
  return rules;
}

/** Final-norm placement and class-token handling as each layout defines them. */
function layoutStructure(
  layout: CheckpointLayout,
  names: ReadonlySet<string>,
  pooling: 'cls' | 'mean' | undefined,
): { finalNorm: VitFinalNorm; pooling: VitPooling } {
  switch (layout) {
    case 'hf':
      return {
        finalNorm: names.has('vit.layernorm.weight') || names.has('layernorm.weight') ? 'tokens' : 'none',
        pooling: pooling ?? 'cls',
      };
    case 'timm':
      return {
        finalNorm: names.has('fc_norm.weight') ? 'pooled' : names.has('norm.weight') ? 'tokens' : 'none',
        pooling: pooling ?? (names.has('fc_norm.weight') ? 'mean' : 'cls'),
      };
    case 'torchvision':
      return { finalNorm: 'tokens', pooling: 'cls' };
    case 'lucidrains':
      // lucidrains' `x.mean(dim=1)` averages the class token too.
      return { finalNorm: 'pooled', pooling: pooling === 'mean' ? 'mean_all' : 'cls' };
  }
}

function listNames(names: string[]): string {
  const shown = names.slice(0, 4).join(', ');
  return names.length > 4 ? `${shown}, … (${names.length} in all)` : `${shown} (${names.length})`;
}

function convert(rule: Rule, sources: HostTensor[], want: number[]): tf.Tensor {
  return tf.tidy(() => {
    const ts = sources.map((h) => tf.tensor(h.data, h.shape, 'float32'));
    switch (rule.kind) {
      case 'copy': {
        // Sources may carry leading 1-dims ([1, 1, D] tokens): reshape when the sizes agree and
        // leave other shapes alone for the caller's shape check to report.
        const t = ts[0]!;
        return t.size === want.reduce((a, b) => a * b, 1) ? tf.reshape(t, want) : t;
      }
      case 'concat':
        return tf.concat(ts.map((t) => t.flatten()), 0);
      case 'linear':
        return tf.transpose(ts.length === 1 ? ts[0]! : tf.concat(ts, 0));
      case 'conv': {
        const [d, c, ph, pw] = ts[0]!.shape as [number, number, number, number];
        return tf.reshape(tf.transpose(ts[0]!, [2, 3, 1, 0]), [ph * pw * c, d]);
      }
    }
  });
}

/**
 * Loads a model folder. Throws CheckpointError with a one-line message naming what is wrong
 * (missing or unexpected keys, shape mismatches, bad config values).
 */
export async function loadModelFolder(dir: string): Promise<LoadedModel> {
  const configFile = path.join(dir, 'config.json');
  const weightsFile = path.join(dir, 'model.safetensors');
  const cfg = parseWith(configSchema, await readJson(configFile, true), configFile);
  const reader = await SafetensorsReader.open(weightsFile).catch((err: unknown) => {
    throw new CheckpointError((err as NodeJS.ErrnoException).code === 'ENOENT' ? `${weightsFile}: not found` : (err as Error).message);
  });
  try {
    const names = new Set(reader.names);
    const detected = detectLayout(names);
    if (!detected) {
      throw new CheckpointError(`${weightsFile}: key layout not recognised (keys: ${listNames([...names].sort())})`);
    }
    if (cfg.layout && cfg.layout !== detected) {
      throw new CheckpointError(`${configFile}: layout "${cfg.layout}" but the weights use the ${detected} layout`);
    }
    const layout = detected;
    const activation = ACTIVATIONS[cfg.hidden_act];
    if (!activation) {
      throw new CheckpointError(`${configFile}: hidden_act "${cfg.hidden_act}" is not supported (${Object.keys(ACTIVATIONS).join(', ')})`);
    }
    const defaults = LAYOUT_DEFAULTS[layout];
    const requestedPooling = cfg.pooling === undefined ? undefined : cfg.pooling === 'avg' || cfg.pooling === 'mean' ? 'mean' : 'cls';
    const { finalNorm, pooling } = layoutStructure(layout, names, requestedPooling);
    const qkvBias = layout === 'torchvision' ? true : (cfg.qkv_bias ?? defaults.qkvBias);
    const imageSize = square(cfg.image_size, 'image_size', configFile);
    const patchSize = square(cfg.patch_size, 'patch_size', configFile);
    if (imageSize % patchSize !== 0) throw new CheckpointError(`${configFile}: image_size ${imageSize} is not a multiple of patch_size ${patchSize}`);
    const numHeads = cfg.num_attention_heads;
    const headDim = cfg.head_dim ?? cfg.hidden_size / numHeads;
    if (!Number.isInteger(headDim)) {
      throw new CheckpointError(`${configFile}: hidden_size ${cfg.hidden_size} is not divisible by num_attention_heads ${numHeads}; set head_dim`);
    }

    const headWeight = `${HEAD_MODULE[layout]}.weight`;
    const hasHead = names.has(headWeight);
    const rules = layoutRules(layout, { depth: cfg.num_hidden_layers, qkvBias, finalNorm, hasHead }, names);
    const used = new Set(rules.flatMap((r) => r.sources));
    const missing = [...used].filter((n) => !names.has(n));
    if (missing.length > 0) throw new CheckpointError(`${weightsFile}: missing ${layout} keys: ${listNames(missing)}`);
    const ignored = ignoredKeys(layout);
    const unknown = [...names].filter((n) => !used.has(n) && !ignored.has(n));
    if (unknown.length > 0) throw new CheckpointError(`${weightsFile}: unexpected ${layout} keys: ${listNames(unknown)}`);

    // A backbone without a classifier gets an empty head (0 classes) for a method to replace.
    const numLabels = hasHead ? reader.header.tensors.get(headWeight)!.shape[0]! : 0;
    const config: VitConfig = {
      imageSize,
      patchSize,
      numChannels: cfg.num_channels,
      hiddenSize: cfg.hidden_size,
      depth: cfg.num_hidden_layers,
      numHeads,
      headDim,
      mlpSize: cfg.intermediate_size,
      activation,
      qkvBias,
      layerNormEps: cfg.layer_norm_eps ?? defaults.eps,
      pooling,
      finalNorm,
      numLabels,
    };
    const id2label = labels(cfg.id2label, numLabels, configFile);
    const preprocess = await loadPreprocess(dir, config);

    const expected = vitParamShapes(config);
    const params: Record<string, tf.Tensor> = {};
    try {
      for (const rule of rules) {
        const sources = await Promise.all(
          rule.sources.map((n) =>
            reader.read(n).catch((err: unknown) => {
              // One error type for callers: a corrupt tensor is a bad checkpoint like any other.
              throw err instanceof SafetensorsError ? new CheckpointError(err.message) : err;
            }),
          ),
        );
        const want = expected.get(rule.target)!;
        const t = convert(rule, sources, want);
        params[rule.target] = t;
        if (t.shape.join(',') !== want.join(',')) {
          throw new CheckpointError(
            `${weightsFile}: ${rule.sources.join(' + ')} gives ${rule.target} [${t.shape.join(', ')}] but config.json implies [${want.join(', ')}]`,
          );
        }
      }
      if (!hasHead) {
        params['head.weight'] = tf.zeros([config.hiddenSize, 0]);
        params['head.bias'] = tf.zeros([0]);
      }
    } catch (err) {
      tf.dispose(Object.values(params));
      throw err;
    }
    const paramCount = Object.values(params).reduce((n, t) => n + t.size, 0);
    const name = cfg._name_or_path || path.basename(path.resolve(dir));
    return {
      config,
      params,
      preprocess,
      layout,
      id2label,
      paramCount,
      summary: { name, layout, paramCount, imageSize, numChannels: config.numChannels, classes: id2label },
    };
  } finally {
    await reader.close();
  }
}

function labels(id2label: Record<string, string> | undefined, numLabels: number, file: string): string[] {
  // HF writes a placeholder id2label (LABEL_0, LABEL_1) even into backbone-only configs.
  if (numLabels === 0) return [];
  if (!id2label) return Array.from({ length: numLabels }, (_, i) => String(i));
  const out: string[] = [];
  for (let i = 0; i < numLabels; i++) {
    const label = id2label[String(i)];
    if (label === undefined) throw new CheckpointError(`${file}: id2label has no entry "${i}" for the ${numLabels}-class head`);
    out.push(label);
  }
  if (Object.keys(id2label).length !== numLabels) {
    throw new CheckpointError(`${file}: id2label has ${Object.keys(id2label).length} entries but the head has ${numLabels} classes`);
  }
  return out;
}

async function loadPreprocess(dir: string, config: VitConfig): Promise<PreprocessConfig> {
  const file = path.join(dir, 'preprocessor_config.json');
  const raw = await readJson(file, false);
  // Without the file, ViTImageProcessor's defaults apply at the model's own size.
  const p = parseWith(preprocessorSchema, raw ?? {}, file);
  const channels = (v: number | number[], what: string): number[] => {
    const arr = typeof v === 'number' ? [v] : v;
    if (arr.length === config.numChannels) return arr;
    // A 3-value mean for a greyscale model would be silently wrong; a single value broadcasts.
    if (arr.length === 1) return Array.from({ length: config.numChannels }, () => arr[0]!);
    throw new CheckpointError(`${file}: ${what} has ${arr.length} values but the model has ${config.numChannels} channel(s)`);
  };
  const size = p.size ?? config.imageSize;
  return {
    resize: p.do_resize ? (typeof size === 'number' ? { height: size, width: size } : size) : null,
    rescale: p.do_rescale ? p.rescale_factor : null,
    normalize: p.do_normalize ? { mean: channels(p.image_mean, 'image_mean'), std: channels(p.image_std, 'image_std') } : null,
  };
}

/** Frees the tensors of a loaded model. */
export function disposeModel(model: Pick<LoadedModel, 'params'>): void {
  tf.dispose(Object.values(model.params));
}
