// Writes what a finished run produces: the adapter alone (adapter_model.safetensors +
// adapter_config.json) and, for methods that merge, a complete model folder that
// io/checkpoint.ts's loadModelFolder (and so `peft-studio eval`) reads back.
import * as tf from '@tensorflow/tfjs';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { CheckpointLayout, PreprocessConfig } from '../io/checkpoint';
import { writeFileAtomic } from '../io/atomic';
import { writeSafetensors, type HostTensor } from '../io/safetensors';
import type { VitConfig, VitParams } from '../models/vit';
import type { NamedTensors, PeftMethod } from '../methods/types';

async function toHost(tensors: NamedTensors): Promise<Record<string, HostTensor>> {
  const out: Record<string, HostTensor> = {};
  for (const [k, t] of Object.entries(tensors)) {
    // Int32 adapter tensors (sparse methods' indices) are written as I32, everything else as F32.
    out[k] =
      t.dtype === 'int32'
        ? { dtype: 'int32', shape: [...t.shape], data: (await t.data()) as Int32Array }
        : { dtype: 'float32', shape: [...t.shape], data: (await t.data()) as Float32Array };
  }
  return out;
}

const writeJson = (file: string, value: unknown) => writeFileAtomic(file, [Buffer.from(JSON.stringify(value, null, 2) + '\n')]);

/**
 * adapter_model.safetensors (the method's adapterTensors, keyed for `layout`) + adapter_config.json
 * (the method's adapterConfig, then `facts`): the one writer of classifier and diffusion adapters.
 */
export async function writeMethodAdapter<O extends object>(
  dir: string,
  method: PeftMethod<O>,
  trainable: NamedTensors,
  config: VitConfig,
  options: O,
  layout: CheckpointLayout,
  facts: Record<string, unknown>,
): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  const tensors = method.adapterTensors(trainable, config, options, layout);
  try {
    await writeSafetensors(path.join(dir, 'adapter_model.safetensors'), await toHost(tensors), { format: 'pt' });
  } finally {
    tf.dispose(Object.values(tensors));
  }
  await writeJson(path.join(dir, 'adapter_config.json'), { ...method.adapterConfig(config, options, layout), ...facts });
}

/** A classifier run's adapter: the method's format plus our run facts. */
export async function writeAdapter<O extends object>(
  dir: string,
  method: PeftMethod<O>,
  trainable: NamedTensors,
  config: VitConfig,
  options: O,
  info: { layout: CheckpointLayout; baseModel: string; id2label: string[] },
): Promise<void> {
  await writeMethodAdapter(dir, method, trainable, config, options, info.layout, {
    base_model_name_or_path: info.baseModel,
    peft_studio: { method: method.name, options, num_labels: config.numLabels },
    id2label: Object.fromEntries(info.id2label.map((l, i) => [String(i), l])),
  });
}

/**
 * The key layout a merged model is written in: timm's names are our canonical ones, and it
 * expresses CLS or patch-mean pooling with the norm on tokens, on the pooled vector or absent.
 * Only lucidrains' mean over all tokens (class token included) needs the lucidrains layout.
 */
function exportLayout(config: VitConfig): 'timm' | 'lucidrains' {
  return config.pooling === 'mean_all' ? 'lucidrains' : 'timm';
}

