// Where a canonical ViT module lives in each checkpoint layout's own module tree, so exported
// adapters name the modules their users know (Hugging Face PEFT keys are module paths).
import type { CheckpointLayout } from '../io/checkpoint';
import type { VitConfig } from '../models/vit';

/**
 * Canonical module (`blocks.{i}.attn.qkv`, `blocks.{i}.attn.proj`, `blocks.{i}.mlp.fc1`,
 * `blocks.{i}.mlp.fc2`, `norm`, `head`, or the slices `blocks.{i}.attn.{query,key,value}`) →
 * the layout's module path, or undefined where the layout has no such module (fused qkv in HF,
 * q/k/v slices in fused layouts, torchvision's in_proj which is a parameter, not a Linear).
 */
export function layoutModulePath(layout: CheckpointLayout, module: string, config: Pick<VitConfig, 'finalNorm'>): string | undefined {
  if (module === 'head') return { hf: 'classifier', timm: 'head', torchvision: 'heads.head', lucidrains: 'mlp_head.1' }[layout];
  if (module === 'norm') {
    return {
      hf: 'vit.layernorm',
      timm: config.finalNorm === 'pooled' ? 'fc_norm' : 'norm',
      torchvision: 'encoder.ln',
      lucidrains: 'mlp_head.0',
    }[layout];
  }
  const m = /^blocks\.(\d+)\.(attn\.qkv|attn\.query|attn\.key|attn\.value|attn\.proj|mlp\.fc1|mlp\.fc2)$/.exec(module);
  if (!m) return undefined;
  const i = m[1]!;
  const part = m[2]!;
  switch (layout) {
    case 'hf': {
      const l = `vit.encoder.layer.${i}`;
      const paths: Record<string, string> = {
        'attn.query': `${l}.attention.attention.query`,
        'attn.key': `${l}.attention.attention.key`,
        'attn.value': `${l}.attention.attention.value`,
        'attn.proj': `${l}.attention.output.dense`,
        'mlp.fc1': `${l}.intermediate.dense`,
        'mlp.fc2': `${l}.output.dense`,
      };
      return paths[part];
    }
    case 'timm':
      return part === 'attn.qkv' || part === 'attn.proj' || part === 'mlp.fc1' || part === 'mlp.fc2' ? module : undefined;
    case 'torchvision': {
      const l = `encoder.layers.encoder_layer_${i}`;
      const paths: Record<string, string> = { 'attn.proj': `${l}.self_attention.out_proj`, 'mlp.fc1': `${l}.mlp.0`, 'mlp.fc2': `${l}.mlp.3` };
      return paths[part];
    }
    case 'lucidrains': {
      const l = `transformer.layers.${i}`;
      const paths: Record<string, string> = {
        'attn.qkv': `${l}.0.fn.to_qkv`,
        'attn.proj': `${l}.0.fn.to_out.0`,
        'mlp.fc1': `${l}.1.fn.net.0`,
        'mlp.fc2': `${l}.1.fn.net.3`,
      };
      return paths[part];
    }
  }
}
