//! Matched null models for the PCA analyses: how much variance the first component would
//! carry, and how many components 80 % of the variance would need, in data *without* the
//! structure the analyses claim (docs/MODEL.md §5.10).
//!
//! - **Synaptic PCA** ([`random_walk_pc1`]): a random walk of the same dimension `D` and
//!   length `E` as the parameter trajectory, with the trajectory's own step lengths (the
//!   learning-rate schedule makes steps shrink; an isotropic walk with such steps is the
//!   matched "no preferred direction" model). Even an unstructured walk puts most of its
//!   variance on PC1 (for many equal steps about 6/π² ≈ 61 %), so a trained trajectory is
//!   "low-dimensional" only by its distance from this null, not by PC1 ≥ 50 %.
//!   The increments' Gram matrix is a Wishart matrix, drawn exactly with the Bartlett
//!   decomposition in `O(E³)` per repeat, whatever `D` is.
//! - **Neural PCA** ([`shuffled_pca`]): every neuron's samples (trial × time) permuted
//!   independently, which keeps each neuron's variance and destroys the covariation
//!   between neurons; the null spectrum is what independent neurons with the same variances
//!   give.
//!
//! Each null is summarized over `reps` seeded repeats by its mean and its 2.5 % and 97.5 %
//! quantiles ([`NullSummary`]).

use super::pca::{Pca, components_for, eigh_desc};
use crate::error::{Result, SasError};
use rand::{RngExt, SeedableRng};
use rand_distr::{ChiSquared, Distribution, StandardNormal};
use rand_xoshiro::Xoshiro256PlusPlus;

/// A null statistic over seeded repeats.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NullSummary {
    /// Repeats drawn.
    pub reps: usize,
    /// Mean over the repeats.
    pub mean: f64,
    /// 2.5 % quantile.
    pub lo: f64,
    /// 97.5 % quantile.
    pub hi: f64,
}

impl NullSummary {
    /// Summary of `values` (one per repeat; none may be NaN).
    pub fn of(values: &[f64]) -> NullSummary {
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let q = |p: f64| {
            if v.is_empty() {
                return f64::NAN;
            }
            // Linear interpolation between order statistics (type 7, as NumPy's default).
            let h = p * (v.len() - 1) as f64;
            let (i, f) = (h.floor() as usize, h - h.floor());
            if i + 1 < v.len() {
                v[i] + f * (v[i + 1] - v[i])
            } else {
                v[i]
            }
        };
        NullSummary {
            reps: v.len(),
            mean: if v.is_empty() {
                f64::NAN
            } else {
                v.iter().sum::<f64>() / v.len() as f64
            },
            lo: q(0.025),
            hi: q(0.975),
        }
    }
}

