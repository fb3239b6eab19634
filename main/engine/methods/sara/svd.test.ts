// The sparse Gram-form nuclear norm against a dense one-sided Jacobi SVD (the form it replaced),
// hand values and singular-value identities, and the symmetric eigensolver on its own.
import { describe, expect, it } from 'vitest';
import { Rng } from '../../train/rng';
import { sparseNuclearNorm, symmetricEigen } from './svd';

const MAX_SWEEPS = 60;

/**
 * The reference: ‖A‖_* and U·Vᵀ of a dense row-major rows × cols matrix by one-sided Jacobi
 * (Hestenes) rotations in float64, SaRA's penalty before the Gram form (slow, exact to ε·σ_max).
 */
function jacobiNuclearNorm(a: ArrayLike<number>, rows: number, cols: number): { value: number; gradient: Float64Array; singular: number[] } {
  const transpose = rows < cols;
  const [m, n] = transpose ? [cols, rows] : [rows, cols];
  // Columns of the m × n working matrix, contiguous for the dot products.
  const col: Float64Array[] = Array.from({ length: n }, () => new Float64Array(m));
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = a[r * cols + c]!;
      if (transpose) col[r]![c] = v;
      else col[c]![r] = v;
    }
  }
  const v: Float64Array[] = Array.from({ length: n }, (_, j) => {
    const e = new Float64Array(n);
    e[j] = 1;
    return e;
  });
  const eps = 1e-15;
  for (let sweep = 0; sweep < MAX_SWEEPS; sweep++) {
    let rotated = false;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const cp = col[p]!;
        const cq = col[q]!;
        let alpha = 0;
        let beta = 0;
        let gamma = 0;
        for (let i = 0; i < m; i++) {
          alpha += cp[i]! * cp[i]!;
          beta += cq[i]! * cq[i]!;
          gamma += cp[i]! * cq[i]!;
        }
        if (Math.abs(gamma) <= eps * Math.sqrt(alpha * beta) || gamma === 0) continue;
        rotated = true;
        // The rotation that zeroes the (p, q) entry of AᵀA (Golub & Van Loan 8.6.3).
        const zeta = (beta - alpha) / (2 * gamma);
        const t = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        for (let i = 0; i < m; i++) {
          const x = cp[i]!;
          const y = cq[i]!;
          cp[i] = c * x - s * y;
          cq[i] = s * x + c * y;
        }
        const vp = v[p]!;
        const vq = v[q]!;
        for (let i = 0; i < n; i++) {
          const x = vp[i]!;
          const y = vq[i]!;
          vp[i] = c * x - s * y;
          vq[i] = s * x + c * y;
        }
      }
    }
    if (!rotated) break;
  }
  // Column j of the rotated matrix is σ_j·u_j; v[j] is the j-th right singular vector.
  const sigma = col.map((c) => Math.sqrt(c.reduce((acc, x) => acc + x * x, 0)));
  const tol = Math.max(m, n) * Number.EPSILON * Math.max(0, ...sigma);
  const gradient = new Float64Array(rows * cols);
  for (let j = 0; j < n; j++) {
    const sj = sigma[j]!;
    if (sj <= tol) continue;
    const u = col[j]!;
    const vj = v[j]!;
    // (U·Vᵀ)[i][k] += u_j[i]·v_j[k] in the working orientation; transposed back when needed.
    for (let i = 0; i < m; i++) {
      const ui = u[i]! / sj;
      for (let k = 0; k < n; k++) {
        if (transpose) gradient[k * cols + i] += ui * vj[k]!;
        else gradient[i * cols + k] += ui * vj[k]!;
      }
    }
  }
  return { value: sigma.reduce((x, y) => x + y, 0), gradient, singular: [...sigma].sort((x, y) => y - x) };
}

/** Every entry of a dense row-major matrix as a sparse one. */
const allEntries = (a: ArrayLike<number>, rows: number, cols: number) => ({ rows, cols, flat: Array.from({ length: rows * cols }, (_, i) => i), values: a });

