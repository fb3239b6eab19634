import { describe, expect, it } from 'vitest';
import type { DryRunResult } from '../worker/protocol';
import { adviseEstimate } from './run-estimate';

const GIB = 1024 ** 3;
const measured: DryRunResult = {
  trainableParams: 1_000,
  totalParams: 100_000,
  trainSize: 900,
  valSize: 100,
  setupS: 4,
  msPerStep: 200,
  stepsMeasured: 4,
  peakBytes: 1 * GIB,
  cacheGrowthBytes: 0.5 * GIB,
};

describe('dry-run advice', () => {
  it('fits and is quick: no advice; the ETA is start-up plus the budget at the measured step time', () => {
    const e = adviseEstimate(measured, { steps: 300, batchSize: 32 }, { freeBytes: 8 * GIB, totalBytes: 16 * GIB });
    expect(e).toMatchObject({ fits: 'yes', advice: [], etaS: 4 + 60, projectedPeakBytes: 1.5 * GIB });
  });

  it('more than is free now: tight, with what to do', () => {
    const e = adviseEstimate(measured, { steps: 300, batchSize: 32 }, { freeBytes: 1 * GIB, totalBytes: 16 * GIB });
    expect(e.fits).toBe('tight');
    expect(e.advice).toEqual([expect.stringMatching(/needs about 1\.5 GiB and 1\.0 GiB is free now .*batch size \(now 32\)/)]);
  });

  it('more than the machine has: will not fit', () => {
    const e = adviseEstimate(measured, { steps: 300, batchSize: 32 }, { freeBytes: 1 * GIB, totalBytes: 1.5 * GIB });
    expect(e.fits).toBe('no');
    expect(e.advice[0]).toMatch(/^It will not fit: it needs about 1\.5 GiB and this machine has 1\.5 GiB in all/);
  });

  it('a budget over an hour: says how long and what finishes sooner', () => {
    const e = adviseEstimate(measured, { steps: 50_000, batchSize: 32 }, { freeBytes: 8 * GIB, totalBytes: 16 * GIB });
    expect(e.fits).toBe('yes');
    expect(e.advice).toEqual([expect.stringMatching(/^It will take long: about 2\.8 h for 50,000 steps at 0\.20 s per step/)]);
  });

  it('a diffusion run: its sample grids add to the time, and a long budget names the grid settings', () => {
    const diffusion: DryRunResult = { ...measured, valSize: 0, cacheGrowthBytes: 0, previews: { grids: 9, msPerGrid: 2_000, samplesPerGrid: 8, samplingSteps: 20 } };
    const quick = adviseEstimate(diffusion, { steps: 300, batchSize: 32 }, { freeBytes: 8 * GIB, totalBytes: 16 * GIB });
    expect(quick).toMatchObject({ fits: 'yes', advice: [], etaS: 4 + 60 + 18, previews: { grids: 9, msPerGrid: 2_000, totalS: 18 } });
    const long = adviseEstimate({ ...diffusion, previews: { ...diffusion.previews!, grids: 101 } }, { steps: 20_000, batchSize: 32 }, { freeBytes: 8 * GIB, totalBytes: 16 * GIB });
    expect(long.advice).toEqual([
      expect.stringMatching(/^It will take long: about 70 min for 20,000 steps at 0\.20 s per step plus 101 sample grids \(3 min\) — .*\(Samples every, Samples per grid, Sampling steps\)/),
    ]);
  });

  it('a classifier estimate has no previews', () => {
    expect(adviseEstimate(measured, { steps: 300, batchSize: 32 }, { freeBytes: 8 * GIB, totalBytes: 16 * GIB })).not.toHaveProperty('previews');
  });
});
