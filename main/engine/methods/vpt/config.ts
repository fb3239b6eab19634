import { z } from 'zod';

export const vptOptions = z
  .object({
    mode: z
      .enum(['shallow', 'deep'])
      .default('deep')
      .describe('shallow: prompts enter before block 0 only; deep: a new prompt set replaces the prompt outputs before every block'),
    promptLength: z.number().int().positive().default(10).describe('prompt tokens per set, inserted right after the class token'),
    dropout: z.number().min(0).lt(1).default(0.1).describe('dropout rate on the prompt tokens while training'),
  })
  .strict();

export type VptOptions = z.output<typeof vptOptions>;
