import { z } from 'zod';

/**
 * Modules LoRA can adapt: the fused attention input projection as one matrix ('qkv', as timm and
 * lucidrains models hold it), or its query / key / value slices separately (as HF's ViT holds
 * them), the attention output ('proj') and the MLP layers.
 */
export const LORA_TARGETS = ['qkv', 'query', 'key', 'value', 'proj', 'fc1', 'fc2'] as const;
export type LoraTarget = (typeof LORA_TARGETS)[number];

/** A block index or a list of them as the CLI and forms write them ("4", "4,5", 4) → number[]. */
function blockList(v: unknown): unknown {
  if (typeof v === 'number') return [v];
  if (typeof v === 'string') return v.trim() === '' ? null : v.split(',').map((s) => Number(s.trim()));
  return v;
}

export const loraOptions = z
  .object({
    r: z.number().int().positive().default(8).describe('rank of the low-rank update ΔW = A·B'),
    alpha: z.number().positive().default(16).describe('scaling numerator: ΔW is multiplied by alpha/r (alpha/√r with rsLora)'),
    dropout: z.number().min(0).lt(1).default(0).describe('dropout rate on the input of the LoRA branch while training'),
    targets: z
      .preprocess((v) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()) : v), z.array(z.enum(LORA_TARGETS)).min(1))
      .default(['query', 'value'])
      .describe('modules to adapt in every block: qkv (fused) or query,key,value slices; proj; fc1; fc2'),
    rsLora: z.boolean().default(false).describe('rank-stabilised scaling alpha/√r instead of alpha/r (Kalajdzievski 2023)'),
    layers: z
      .preprocess(blockList, z.array(z.number().int().min(0)).min(1).nullable())
      .default(null)
      .describe('blocks to adapt, e.g. 10, 11 (HF PEFT layers_to_transform); null: every block'),
  })
  .strict()
  .refine((o) => new Set(o.targets).size === o.targets.length, { message: 'targets repeat a module', path: ['targets'] })
  .refine((o) => o.layers === null || new Set(o.layers).size === o.layers.length, { message: 'layers repeat a block', path: ['layers'] })
  .refine((o) => !(o.targets.includes('qkv') && o.targets.some((t) => t === 'query' || t === 'key' || t === 'value')), {
    message: 'qkv (fused) cannot be combined with its query/key/value slices',
    path: ['targets'],
  });

export type LoraOptions = z.output<typeof loraOptions>;

/** Multiplier of A·B. */
export function loraScale(options: Pick<LoraOptions, 'r' | 'alpha' | 'rsLora'>): number {
  return options.rsLora ? options.alpha / Math.sqrt(options.r) : options.alpha / options.r;
}