/// The PC1 fraction of the variance of `reps` random walks in `dim` dimensions whose `E =
/// steps.len()` positions start at the origin and move by isotropic Gaussian steps with
/// expected lengths `steps[1..]` (`steps[0]`, the start, is ignored; `TrajectoryPca::steps`
/// has this layout). Seeded by `seed`; deterministic.
///
/// Each repeat draws a factor `F` of the increments' Wishart Gram matrix
/// ([`wishart_factor`]), forms the positions in that basis (`Y = C S F / √dim`, `C` the
/// cumulative sum, `S` the step lengths), centres them, and divides the largest eigenvalue of
/// the centred Gram matrix ([`lanczos_top`]) by its trace: `O(E²)` per Lanczos iteration,
/// whatever `dim` is.
///
/// Errors when fewer than 3 positions, `dim` is 0, or a step is negative or not finite.
pub fn random_walk_pc1(steps: &[f64], dim: usize, reps: usize, seed: u64) -> Result<NullSummary> {
    let e = steps.len();
    if e < 3 || dim == 0 || reps == 0 {
        return Err(SasError::InvalidArgument {
            name: "random-walk null".into(),
            reason: format!("needs at least 3 positions, 1 dimension and 1 repeat (got {e}, {dim}, {reps})"),
        });
    }
    let s = &steps[1..];
    if let Some(x) = s.iter().find(|x| !(x.is_finite() && **x >= 0.0)) {
        return Err(SasError::InvalidArgument {
            name: "random-walk null".into(),
            reason: format!("a step length is {x}"),
        });
    }
    let m = e - 1; // increments
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut out = Vec::with_capacity(reps);
    let scale = 1.0 / (dim as f64).sqrt();
    // Start vector of the Lanczos iteration: the centred ramp (close to the walk's PC1).
    let ramp: Vec<f64> = (0..e).map(|i| i as f64 - (e - 1) as f64 / 2.0).collect();
    for _ in 0..reps {
        let (f, r, bartlett) = wishart_factor(m, dim, &mut rng)?; // F [m, r], F Fᵀ ~ W(dim, I)
        // Positions Y[i] = Σ_{t < i} s_t F[t] / √dim (Y[0] = 0); with the Bartlett factor
        // (lower triangular) row i has nonzeros in its first min(i, r) columns only.
        let nz: Vec<usize> = (0..e).map(|i| if bartlett { i.min(r) } else { r }).collect();
        let mut y = vec![0.0f64; e * r];
        for i in 1..e {
            let (prev, cur) = y.split_at_mut(i * r);
            let prev = &prev[(i - 1) * r..];
            let w = s[i - 1] * scale;
            let frow = &f[(i - 1) * r..i * r];
            for j in 0..nz[i] {
                cur[j] = prev[j] + w * frow[j];
            }
        }
        // Column means (the centring) and the trace of the centred Gram matrix.
        let mut mean = vec![0.0f64; r];
        for i in 0..e {
            for (mj, v) in mean.iter_mut().zip(&y[i * r..i * r + nz[i]]) {
                *mj += v;
            }
        }
        mean.iter_mut().for_each(|v| *v /= e as f64);
        let sq: f64 = y.iter().map(|v| v * v).sum();
        let total = sq - e as f64 * mean.iter().map(|v| v * v).sum::<f64>();
        if total.is_nan() || total <= 0.0 {
            out.push(0.0);
            continue;
        }
        // v ↦ Y_c Y_cᵀ v with Y_c = Y − 1 meanᵀ, using the zero pattern of Y.
        let mut u = vec![0.0f64; r];
        let op = |v: &[f64], w: &mut [f64]| {
            u.iter_mut().for_each(|x| *x = 0.0);
            let sv: f64 = v.iter().sum();
            for i in 0..e {
                let vi = v[i];
                for (uj, yij) in u.iter_mut().zip(&y[i * r..i * r + nz[i]]) {
                    *uj += yij * vi;
                }
            }
            for (uj, mj) in u.iter_mut().zip(&mean) {
                *uj -= mj * sv;
            }
            let mu: f64 = mean.iter().zip(u.iter()).map(|(a, b)| a * b).sum();
            for i in 0..e {
                let d: f64 = y[i * r..i * r + nz[i]]
                    .iter()
                    .zip(u.iter())
                    .map(|(a, b)| a * b)
                    .sum();
                w[i] = d - mu;
            }
        };
        let top = lanczos_top(e, &ramp, op)?;
        out.push((top / total).clamp(0.0, 1.0));
    }
    Ok(NullSummary::of(&out))
}

/// The largest eigenvalue of the symmetric positive semi-definite operator `op` (`w ← A v`)
/// on `Rⁿ`, by the Lanczos iteration with full reorthogonalization from `v0` (deterministic).
/// Stops when the residual bound `β_k |s_k|` of the top Ritz pair falls below `1e-12` of the
/// Ritz value, at an invariant subspace, or after `min(n, 80)` steps.
pub(crate) fn lanczos_top(n: usize, v0: &[f64], mut op: impl FnMut(&[f64], &mut [f64])) -> Result<f64> {
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let n0 = norm(v0);
    if v0.len() != n || !(n0 > 0.0 && n0.is_finite()) {
        return Err(SasError::InvalidArgument {
            name: "Lanczos iteration".into(),
            reason: format!("needs a finite nonzero start vector of length {n}"),
        });
    }
    let kmax = n.min(80);
    let mut q: Vec<Vec<f64>> = vec![v0.iter().map(|x| x / n0).collect()];
    let (mut alpha, mut beta) = (Vec::<f64>::new(), Vec::<f64>::new());
    let mut w = vec![0.0f64; n];
    let mut theta = 0.0;
    for k in 0..kmax {
        op(&q[k], &mut w);
        let a: f64 = q[k].iter().zip(&w).map(|(x, y)| x * y).sum();
        alpha.push(a);
        // Full reorthogonalization, twice (classical Gram–Schmidt, "twice is enough").
        for _ in 0..2 {
            for qi in &q {
                let c: f64 = qi.iter().zip(&w).map(|(x, y)| x * y).sum();
                w.iter_mut().zip(qi).for_each(|(wj, qj)| *wj -= c * qj);
            }
        }
        let b = norm(&w);
        // Top Ritz pair of the (k+1) × (k+1) tridiagonal matrix.
        let m = k + 1;
        let mut t = vec![0.0f64; m * m];
        for i in 0..m {
            t[i * m + i] = alpha[i];
            if i + 1 < m {
                t[i * m + i + 1] = beta[i];
                t[(i + 1) * m + i] = beta[i];
            }
        }
        let (vals, vecs) = eigh_desc(&t, m)?;
        theta = vals[0];
        let resid = b * vecs[(m - 1) * m].abs();
        if b.is_nan() || b <= 1e-14 * theta.abs().max(f64::MIN_POSITIVE) || resid <= 1e-12 * theta.abs() {
            break;
        }
        beta.push(b);
        q.push(w.iter().map(|x| x / b).collect());
    }
    if !theta.is_finite() {
        return Err(SasError::Numerical {
            name: "Lanczos iteration".into(),
            reason: "the largest eigenvalue is not finite".into(),
        });
    }
    Ok(theta)
}

