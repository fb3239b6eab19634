import { describe, expect, it } from 'vitest';
import { Rng } from '../train/rng';
import { frechetDistance, meanAndCovariance, symmetricEigen } from './frechet';

describe('Fréchet distance', () => {
  it('Jacobi eigen-decomposition reconstructs a symmetric matrix', () => {
    const d = 6;
    const rng = Rng.fromSeed(1);
    const b = Float64Array.from(rng.fill(d * d, (r) => r.normal()));
    const m = new Float64Array(d * d);
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) for (let k = 0; k < d; k++) m[i * d + j]! += b[i * d + k]! * b[j * d + k]!;
    const { values, vectors } = symmetricEigen(m, d);
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < d; j++) {
        let sum = 0;
        for (let k = 0; k < d; k++) sum += vectors[i * d + k]! * values[k]! * vectors[j * d + k]!;
        expect(sum).toBeCloseTo(m[i * d + j]!, 9);
      }
    }
  });

  it('matches the closed forms: 0 for the same Gaussian, (μ1−μ2)² + (σ1−σ2)² per independent axis', () => {
    const d = 3;
    const gauss = (mean: number[], variances: number[]) => {
      const cov = new Float64Array(d * d);
      variances.forEach((v, i) => (cov[i * d + i] = v));
      return { mean: Float64Array.from(mean), cov };
    };
    const a = gauss([0, 1, 2], [1, 4, 9]);
    const b = gauss([1, 1, 0], [4, 1, 9]);
    expect(frechetDistance(a, a, d)).toBeCloseTo(0, 9);
    // (1 + 0 + 4) + ((1−2)² + (2−1)² + 0) = 7
    expect(frechetDistance(a, b, d)).toBeCloseTo(7, 9);
    expect(frechetDistance(b, a, d)).toBeCloseTo(7, 9);
  });

  it('fits means and unbiased covariances from rows', () => {
    const { mean, cov } = meanAndCovariance([[1, 2], [3, 6]], 2);
    expect(Array.from(mean)).toEqual([2, 4]);
    expect(Array.from(cov)).toEqual([2, 4, 4, 8]);
  });
});
