import { z } from 'zod';

/** Full fine-tuning has no options of its own: every weight trains. */
export const fullOptions = z.object({}).strict();

export type FullOptions = z.output<typeof fullOptions>;
