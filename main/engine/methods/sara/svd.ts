// Singular values and the polar factor U·Vᵀ of small dense matrices on the CPU, by one-sided
// Jacobi (Hestenes) rotations in float64: tfjs has no SVD, and SaRA's nuclear-norm penalty needs
// ‖Δ‖_* = Σσ and its (sub)gradient U·Vᵀ.

export interface NuclearNorm {
  /** Σσ over all singular values. */
  value: number;
  /** U·Vᵀ over the singular values above the rank tolerance, row-major like the input. */
  gradient: Float64Array;
  /** Singular values, descending. */
  singular: number[];
}

const MAX_SWEEPS = 60;

/**
 * ‖A‖_* and U·Vᵀ for a row-major rows × cols matrix. Works on the transpose when rows < cols, so
 * rotations act on the shorter side.
 */
export function nuclearNorm(a: ArrayLike<number>, rows: number, cols: number): NuclearNorm {
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
