// LoRA (Hu et al. 2021): y = x·W + b + s·dropout(x)·A·B on chosen linear layers, W frozen;
// A [in, r] Kaiming-uniform, B [r, out] zero so training starts from the pretrained function.
// Slices (query/key/value) of the fused qkv matrix update only their columns.
import * as tf from '@tensorflow/tfjs';
import type { CheckpointLayout } from '../../io/checkpoint';
import type { VitConfig } from '../../models/vit';
import { peftHeadSide, peftModulesToSave, PEFT_PREFIX } from '../framework';
import { layoutModulePath } from '../modules';
import type { NamedTensors, PeftMethod } from '../types';
import { loraOptions, loraScale, type LoraOptions, type LoraTarget } from './config';

/** One adapted matrix: columns [offset, offset + out) of the linear layer `module`. */
interface Site {
  /** Adapter name prefix: `blocks.{i}.attn.query` etc.; tensors are `${name}.lora_A` / `.lora_B`. */
  name: string;
  /** The canonical linear layer the update adds to. */
  module: string;
  in: number;
  out: number;
  offset: number;
  /** Output width of the whole linear layer. */
  width: number;
}

/** The blocks LoRA adapts, ascending: options.layers checked against the model's depth, or all. */
function adaptedBlocks(config: VitConfig, options: Pick<LoraOptions, 'layers'>): number[] {
  const all = Array.from({ length: config.depth }, (_, i) => i);
  if (options.layers === null) return all;
  const outside = options.layers.filter((l) => l >= config.depth);
  if (outside.length > 0) {
    throw new Error(`LoRA layers ${outside.join(', ')} do not exist: this model has ${config.depth} blocks (0–${config.depth - 1})`);
  }
  return all.filter((i) => options.layers!.includes(i));
}

function sites(config: VitConfig, options: Pick<LoraOptions, 'targets' | 'layers'>): Site[] {
  const { hiddenSize: d, mlpSize: m } = config;
  const inner = config.numHeads * config.headDim;
  const geometry: Record<LoraTarget, { part: string; module: string; in: number; out: number; offset: number; width: number }> = {
    qkv: { part: 'attn.qkv', module: 'attn.qkv', in: d, out: 3 * inner, offset: 0, width: 3 * inner },
    query: { part: 'attn.query', module: 'attn.qkv', in: d, out: inner, offset: 0, width: 3 * inner },
    key: { part: 'attn.key', module: 'attn.qkv', in: d, out: inner, offset: inner, width: 3 * inner },
    value: { part: 'attn.value', module: 'attn.qkv', in: d, out: inner, offset: 2 * inner, width: 3 * inner },
    proj: { part: 'attn.proj', module: 'attn.proj', in: inner, out: d, offset: 0, width: d },
    fc1: { part: 'mlp.fc1', module: 'mlp.fc1', in: d, out: m, offset: 0, width: m },
    fc2: { part: 'mlp.fc2', module: 'mlp.fc2', in: m, out: d, offset: 0, width: d },
  };
  const out: Site[] = [];
  for (const i of adaptedBlocks(config, options)) {
    for (const target of options.targets) {
      const g = geometry[target];
      out.push({ name: `blocks.${i}.${g.part}`, module: `blocks.${i}.${g.module}`, in: g.in, out: g.out, offset: g.offset, width: g.width });
    }
  }
  return out;
}

function tensor(t: NamedTensors, name: string): tf.Tensor2D {
  const v = t[name];
  if (!v) throw new Error(`LoRA tensor "${name}" is missing`);
  return v as tf.Tensor2D;
}

/**
 * Places per-site column blocks [R, out] into the layer's full width [R, width], zeros elsewhere,
 * in one concat (sites sorted by offset, non-overlapping by construction).
 */
function placeColumns(parts: { offset: number; value: tf.Tensor2D }[], rows: number, width: number): tf.Tensor2D {
  const sorted = [...parts].sort((a, b) => a.offset - b.offset);
  if (sorted.length === 1 && sorted[0]!.value.shape[1] === width) return sorted[0]!.value;
  const pieces: tf.Tensor2D[] = [];
  let at = 0;
  for (const { offset, value } of sorted) {
    if (offset > at) pieces.push(tf.zeros([rows, offset - at]));
    pieces.push(value);
    at = offset + value.shape[1];
  }
  if (at < width) pieces.push(tf.zeros([rows, width - at]));
  return tf.concat(pieces, 1);
}

/** Sites grouped by the linear layer they add to. */
function byModule(list: Site[]): Map<string, Site[]> {
  const map = new Map<string, Site[]>();
  for (const s of list) map.set(s.module, [...(map.get(s.module) ?? []), s]);
  return map;
}

/** s·A·B for every site of each adapted layer, as full [in, width] weight deltas. */
function weightDeltas(trainable: NamedTensors, config: VitConfig, options: LoraOptions): Map<string, tf.Tensor2D> {
  const scale = loraScale(options);
  const out = new Map<string, tf.Tensor2D>();
  for (const [module, list] of byModule(sites(config, options))) {
    out.set(
      module,
      tf.tidy(() =>
        placeColumns(
          list.map((s) => ({ offset: s.offset, value: tf.mul(tf.matMul(tensor(trainable, `${s.name}.lora_A`), tensor(trainable, `${s.name}.lora_B`)), scale) as tf.Tensor2D })),
          list[0]!.in,
          list[0]!.width,
        ),
      ),
    );
  }
  return out;
}

