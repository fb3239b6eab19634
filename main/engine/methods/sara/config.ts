import { z } from 'zod';

/** Linear layers whose weights SaRA adapts (the fused attention input, its output, the MLP). */
export const SARA_TARGETS = ['qkv', 'proj', 'fc1', 'fc2'] as const;
export type SaraTarget = (typeof SARA_TARGETS)[number];

export const saraOptions = z
  .object({
    sparsity: z
      .number()
      .gt(0)
      .max(1)
      .default(0.05)
      .describe('fraction of each weight matrix trained: its smallest-|W| entries (the per-matrix threshold θ is their largest |W|)'),
    targets: z
      .preprocess((v) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()) : v), z.array(z.enum(SARA_TARGETS)).min(1))
      .default([...SARA_TARGETS])
      .describe('weight matrices to adapt in every block: qkv, proj, fc1, fc2'),
    lambdaNuclear: z.number().min(0).default(1e-3).describe('weight of the nuclear-norm penalty on one randomly chosen sparse update per step'),
    reselectAtStep: z
      .number()
      .int()
      .positive()
      .nullable()
      .default(null)
      .describe('step of the progressive re-selection: entries whose |W + Δ| has grown past θ keep Δ and stop training (null: never)'),
  })
  .strict()
  .refine((o) => new Set(o.targets).size === o.targets.length, { message: 'targets repeat a module', path: ['targets'] });

export type SaraOptions = z.output<typeof saraOptions>;