/** k distinct random flat indices with N(0, scale²) values, as SaRA's selected entries after training. */
function randomSparse(rows: number, cols: number, density: number, seed: number, scale = 5e-3) {
  const rng = Rng.fromSeed(seed);
  const k = Math.round(density * rows * cols);
  const order = Array.from({ length: rows * cols }, (_, i) => i);
  for (let i = 0; i < k; i++) {
    const j = i + rng.int(order.length - i);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const flat = order.slice(0, k).sort((a, b) => a - b);
  return { rows, cols, flat, values: rng.fill(k, (r) => scale * r.normal()) };
}

function dense(m: { rows: number; cols: number; flat: ArrayLike<number>; values: ArrayLike<number> }): Float64Array {
  const out = new Float64Array(m.rows * m.cols);
  for (let j = 0; j < m.values.length; j++) out[m.flat[j]!] = m.values[j]!;
  return out;
}

const matmul = (a: ArrayLike<number>, b: ArrayLike<number>, n: number, k: number, m: number) =>
  Array.from({ length: n * m }, (_, i) => {
    let s = 0;
    for (let j = 0; j < k; j++) s += a[Math.floor(i / m) * k + j]! * b[j * m + (i % m)]!;
    return s;
  });
const transposed = (a: ArrayLike<number>, rows: number, cols: number) => Array.from({ length: rows * cols }, (_, i) => a[(i % rows) * cols + Math.floor(i / rows)]!);

describe('sparseNuclearNorm', () => {
  it('matches hand values: diag(3, −4) and a rank-one outer product', () => {
    const d = sparseNuclearNorm(allEntries([3, 0, 0, -4], 2, 2));
    expect(d.value).toBeCloseTo(7, 12);
    expect(Array.from(d.gradient)).toEqual([1, 0, 0, -1].map((v) => expect.closeTo(v, 12)));
    // u = (1, 2, 2), v = (3, 4): ‖u vᵀ‖_* = |u|·|v| = 3·5, gradient u vᵀ / 15.
    const u = [1, 2, 2];
    const v = [3, 4];
    const outer = u.flatMap((a) => v.map((b) => a * b));
    const r = sparseNuclearNorm(allEntries(outer, 3, 2));
    expect(r.value).toBeCloseTo(15, 10);
    expect(r.singular[1]).toBeLessThan(1e-6);
    r.gradient.forEach((g, i) => expect(g).toBeCloseTo(outer[i]! / 15, 10));
  });

  for (const [rows, cols] of [
    [5, 3],
    [3, 5],
  ]) {
    it(`random ${rows}×${cols}: σ² are the eigenvalues' sum and product, UVᵀ is a partial isometry with ⟨A, UVᵀ⟩ = Σσ`, () => {
      const a = Rng.fromSeed(rows).fill(rows * cols, (g) => g.normal());
      const { value, gradient, singular } = sparseNuclearNorm(allEntries(a, rows, cols));
      const frob = a.reduce((s, v) => s + v * v, 0);
      expect(singular.reduce((s, v) => s + v * v, 0)).toBeCloseTo(frob, 9);
      // det(AᵀA) (or AAᵀ) over the short side = Π σ², by a plain 3×3 determinant.
      const short = Math.min(rows, cols);
      const gram = rows >= cols ? matmul(transposed(a, rows, cols), a, cols, rows, cols) : matmul(a, transposed(a, rows, cols), rows, cols, rows);
      const g = (i: number, j: number) => gram[i * short + j]!;
      const det = g(0, 0) * (g(1, 1) * g(2, 2) - g(1, 2) * g(2, 1)) - g(0, 1) * (g(1, 0) * g(2, 2) - g(1, 2) * g(2, 0)) + g(0, 2) * (g(1, 0) * g(2, 1) - g(1, 1) * g(2, 0));
      expect(singular.reduce((p, s) => p * s * s, 1)).toBeCloseTo(det, 6);
      expect(a.reduce((s, v, i) => s + v * gradient[i]!, 0)).toBeCloseTo(value, 9);
      const q = rows >= cols ? matmul(transposed(gradient, rows, cols), gradient, cols, rows, cols) : matmul(gradient, transposed(gradient, rows, cols), rows, cols, rows);
      q.forEach((v, i) => expect(v).toBeCloseTo(Math.floor(i / short) === i % short ? 1 : 0, 9));
    });
  }

  // SaRA's shapes at 5 % (wide, tall, square, and square at 2 %, which leaves empty rows: rank-deficient).
  for (const [rows, cols, density, seed] of [
    [48, 144, 0.05, 1],
    [144, 48, 0.05, 2],
    [48, 48, 0.05, 3],
    [64, 64, 0.02, 4],
  ] as const) {
    it(`equals the dense Jacobi SVD on a random sparse ${rows}×${cols} at ${density * 100} %: value, UVᵀ at the entries, singular values`, () => {
      const m = randomSparse(rows, cols, density, seed);
      const ours = sparseNuclearNorm(m);
      const ref = jacobiNuclearNorm(dense(m), rows, cols);
      expect(Math.abs(ours.value - ref.value) / ref.value).toBeLessThan(1e-9);
      let worst = 0;
      m.flat.forEach((f, j) => (worst = Math.max(worst, Math.abs(ours.gradient[j]! - ref.gradient[f]!))));
      expect(worst).toBeLessThan(1e-6);
      ours.singular.forEach((s, i) => expect(Math.abs(s - ref.singular[i]!)).toBeLessThan(1e-6 * ref.singular[0]!));
    });
  }

  it('a zero Δ (SaRA at step 0) has norm 0 and gradient 0', () => {
    const r = sparseNuclearNorm({ rows: 8, cols: 12, flat: [0, 13, 95], values: [0, 0, 0] });
    expect(r.value).toBe(0);
    expect(Array.from(r.gradient)).toEqual([0, 0, 0]);
  });
});

describe('symmetricEigen', () => {
  it('A = V·diag(λ)·Vᵀ with orthonormal V on a random symmetric 30×30 matrix', () => {
    const n = 30;
    const r = Rng.fromSeed(9).fill(n * n, (g) => g.normal());
    const a = Float64Array.from({ length: n * n }, (_, i) => r[i]! + r[(i % n) * n + Math.floor(i / n)]!);
    const { eigenvalues, eigenvectors } = symmetricEigen(a.slice(), n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        let rebuilt = 0;
        let dot = 0;
        for (let e = 0; e < n; e++) {
          rebuilt += eigenvectors[e * n + i]! * eigenvalues[e]! * eigenvectors[e * n + j]!;
          dot += eigenvectors[i * n + e]! * eigenvectors[j * n + e]!;
        }
        expect(rebuilt).toBeCloseTo(a[i * n + j]!, 10);
        expect(dot).toBeCloseTo(i === j ? 1 : 0, 12);
      }
    }
  });
});
