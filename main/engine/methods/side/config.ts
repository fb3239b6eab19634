import { z } from 'zod';

export const sideOptions = z
  .object({
    reduction: z.number().int().positive().default(8).describe('side network width = backbone width / reduction, at least 4 (MLP width likewise)'),
    layers: z
      .array(z.number().int().min(0))
      .min(1)
      .nullable()
      .default(null)
      .describe('backbone blocks that feed a side block (ascending, no repeats); null: every block'),
    gateTemperature: z.number().positive().default(0.1).describe('T in the ladder gate σ(α/T) mixing each backbone tap into the side stream'),
  })
  .strict()
  .refine((o) => o.layers === null || o.layers.every((l, i) => i === 0 || l > o.layers![i - 1]!), {
    message: 'layers must be ascending without repeats',
    path: ['layers'],
  });

export type SideOptions = z.output<typeof sideOptions>;
