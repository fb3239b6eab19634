// Learning-rate schedule: linear warmup, then cosine decay to minLr.

export interface ScheduleConfig {
  lr: number;
  minLr: number;
  warmupSteps: number;
  totalSteps: number;
}

/**
 * Learning rate of the update with 0-based index `step`. Warmup ramps (step + 1) / warmupSteps
 * so the first update already moves (Hugging Face's ramp starts at 0, wasting a step); then
 * minLr + (lr − minLr)·½(1 + cos(π·progress)), progress from 0 at the first post-warmup step to
 * 1 at step totalSteps.
 */
export function learningRate(step: number, s: ScheduleConfig): number {
  if (step < s.warmupSteps) return (s.lr * (step + 1)) / s.warmupSteps;
  const span = Math.max(1, s.totalSteps - s.warmupSteps);
  const progress = Math.min(1, (step - s.warmupSteps) / span);
  return s.minLr + (s.lr - s.minLr) * 0.5 * (1 + Math.cos(Math.PI * progress));
}
