import { z } from 'zod';

/** A linear probe has no options: the head side is all it trains. */
export const linearProbeOptions = z.object({}).strict();

export type LinearProbeOptions = z.output<typeof linearProbeOptions>;