/** Canonical params → the layout's tensors, PyTorch conventions ([out, in] linears, conv patches). */
function toLayout(params: VitParams, config: VitConfig, layout: 'timm' | 'lucidrains'): NamedTensors {
  const { patchSize: p, numChannels: c, hiddenSize: d } = config;
  const out: NamedTensors = {};
  const get = (name: string) => {
    const t = params[name];
    if (!t) throw new Error(`merged model lacks "${name}"`);
    return t;
  };
  const linear = (target: string, source: string, bias: boolean) => {
    out[`${target}.weight`] = tf.transpose(get(`${source}.weight`));
    if (bias) out[`${target}.bias`] = tf.clone(get(`${source}.bias`));
  };
  const norm = (target: string, source: string) => {
    out[`${target}.weight`] = tf.clone(get(`${source}.weight`));
    out[`${target}.bias`] = tf.clone(get(`${source}.bias`));
  };
  const tokens = (target: string, source: string) => {
    const t = get(source);
    out[target] = tf.reshape(t, [1, ...(t.rank === 1 ? [1] : []), ...t.shape]);
  };
  if (layout === 'timm') {
    // [p*p*C, D] in (p1 p2 c) order → Conv2d weight [D, C, p, p].
    out['patch_embed.proj.weight'] = tf.transpose(tf.reshape(get('patch_embed.weight'), [p, p, c, d]), [3, 2, 0, 1]);
    out['patch_embed.proj.bias'] = tf.clone(get('patch_embed.bias'));
    tokens('cls_token', 'cls_token');
    tokens('pos_embed', 'pos_embed');
    for (let i = 0; i < config.depth; i++) {
      const b = `blocks.${i}`;
      norm(`${b}.norm1`, `${b}.norm1`);
      linear(`${b}.attn.qkv`, `${b}.attn.qkv`, config.qkvBias);
      linear(`${b}.attn.proj`, `${b}.attn.proj`, true);
      norm(`${b}.norm2`, `${b}.norm2`);
      linear(`${b}.mlp.fc1`, `${b}.mlp.fc1`, true);
      linear(`${b}.mlp.fc2`, `${b}.mlp.fc2`, true);
    }
    if (config.finalNorm !== 'none') norm(config.finalNorm === 'pooled' ? 'fc_norm' : 'norm', 'norm');
    linear('head', 'head', true);
  } else {
    linear('to_patch_embedding.1', 'patch_embed', true);
    tokens('cls_token', 'cls_token');
    tokens('pos_embedding', 'pos_embed');
    for (let i = 0; i < config.depth; i++) {
      const l = `transformer.layers.${i}`;
      const b = `blocks.${i}`;
      norm(`${l}.0.norm`, `${b}.norm1`);
      linear(`${l}.0.fn.to_qkv`, `${b}.attn.qkv`, config.qkvBias);
      linear(`${l}.0.fn.to_out.0`, `${b}.attn.proj`, true);
      norm(`${l}.1.norm`, `${b}.norm2`);
      linear(`${l}.1.fn.net.0`, `${b}.mlp.fc1`, true);
      linear(`${l}.1.fn.net.3`, `${b}.mlp.fc2`, true);
    }
    norm('mlp_head.0', 'norm');
    linear('mlp_head.1', 'head', true);
  }
  return out;
}

/** A model folder (model.safetensors, config.json, preprocessor_config.json) for loadModelFolder. */
export async function writeModelFolder(
  dir: string,
  params: VitParams,
  config: VitConfig,
  info: { name: string; preprocess: PreprocessConfig; id2label: string[] },
): Promise<void> {
  if (info.id2label.length !== config.numLabels) throw new Error(`${info.id2label.length} labels for a ${config.numLabels}-class head`);
  const layout = exportLayout(config);
  await fs.mkdir(dir, { recursive: true });
  const tensors = tf.tidy(() => toLayout(params, config, layout));
  try {
    await writeSafetensors(path.join(dir, 'model.safetensors'), await toHost(tensors), { format: 'pt' });
  } finally {
    tf.dispose(Object.values(tensors));
  }
  await writeJson(path.join(dir, 'config.json'), {
    _name_or_path: info.name,
    model_type: 'vit',
    layout,
    image_size: config.imageSize,
    patch_size: config.patchSize,
    num_channels: config.numChannels,
    hidden_size: config.hiddenSize,
    num_hidden_layers: config.depth,
    num_attention_heads: config.numHeads,
    head_dim: config.headDim,
    intermediate_size: config.mlpSize,
    hidden_act: config.activation,
    qkv_bias: config.qkvBias,
    layer_norm_eps: config.layerNormEps,
    pooling: config.pooling === 'cls' ? 'cls' : 'mean',
    num_labels: config.numLabels,
    id2label: Object.fromEntries(info.id2label.map((l, i) => [String(i), l])),
    label2id: Object.fromEntries(info.id2label.map((l, i) => [l, i])),
  });
  const { resize, rescale, normalize } = info.preprocess;
  await writeJson(path.join(dir, 'preprocessor_config.json'), {
    image_processor_type: 'ViTImageProcessor',
    do_resize: resize !== null,
    ...(resize ? { size: resize } : {}),
    do_rescale: rescale !== null,
    ...(rescale !== null ? { rescale_factor: rescale } : {}),
    do_normalize: normalize !== null,
    ...(normalize ? { image_mean: normalize.mean, image_std: normalize.std } : {}),
  });
}
