// SaRA's nuclear-norm penalty on the CPU: tfjs has no SVD, and the penalty needs ‖Δ‖_* = Σσ and
// its (sub)gradient U·Vᵀ at Δ's entries. Δ is sparse (5 % of a weight matrix), so both come from
// the small Gram matrix G of its short side (G = ΔΔᵀ when rows ≤ cols, ΔᵀΔ otherwise), built from
// the entries alone: G = U·Σ²·Uᵀ, ‖Δ‖_* = Σ√λ and U·Vᵀ = G^(-1/2)·Δ (ΔᵀΔ: Δ·G^(-1/2)), with G's
// eigenvalues λ by Householder tridiagonalisation and implicit QL in float64. On the issue ViT's
// 192 × 768 matrices this takes ~70 ms where a one-sided Jacobi SVD of the dense Δ took ~1 s
// (svd.test.ts keeps that SVD as the reference the two are compared against).

/** A sparse rows × cols matrix: values[j] at row-major flat index flat[j] (indices distinct). */
export interface SparseMatrix {
  rows: number;
  cols: number;
  flat: ArrayLike<number>;
  values: ArrayLike<number>;
}

export interface NuclearNorm {
  /** Σσ over the singular values above the rank tolerance. */
  value: number;
  /** (U·Vᵀ) at each entry, over the singular values above the rank tolerance: gradient[j] for flat[j]. */
  gradient: Float64Array;
  /** Singular values, descending (those below the tolerance as computed, not zeroed). */
  singular: number[];
}

/**
 * ‖Δ‖_* and U·Vᵀ at Δ's entries. Singular values with σ² ≤ max(rows, cols)·ε·σ²_max are rank
 * noise of the Gram form (σ below ~4e-7·σ_max for 768 rows, under float32 Δ's own precision) and
 * count as zero: they add nothing to the value or the gradient.
 */
export function sparseNuclearNorm(delta: SparseMatrix): NuclearNorm {
  const { rows, cols, flat, values } = delta;
  const k = values.length;
  // Short side s (G's order), long side l (the sum in G = Σ_l column_l·column_lᵀ).
  const shortIsRows = rows <= cols;
  const n = shortIsRows ? rows : cols;
  const lines = shortIsRows ? cols : rows;
  const s = new Int32Array(k);
  const line = new Int32Array(k);
  for (let j = 0; j < k; j++) {
    const f = flat[j]!;
    const r = Math.floor(f / cols);
    const c = f - r * cols;
    s[j] = shortIsRows ? r : c;
    line[j] = shortIsRows ? c : r;
  }
  // Entries grouped by their long-side line (counting sort): byLine[start[l] .. start[l+1]).
  const start = new Int32Array(lines + 1);
  for (let j = 0; j < k; j++) start[line[j]! + 1]!++;
  for (let l = 0; l < lines; l++) start[l + 1]! += start[l]!;
  const byLine = new Int32Array(k);
  const fill = start.slice(0, lines);
  for (let j = 0; j < k; j++) byLine[fill[line[j]!]!++] = j;

  const g = new Float64Array(n * n);
  for (let l = 0; l < lines; l++) {
    for (let a = start[l]!; a < start[l + 1]!; a++) {
      const i = byLine[a]!;
      const si = s[i]! * n;
      const vi = values[i]!;
      for (let b = start[l]!; b < start[l + 1]!; b++) {
        const j = byLine[b]!;
        g[si + s[j]!] += vi * values[j]!;
      }
    }
  }
  const { eigenvalues, eigenvectors } = symmetricEigen(g, n);
  const lambdaMax = Math.max(0, ...eigenvalues);
  const tol = Math.max(rows, cols) * Number.EPSILON * lambdaMax;
  // P = Σ_{λ > tol} u·uᵀ/√λ = G^(-1/2) on G's range; U·Vᵀ at (short i, line l) = Σ_j P[i, s_j]·Δ_j over line l.
  const p = new Float64Array(n * n);
  let value = 0;
  for (let e = 0; e < n; e++) {
    const lambda = eigenvalues[e]!;
    if (lambda <= tol) continue;
    const sigma = Math.sqrt(lambda);
    value += sigma;
    const u = eigenvectors.subarray(e * n, (e + 1) * n);
    for (let i = 0; i < n; i++) {
      const ui = u[i]! / sigma;
      if (ui === 0) continue;
      const row = i * n;
      for (let j = i; j < n; j++) p[row + j] += ui * u[j]!;
    }
  }
  const gradient = new Float64Array(k);
  for (let l = 0; l < lines; l++) {
    for (let a = start[l]!; a < start[l + 1]!; a++) {
      const i = byLine[a]!;
      let sum = 0;
      for (let b = start[l]!; b < start[l + 1]!; b++) {
        const j = byLine[b]!;
        const [lo, hi] = s[i]! <= s[j]! ? [s[i]!, s[j]!] : [s[j]!, s[i]!];
        sum += p[lo * n + hi]! * values[j]!;
      }
      gradient[i] = sum;
    }
  }
  const singular = Array.from(eigenvalues, (lambda) => Math.sqrt(Math.max(0, lambda))).sort((x, y) => y - x);
  return { value, gradient, singular };
}