/// A factor `F` (`[m, r]` row-major) with `F Fᵀ` distributed as `Z Zᵀ`, `Z` `[m, dim]` of
/// independent standard normals: `Z` itself (`r = dim`) when `dim ≤ m`, else (`r = m`) the
/// Bartlett factor (lower triangular, `F_ii² ~ χ²(dim − i)`, standard normal entries below
/// the diagonal). Returns `(F, r, whether F is the Bartlett factor)`.
fn wishart_factor(m: usize, dim: usize, rng: &mut Xoshiro256PlusPlus) -> Result<(Vec<f64>, usize, bool)> {
    if dim <= m {
        let z: Vec<f64> = (0..m * dim).map(|_| rng.sample(StandardNormal)).collect();
        return Ok((z, dim, false));
    }
    let mut a = vec![0.0f64; m * m];
    for i in 0..m {
        let chi = ChiSquared::new((dim - i) as f64).map_err(|e| SasError::Numerical {
            name: "random-walk null".into(),
            reason: e.to_string(),
        })?;
        a[i * m + i] = chi.sample(rng).sqrt();
        for j in 0..i {
            a[i * m + j] = rng.sample(StandardNormal);
        }
    }
    Ok((a, m, true))
}

/// `Z Zᵀ` for `Z` `[m, dim]` of independent standard normals, `[m, m]` row-major: drawn
/// directly, or (`bartlett`, needs `dim > m`) by the Bartlett decomposition
/// ([`wishart_factor`]).
#[cfg(test)]
fn wishart_identity(m: usize, dim: usize, bartlett: bool, rng: &mut Xoshiro256PlusPlus) -> Result<Vec<f64>> {
    let (f, r) = if bartlett && dim > m {
        let (f, r, _) = wishart_factor(m, dim, rng)?;
        (f, r)
    } else {
        let z: Vec<f64> = (0..m * dim).map(|_| rng.sample(StandardNormal)).collect();
        (z, dim)
    };
    let mut w = vec![0.0f64; m * m];
    for i in 0..m {
        for j in 0..=i {
            let v: f64 = (0..r).map(|t| f[i * r + t] * f[j * r + t]).sum();
            w[i * m + j] = v;
            w[j * m + i] = v;
        }
    }
    Ok(w)
}

/// Double-centres the symmetric `[e, e]` matrix `g` in place (`H g H`, `H = I − 11ᵀ/e`).
#[cfg(test)]
fn centre(g: &mut [f64], e: usize) {
    let row: Vec<f64> = (0..e)
        .map(|i| g[i * e..(i + 1) * e].iter().sum::<f64>() / e as f64)
        .collect();
    let all = row.iter().sum::<f64>() / e as f64;
    for i in 0..e {
        for j in 0..e {
            g[i * e + j] += all - row[i] - row[j];
        }
    }
}

/// The shuffled-samples null of neural PCA.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ShuffledPca {
    /// PC1's fraction of the variance.
    pub pc1_fraction: NullSummary,
    /// Components for 80 % of the variance.
    pub k80: NullSummary,
    /// Components for 85 % of the variance.
    pub k85: NullSummary,
    /// The explained fraction of each component (`[cols]`), mean over the repeats (for
    /// figures and tables; not serialized).
    #[serde(skip)]
    pub explained_mean: Vec<f64>,
    /// Its 2.5 % quantile over the repeats, per component (not serialized).
    #[serde(skip)]
    pub explained_lo: Vec<f64>,
    /// Its 97.5 % quantile over the repeats, per component (not serialized).
    #[serde(skip)]
    pub explained_hi: Vec<f64>,
}

