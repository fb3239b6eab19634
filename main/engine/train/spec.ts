// A training run's hyper-parameters: validated once at the boundary (CLI flags, worker
// messages), stored in every checkpoint so a resume can prove it continues the same run.
import { z } from 'zod';

export const augmentSchema = z
  .object({
    flip: z.boolean().describe('random horizontal flip'),
    cropScale: z.number().gt(0).max(1).nullable().describe('random resized crop: smallest area fraction, null for none'),
    colorJitter: z.number().min(0).lt(1).describe('brightness/contrast/saturation jitter strength, 0 for none'),
  })
  .strict();

export const trainSpecSchema = z
  .object({
    method: z.string().min(1).describe('registered PEFT method name'),
    methodOptions: z.record(z.string(), z.unknown()).default({}).describe("the method's options (see its config.ts)"),
    steps: z.number().int().positive().default(300).describe('optimizer updates'),
    batchSize: z.number().int().positive().default(32),
    lr: z.number().positive().default(1e-3).describe('peak learning rate'),
    minLr: z.number().min(0).default(0).describe('learning rate at the end of the cosine decay'),
    warmupSteps: z.number().int().min(0).optional().describe('linear warmup updates (default: 10% of steps)'),
    optimizer: z.enum(['adamw', 'sgd']).default('adamw'),
    weightDecay: z.number().min(0).default(0.01).describe('decoupled for AdamW, L2 for SGD; never on norms, biases, tokens'),
    beta1: z.number().min(0).lt(1).default(0.9),
    beta2: z.number().min(0).lt(1).default(0.999),
    eps: z.number().positive().default(1e-8),
    momentum: z.number().min(0).lt(1).default(0.9).describe('SGD momentum'),
    clipNorm: z.number().positive().nullable().default(1).describe('global gradient-norm clip, null for none'),
    labelSmoothing: z.number().min(0).lt(1).default(0),
    seed: z.number().int().default(0),
    valFraction: z.number().min(0).lt(1).default(0.1).describe('stratified share of the data held out for validation'),
    limitPerClass: z.number().int().positive().optional().describe('use only the first N samples of each class'),
    evalEvery: z.number().int().positive().default(50),
    checkpointEvery: z.number().int().positive().default(100),
    cacheFeatures: z
      .boolean()
      .default(true)
      .describe('compute a frozen backbone once per image when the method allows it and augmentation is off'),
    augment: augmentSchema.optional().describe('default: flip + crop + jitter for RGB, none for greyscale or feature-cached methods'),
  })
  .strict();

export type TrainSpec = z.output<typeof trainSpecSchema>;
export type TrainSpecInput = z.input<typeof trainSpecSchema>;

export function parseTrainSpec(raw: unknown): TrainSpec {
  const result = trainSpecSchema.safeParse(raw);
  if (!result.success) {
    throw new Error(`invalid training spec: ${result.error.issues.map((i) => `${i.path.join('.') || 'spec'}: ${i.message}`).join('; ')}`);
  }
  return result.data;
}