/**
 * Eigenvalues and orthonormal eigenvectors (row e of `eigenvectors` for eigenvalue e) of a
 * symmetric row-major n × n matrix: Householder reduction to tridiagonal form and the implicit
 * QL method (EISPACK tred2/tql2, as in JAMA). `a` is overwritten.
 */
export function symmetricEigen(a: Float64Array, n: number): { eigenvalues: Float64Array; eigenvectors: Float64Array } {
  // v holds V transposed (v[c*n + r] = V[r][c]; G is symmetric, so a is its own transpose): the
  // inner loops then run along contiguous memory, and row e of v ends as eigenvector e.
  const v = a;
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  if (n === 0) return { eigenvalues: d, eigenvectors: new Float64Array(0) };
  for (let j = 0; j < n; j++) d[j] = v[j * n + (n - 1)]!;
  for (let i = n - 1; i > 0; i--) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]!);
    if (scale === 0) {
      e[i] = d[i - 1]!;
      for (let j = 0; j < i; j++) {
        d[j] = v[j * n + (i - 1)]!;
        v[j * n + i] = 0;
        v[i * n + j] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k] = d[k]! / scale;
        h += d[k]! * d[k]!;
      }
      let f = d[i - 1]!;
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        f = d[j]!;
        v[i * n + j] = f;
        g = e[j]! + v[j * n + j]! * f;
        for (let k = j + 1; k <= i - 1; k++) {
          g += v[j * n + k]! * d[k]!;
          e[k] = e[k]! + v[j * n + k]! * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] = e[j]! / h;
        f += e[j]! * d[j]!;
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] = e[j]! - hh * d[j]!;
      for (let j = 0; j < i; j++) {
        f = d[j]!;
        g = e[j]!;
        for (let k = j; k <= i - 1; k++) v[j * n + k] = v[j * n + k]! - (f * e[k]! + g * d[k]!);
        d[j] = v[j * n + (i - 1)]!;
        v[j * n + i] = 0;
      }
    }
    d[i] = h;
  }
  // Accumulate the transformations.
  for (let i = 0; i < n - 1; i++) {
    v[i * n + (n - 1)] = v[i * n + i]!;
    v[i * n + i] = 1;
    const h = d[i + 1]!;
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = v[(i + 1) * n + k]! / h;
      for (let j = 0; j <= i; j++) {
        let g = 0;
        for (let k = 0; k <= i; k++) g += v[(i + 1) * n + k]! * v[j * n + k]!;
        for (let k = 0; k <= i; k++) v[j * n + k] = v[j * n + k]! - g * d[k]!;
      }
    }
    for (let k = 0; k <= i; k++) v[(i + 1) * n + k] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = v[j * n + (n - 1)]!;
    v[j * n + (n - 1)] = 0;
  }
  v[n * n - 1] = 1;
  e[0] = 0;

  // Implicit QL; its rotations combine eigenvectors, rows of v.
  const w = v;
  for (let i = 1; i < n; i++) e[i - 1] = e[i]!;
  e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]!) + Math.abs(e[l]!));
    let m = l;
    while (m < n && Math.abs(e[m]!) > eps * tst1) m++;
    if (m > l) {
      do {
        let g = d[l]!;
        let p = (d[l + 1]! - g) / (2 * e[l]!);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l]! / (p + r);
        d[l + 1] = e[l]! * (p + r);
        const dl1 = d[l + 1]!;
        let h = g - d[l]!;
        for (let i = l + 2; i < n; i++) d[i] = d[i]! - h;
        f += h;
        p = d[m]!;
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1]!;
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i]!;
          h = c * p;
          r = Math.hypot(p, e[i]!);
          e[i + 1] = s * r;
          s = e[i]! / r;
          c = p / r;
          p = c * d[i]! - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]!);
          const wi = i * n;
          const wj = (i + 1) * n;
          for (let k = 0; k < n; k++) {
            const x = w[wj + k]!;
            w[wj + k] = s * w[wi + k]! + c * x;
            w[wi + k] = c * w[wi + k]! - s * x;
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]!) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]!) > eps * tst1);
    }
    d[l] = d[l]! + f;
    e[l] = 0;
  }
  return { eigenvalues: d, eigenvectors: w };
}
