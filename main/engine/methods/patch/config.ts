import { z } from 'zod';

export interface PatchOptions<O extends object> {
  scales: number[];
  fullSize: number | null;
  baseOptions: O;
}

/** Patch-training options around the base method's own schema (its options go in baseOptions). */
export function patchOptions<O extends object>(base: z.ZodType<O, unknown>): z.ZodType<PatchOptions<O>, unknown> {
  return z
    .object({
      scales: z
        .array(z.number().gt(0).max(1))
        .min(1)
        .default([0.5, 0.75, 1])
        .describe('crop sides as fractions of the full image side, one drawn uniformly per step (rounded to whole patches)'),
      fullSize: z
        .number()
        .int()
        .positive()
        .nullable()
        .default(null)
        .describe('side the full image is resized to before cropping, position embeddings interpolated to its grid; null: the model size'),
      baseOptions: z.preprocess((v) => v ?? {}, base).describe("the base method's options"),
    })
    .strict();
}