/** Adapter key of a site's module: the layout's module path, or our canonical name. */
function peftModule(site: Site, config: VitConfig, layout: CheckpointLayout): string {
  return layoutModulePath(layout, site.name, config) ?? site.name;
}

/** HF PEFT target_modules entries match module-name suffixes: keep a numeric leaf's parent. */
function suffix(path: string): string {
  const parts = path.split('.');
  return /^\d+$/.test(parts.at(-1)!) ? parts.slice(-2).join('.') : parts.at(-1)!;
}

/**
 * HF PEFT's layers_pattern: the module list that holds the blocks, so PEFT reads a module's block
 * from `.<pattern>.<i>.` (without it, lucidrains' `layers.{i}.{0|1}` yields the 0/1). PEFT wants
 * a dot before the pattern, so a bare timm model's top-level `blocks.{i}` matches only when nested;
 * torchvision names its blocks encoder_layer_{i}, which PEFT cannot index: no pattern there.
 */
const PEFT_LAYERS_PATTERN: Record<CheckpointLayout, string | undefined> = { hf: 'layer', timm: 'blocks', torchvision: undefined, lucidrains: 'layers' };

export const lora: PeftMethod<LoraOptions> = {
  name: 'lora',
  description: 'low-rank updates s·A·B on chosen linear layers (query/value by default), mergeable into the weights',
  options: loraOptions,
  featureCacheable: false,
  // Blocks before the first adapted one see neither a LoRA update nor a hook.
  frozenPrefix: (config, options) => adaptedBlocks(config, options)[0] ?? config.depth,
  init(_base, config, options, rng) {
    const out: NamedTensors = {};
    for (const s of sites(config, options)) {
      // PyTorch's kaiming_uniform_(a=√5) on a [r, in] weight: U(-1/√in, 1/√in).
      const bound = 1 / Math.sqrt(s.in);
      out[`${s.name}.lora_A`] = tf.tensor2d(rng.fill(s.in * options.r, (g) => g.uniform(-bound, bound)), [s.in, options.r]);
      out[`${s.name}.lora_B`] = tf.zeros([options.r, s.out]);
    }
    return out;
  },
  shapes(config, options) {
    const shapes = new Map<string, number[]>();
    for (const s of sites(config, options)) shapes.set(`${s.name}.lora_A`, [s.in, options.r]).set(`${s.name}.lora_B`, [options.r, s.out]);
    return shapes;
  },
  hooks(trainable, config, options, ctx) {
    const scale = loraScale(options);
    const modules = byModule(sites(config, options));
    return {
      linear(name, x, y) {
        const list = modules.get(name);
        if (!list) return y;
        const rows = x.shape[0];
        const parts = list.map((s) => {
          const input = ctx.training && options.dropout > 0 ? (tf.dropout(x, options.dropout, undefined, ctx.rng.seed()) as tf.Tensor2D) : x;
          // Scale the narrow [R, r] product rather than the wide output.
          const low = tf.mul(tf.matMul(input, tensor(trainable, `${s.name}.lora_A`)), scale) as tf.Tensor2D;
          return { offset: s.offset, value: tf.matMul(low, tensor(trainable, `${s.name}.lora_B`)) as tf.Tensor2D };
        });
        return tf.add(y, placeColumns(parts, rows, list[0]!.width));
      },
    };
  },
  merge(base, trainable, config, options) {
    const out: NamedTensors = {};
    for (const [module, delta] of weightDeltas(trainable, config, options)) {
      out[`${module}.weight`] = tf.add(base[`${module}.weight`]!, delta);
      delta.dispose();
    }
    return out;
  },
  unmerge(merged, trainable, config, options) {
    const out: NamedTensors = {};
    for (const [module, delta] of weightDeltas(trainable, config, options)) {
      out[`${module}.weight`] = tf.sub(merged[`${module}.weight`]!, delta);
      delta.dispose();
    }
    return out;
  },
  adapterTensors(trainable, config, options, layout) {
    const out = peftHeadSide(trainable, config, layout, false);
    for (const s of sites(config, options)) {
      const key = `${PEFT_PREFIX}${peftModule(s, config, layout)}`;
      out[`${key}.lora_A.weight`] = tf.transpose(tensor(trainable, `${s.name}.lora_A`));
      out[`${key}.lora_B.weight`] = tf.transpose(tensor(trainable, `${s.name}.lora_B`));
    }
    return out;
  },
  fromAdapterTensors(tensors, config, options, layout) {
    const out = peftHeadSide(tensors, config, layout, true);
    for (const s of sites(config, options)) {
      const key = `${PEFT_PREFIX}${peftModule(s, config, layout)}`;
      out[`${s.name}.lora_A`] = tf.transpose(tensor(tensors, `${key}.lora_A.weight`));
      out[`${s.name}.lora_B`] = tf.transpose(tensor(tensors, `${key}.lora_B.weight`));
    }
    return out;
  },
  adapterConfig(config, options, layout) {
    const modules = [...new Set(sites(config, options).map((s) => suffix(peftModule(s, config, layout))))];
    return {
      peft_type: 'LORA',
      r: options.r,
      lora_alpha: options.alpha,
      lora_dropout: options.dropout,
      use_rslora: options.rsLora,
      target_modules: modules,
      ...(options.layers === null ? {} : { layers_to_transform: adaptedBlocks(config, options), layers_pattern: PEFT_LAYERS_PATTERN[layout] }),
      modules_to_save: peftModulesToSave(config, layout),
      bias: 'none',
      fan_in_fan_out: false,
      init_lora_weights: true,
      inference_mode: true,
      base_layout: layout,
    };
  },
};