/// PCA of `data` (`[rows, cols]` row-major: samples × neurons) after permuting every
/// column independently, `reps` times (seeded by `seed`).
pub fn shuffled_pca(data: &[f64], rows: usize, cols: usize, reps: usize, seed: u64) -> Result<ShuffledPca> {
    if data.len() != rows * cols || reps == 0 {
        return Err(SasError::InvalidArgument {
            name: "shuffled PCA null".into(),
            reason: format!(
                "{} values for {rows} × {cols} samples × neurons, {reps} repeats",
                data.len()
            ),
        });
    }
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut shuffled = data.to_vec();
    let mut idx: Vec<usize> = (0..rows).collect();
    let (mut pc1, mut k80, mut k85) = (Vec::new(), Vec::new(), Vec::new());
    // spectra[component][repeat]
    let mut spectra = vec![Vec::with_capacity(reps); cols];
    for _ in 0..reps {
        for c in 0..cols {
            // Fisher–Yates on the row order of column c.
            for i in (1..rows).rev() {
                let j = rng.random_range(0..=i);
                idx.swap(i, j);
            }
            for (r, &src) in idx.iter().enumerate() {
                shuffled[r * cols + c] = data[src * cols + c];
            }
        }
        let p = Pca::fit(&shuffled, rows, cols)?;
        let ex = p.explained();
        for (c, v) in spectra.iter_mut().zip(&ex) {
            c.push(*v);
        }
        pc1.push(ex.first().copied().unwrap_or(f64::NAN));
        let count = |f| components_for(&p.variances, f).map_or(f64::NAN, |k| k as f64);
        k80.push(count(0.8));
        k85.push(count(0.85));
    }
    let per_component: Vec<NullSummary> = spectra.iter().map(|c| NullSummary::of(c)).collect();
    Ok(ShuffledPca {
        pc1_fraction: NullSummary::of(&pc1),
        k80: NullSummary::of(&k80),
        k85: NullSummary::of(&k85),
        explained_mean: per_component.iter().map(|s| s.mean).collect(),
        explained_lo: per_component.iter().map(|s| s.lo).collect(),
        explained_hi: per_component.iter().map(|s| s.hi).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_hand() {
        let s = NullSummary::of(&[4.0, 1.0, 3.0, 2.0, 5.0]);
        assert_eq!(s.reps, 5);
        assert_eq!(s.mean, 3.0);
        // type 7: h = 0.025·4 = 0.1 → 1 + 0.1·1; h = 3.9 → 4 + 0.9·1.
        assert!((s.lo - 1.1).abs() < 1e-12 && (s.hi - 4.9).abs() < 1e-12, "{s:?}");
    }

    #[test]
    fn equal_step_walk_puts_about_six_over_pi_squared_on_pc1() {
        // Brownian motion: the first Karhunen–Loève component of the centred path carries
        // 6/π² ≈ 0.61 of its expected variance.
        let steps = vec![1.0; 201];
        let s = random_walk_pc1(&steps, 5000, 200, 7).unwrap();
        assert!((0.55..0.67).contains(&s.mean), "{s:?}");
        assert!(s.lo < s.mean && s.mean < s.hi && s.hi <= 1.0);
        // Deterministic in its seed.
        assert_eq!(s, random_walk_pc1(&steps, 5000, 200, 7).unwrap());
    }

    /// The PC1 fraction of one walk drawn as `random_walk_pc1` draws its first repeat, by the
    /// full eigendecomposition of the explicit centred Gram matrix.
    fn reference_pc1(steps: &[f64], dim: usize, seed: u64) -> f64 {
        let e = steps.len();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let (f, r, _) = wishart_factor(e - 1, dim, &mut rng).unwrap();
        let mut x = vec![0.0; e * r];
        for i in 1..e {
            for j in 0..r {
                x[i * r + j] = x[(i - 1) * r + j] + steps[i] * f[(i - 1) * r + j] / (dim as f64).sqrt();
            }
        }
        let mut g: Vec<f64> = (0..e * e)
            .map(|ix| {
                let (i, j) = (ix / e, ix % e);
                (0..r).map(|t| x[i * r + t] * x[j * r + t]).sum()
            })
            .collect();
        centre(&mut g, e);
        let (vals, _) = eigh_desc(&g, e).unwrap();
        vals[0] / vals.iter().map(|v| v.max(0.0)).sum::<f64>()
    }

    #[test]
    fn lanczos_agrees_with_the_full_eigendecomposition() {
        // Shrinking steps (a learning-rate decay), Bartlett (dim > E − 1) and direct factors.
        let steps: Vec<f64> = (0..40).map(|i| 1.0 / (1.0 + 0.1 * i as f64)).collect();
        for (dim, seed) in [(500, 1), (39, 2), (7, 3), (2, 4)] {
            let got = random_walk_pc1(&steps, dim, 1, seed).unwrap().mean;
            let want = reference_pc1(&steps, dim, seed);
            assert!((got - want).abs() < 1e-9, "dim {dim}: {got} vs {want}");
        }
        // The iteration itself on a diagonal operator: eigenvalues 5, 3, 1, 0.
        let d = [1.0, 5.0, 0.0, 3.0];
        let top = lanczos_top(4, &[1.0, 1.0, 1.0, 1.0], |v, w| {
            for i in 0..4 {
                w[i] = d[i] * v[i];
            }
        })
        .unwrap();
        assert!((top - 5.0).abs() < 1e-12, "{top}");
        assert!(lanczos_top(2, &[0.0, 0.0], |_, _| {}).is_err());
    }

    #[test]
    fn three_equal_steps_by_hand() {
        // Positions 0, a, a + b with a ⊥ b, |a| = |b| = 1 (dim → ∞): centred (−2a − b)/3,
        // (a − b)/3, (a + 2b)/3, scatter matrix [[6, 3], [3, 6]]/9 with eigenvalues 1 and 1/3:
        // PC1 carries 3/4.
        let s = random_walk_pc1(&[0.0, 1.0, 1.0], 1_000_000, 50, 5).unwrap();
        assert!((s.mean - 0.75).abs() < 0.005, "{s:?}");
        assert!(s.hi - s.lo < 0.02, "{s:?}");
        // In one dimension every walk is a line: PC1 carries everything.
        let s = random_walk_pc1(&[0.0, 1.0, 2.0, 0.5, 1.0], 1, 30, 6).unwrap();
        assert!((s.lo - 1.0).abs() < 1e-12 && (s.hi - 1.0).abs() < 1e-12, "{s:?}");
    }

    #[test]
    fn bartlett_and_direct_wishart_draws_have_the_same_moments() {
        // W = Z Zᵀ, Z [m, dim]: E W = dim·I, Var W_ii = 2·dim, Var W_ij = dim (i ≠ j).
        let (m, dim, reps) = (4, 9, 20_000);
        for bartlett in [false, true] {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
            let (mut mean, mut sq) = (vec![0.0; m * m], vec![0.0; m * m]);
            for _ in 0..reps {
                let w = wishart_identity(m, dim, bartlett, &mut rng).unwrap();
                for (i, v) in w.iter().enumerate() {
                    mean[i] += v / reps as f64;
                    sq[i] += v * v / reps as f64;
                }
            }
            for i in 0..m {
                for j in 0..m {
                    let k = i * m + j;
                    let var = sq[k] - mean[k] * mean[k];
                    let (em, ev) = if i == j { (9.0, 18.0) } else { (0.0, 9.0) };
                    assert!(
                        (mean[k] - em).abs() < 0.15,
                        "bartlett {bartlett} mean[{i},{j}] {}",
                        mean[k]
                    );
                    assert!(
                        (var - ev).abs() < 0.1 * ev,
                        "bartlett {bartlett} var[{i},{j}] {var}"
                    );
                }
            }
        }
    }

    #[test]
    fn one_big_step_is_one_dimensional() {
        // All movement in one step: two clusters of positions, PC1 carries everything.
        let mut steps = vec![0.0; 30];
        steps[10] = 5.0;
        let s = random_walk_pc1(&steps, 1000, 20, 1).unwrap();
        assert!(s.lo > 0.999, "{s:?}");
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert!(random_walk_pc1(&[1.0, 1.0], 10, 5, 1).is_err());
        assert!(random_walk_pc1(&[1.0, f64::NAN, 1.0], 10, 5, 1).is_err());
        assert!(shuffled_pca(&[1.0; 5], 2, 3, 4, 1).is_err());
    }

    #[test]
    fn shuffling_removes_correlation() {
        // Two perfectly correlated neurons with equal variance: PC1 carries 100 %; shuffled,
        // about half.
        let rows = 400;
        let mut data = Vec::new();
        for r in 0..rows {
            let v = (r as f64 * 0.37).sin();
            data.extend([v, v]);
        }
        let p = Pca::fit(&data, rows, 2).unwrap();
        assert!(p.explained()[0] > 0.999);
        let n = shuffled_pca(&data, rows, 2, 50, 9).unwrap();
        assert!((0.5..0.65).contains(&n.pc1_fraction.mean), "{n:?}");
        assert_eq!(n.k80.mean, 2.0);
    }
}
