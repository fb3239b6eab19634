import { z } from 'zod';

export const ssfOptions = z
  .object({
    initStd: z
      .number()
      .min(0)
      .default(0.02)
      .describe('init spread: scales γ ~ N(1, initStd²), shifts β ~ N(0, initStd²) (0 starts exactly at the pretrained model)'),
  })
  .strict();

export type SsfOptions = z.output<typeof ssfOptions>;
