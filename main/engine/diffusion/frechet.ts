// Fréchet distance between two Gaussians fitted to feature sets:
//   d² = |μ1 − μ2|² + Tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^½).
// The formula of FID, applied here to whatever features the caller gives (the bench uses its own
// Fashion-MNIST classifier's, so the figure is not FID and must not be called so).

/** Mean [d] and covariance [d·d] (unbiased, row-major) of n rows of d features. */
export function meanAndCovariance(rows: readonly ArrayLike<number>[], d: number): { mean: Float64Array; cov: Float64Array } {
  const n = rows.length;
  if (n < 2) throw new Error('a covariance needs at least 2 rows');
  const mean = new Float64Array(d);
  for (const r of rows) for (let j = 0; j < d; j++) mean[j]! += r[j]! / n;
  const cov = new Float64Array(d * d);
  const centred = new Float64Array(d);
  for (const r of rows) {
    for (let j = 0; j < d; j++) centred[j] = r[j]! - mean[j]!;
    for (let i = 0; i < d; i++) {
      const ci = centred[i]!;
      for (let j = i; j < d; j++) cov[i * d + j]! += (ci * centred[j]!) / (n - 1);
    }
  }
  for (let i = 0; i < d; i++) for (let j = 0; j < i; j++) cov[i * d + j] = cov[j * d + i]!;
  return { mean, cov };
}

/** Eigen-decomposition of a symmetric d×d matrix by cyclic Jacobi rotations: values and column vectors. */
export function symmetricEigen(matrix: Float64Array, d: number): { values: Float64Array; vectors: Float64Array } {
  const a = Float64Array.from(matrix);
  const v = new Float64Array(d * d);
  for (let i = 0; i < d; i++) v[i * d + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    let scale = 0;
    for (let i = 0; i < d; i++) {
      scale += a[i * d + i]! ** 2;
      for (let j = i + 1; j < d; j++) off += a[i * d + j]! ** 2;
    }
    if (off <= 1e-30 * Math.max(scale, 1e-300)) break;
    for (let p = 0; p < d; p++) {
      for (let q = p + 1; q < d; q++) {
        const apq = a[p * d + q]!;
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q * d + q]! - a[p * d + p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < d; k++) {
          const akp = a[k * d + p]!;
          const akq = a[k * d + q]!;
          a[k * d + p] = c * akp - s * akq;
          a[k * d + q] = s * akp + c * akq;
        }
        for (let k = 0; k < d; k++) {
          const apk = a[p * d + k]!;
          const aqk = a[q * d + k]!;
          a[p * d + k] = c * apk - s * aqk;
          a[q * d + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < d; k++) {
          const vkp = v[k * d + p]!;
          const vkq = v[k * d + q]!;
          v[k * d + p] = c * vkp - s * vkq;
          v[k * d + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  return { values: Float64Array.from({ length: d }, (_, i) => a[i * d + i]!), vectors: v };
}

function multiply(x: Float64Array, y: Float64Array, d: number): Float64Array {
  const out = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let k = 0; k < d; k++) {
      const xik = x[i * d + k]!;
      if (xik === 0) continue;
      for (let j = 0; j < d; j++) out[i * d + j]! += xik * y[k * d + j]!;
    }
  }
  return out;
}

/**
 * Fréchet distance (squared, as FID reports it) between N(μ1, Σ1) and N(μ2, Σ2). Tr((Σ1Σ2)^½) is
 * Σ √λ of the symmetric √Σ1 Σ2 √Σ1, which has the same eigenvalues; tiny negative eigenvalues
 * from rounding count as 0.
 */
export function frechetDistance(a: { mean: Float64Array; cov: Float64Array }, b: { mean: Float64Array; cov: Float64Array }, d: number): number {
  const { values, vectors } = symmetricEigen(a.cov, d);
  const sqrtA = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < d; j++) {
      let sum = 0;
      for (let k = 0; k < d; k++) sum += vectors[i * d + k]! * Math.sqrt(Math.max(values[k]!, 0)) * vectors[j * d + k]!;
      sqrtA[i * d + j] = sum;
    }
  }
  const inner = multiply(multiply(sqrtA, b.cov, d), sqrtA, d);
  const traceSqrt = symmetricEigen(inner, d).values.reduce((s, l) => s + Math.sqrt(Math.max(l, 0)), 0);
  let meanTerm = 0;
  let trace = 0;
  for (let i = 0; i < d; i++) {
    meanTerm += (a.mean[i]! - b.mean[i]!) ** 2;
    trace += a.cov[i * d + i]! + b.cov[i * d + i]!;
  }
  return meanTerm + trace - 2 * traceSqrt;
}
