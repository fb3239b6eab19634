// Noise schedules of DDPM (Ho et al. 2020: linear β) and improved DDPM (Nichol & Dhariwal 2021:
// cosine ᾱ), in float64 on the host: the samplers read scalars per step, never tensors.

export type ScheduleKind = 'linear' | 'cosine';

export interface ScheduleConfig {
  kind: ScheduleKind;
  /** Training timesteps T; the model sees t ∈ {0, …, T-1}. */
  timesteps: number;
  /** Linear schedule only: β_0 and β_{T-1}. */
  betaStart: number;
  betaEnd: number;
}

export const DEFAULT_SCHEDULE: ScheduleConfig = { kind: 'linear', timesteps: 1000, betaStart: 1e-4, betaEnd: 0.02 };

export interface NoiseSchedule {
  timesteps: number;
  /** β_t, t = 0 … T-1. */
  betas: Float64Array;
  /** ᾱ_t = ∏_{s ≤ t} (1 - β_s). */
  alphasCumprod: Float64Array;
}

function fromBetas(betas: Float64Array): NoiseSchedule {
  const alphasCumprod = new Float64Array(betas.length);
  let product = 1;
  for (let t = 0; t < betas.length; t++) {
    product *= 1 - betas[t]!;
    alphasCumprod[t] = product;
  }
  return { timesteps: betas.length, betas, alphasCumprod };
}

/** β evenly spaced from betaStart to betaEnd (DDPM: 1e-4 … 0.02 over 1000 steps). */
export function linearSchedule(timesteps: number, betaStart: number, betaEnd: number): NoiseSchedule {
  const betas = new Float64Array(timesteps);
  for (let t = 0; t < timesteps; t++) betas[t] = timesteps === 1 ? betaStart : betaStart + ((betaEnd - betaStart) * t) / (timesteps - 1);
  return fromBetas(betas);
}

/**
 * ᾱ(t) = f(t)/f(0), f(t) = cos²((t/T + s)/(1 + s) · π/2), s = 0.008; β_t = 1 - ᾱ(t+1)/ᾱ(t) clipped
 * at 0.999 so the last steps stay finite (improved DDPM's betas_for_alpha_bar).
 */
export function cosineSchedule(timesteps: number, s = 0.008): NoiseSchedule {
  const f = (t: number) => Math.cos(((t / timesteps + s) / (1 + s)) * (Math.PI / 2)) ** 2;
  const betas = new Float64Array(timesteps);
  for (let t = 0; t < timesteps; t++) betas[t] = Math.min(1 - f(t + 1) / f(t), 0.999);
  return fromBetas(betas);
}

export function makeSchedule(config: ScheduleConfig): NoiseSchedule {
  return config.kind === 'cosine' ? cosineSchedule(config.timesteps) : linearSchedule(config.timesteps, config.betaStart, config.betaEnd);
}

/** ᾱ at a timestep, with ᾱ_{-1} = 1 (the clean image) so the last sampling step needs no special case. */
export function alphaBar(schedule: NoiseSchedule, t: number): number {
  return t < 0 ? 1 : schedule.alphasCumprod[t]!;
}

/** Variance of q(x_{t-1} | x_t, x_0): β̃_t = β_t (1 - ᾱ_{t-1}) / (1 - ᾱ_t). */
export function posteriorVariance(schedule: NoiseSchedule, t: number): number {
  return (schedule.betas[t]! * (1 - alphaBar(schedule, t - 1))) / (1 - alphaBar(schedule, t));
}

/**
 * `steps` timesteps for sampling, descending from T-1 to 0 and evenly spaced (rounded), as DDIM
 * and respaced DDPM use them; every step count from 1 to T is allowed.
 */
export function samplingTimesteps(timesteps: number, steps: number): number[] {
  if (!Number.isInteger(steps) || steps < 1 || steps > timesteps) throw new Error(`steps must be an integer from 1 to ${timesteps}, got ${steps}`);
  if (steps === 1) return [timesteps - 1];
  const out: number[] = [];
  for (let i = steps - 1; i >= 0; i--) out.push(Math.round((i * (timesteps - 1)) / (steps - 1)));
  return out;
}
