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
    for _ in 0..reps {
        let w = wishart_identity(m, dim, dim > m, &mut rng)?; // Z Zᵀ, Z [m, dim] standard normal
        // Increment Gram with the step lengths: K = S W S / dim (E‖s_i z_i‖²/dim = s_i²).
        let mut k = vec![0.0f64; m * m];
        for i in 0..m {
            for j in 0..m {
                k[i * m + j] = s[i] * s[j] * w[i * m + j] / dim as f64;
            }
        }
        // Positions X_i = Σ_{t < i} increments (X_0 = 0): G = C K Cᵀ with C[i][t] = [t < i];
        // cumulative sums over rows, then over columns.
        let mut g = vec![0.0f64; e * e];
        // P[i][j] = Σ_{t<i} K[t][j]
        let mut p = vec![0.0f64; e * m];
        for i in 1..e {
            for j in 0..m {
                p[i * m + j] = p[(i - 1) * m + j] + k[(i - 1) * m + j];
            }
        }
        for i in 0..e {
            for j in 1..e {
                g[i * e + j] = g[i * e + j - 1] + p[i * m + j - 1];
            }
        }
        centre(&mut g, e);
        let (vals, _) = eigh_desc(&g, e)?;
        let total: f64 = vals.iter().map(|v| v.max(0.0)).sum();
        out.push(if total > 0.0 {
            vals[0].max(0.0) / total
        } else {
            0.0
        });
    }
    Ok(NullSummary::of(&out))
}

/// `Z Zᵀ` for `Z` `[m, dim]` of independent standard normals, `[m, m]` row-major: drawn
/// directly, or (`bartlett`, needs `dim ≥ m`) by the Bartlett decomposition (`A Aᵀ`, `A` lower
/// triangular with `A_ii² ~ χ²(dim − i)` and standard normal entries below the diagonal).
fn wishart_identity(m: usize, dim: usize, bartlett: bool, rng: &mut Xoshiro256PlusPlus) -> Result<Vec<f64>> {
    let mut w = vec![0.0f64; m * m];
    if !bartlett || dim < m {
        let z: Vec<f64> = (0..m * dim).map(|_| rng.sample(StandardNormal)).collect();
        for i in 0..m {
            for j in 0..=i {
                let v: f64 = (0..dim).map(|d| z[i * dim + d] * z[j * dim + d]).sum();
                w[i * m + j] = v;
                w[j * m + i] = v;
            }
        }
        return Ok(w);
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
    for i in 0..m {
        for j in 0..=i {
            let v: f64 = (0..=j).map(|t| a[i * m + t] * a[j * m + t]).sum();
            w[i * m + j] = v;
            w[j * m + i] = v;
        }
    }
    Ok(w)
}

/// Double-centres the symmetric `[e, e]` matrix `g` in place (`H g H`, `H = I − 11ᵀ/e`).
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
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ShuffledPca {
    /// PC1's fraction of the variance.
    pub pc1_fraction: NullSummary,
    /// Components for 80 % of the variance.
    pub k80: NullSummary,
    /// Components for 85 % of the variance.
    pub k85: NullSummary,
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
        pc1.push(p.explained().first().copied().unwrap_or(f64::NAN));
        let count = |f| components_for(&p.variances, f).map_or(f64::NAN, |k| k as f64);
        k80.push(count(0.8));
        k85.push(count(0.85));
    }
    Ok(ShuffledPca {
        pc1_fraction: NullSummary::of(&pc1),
        k80: NullSummary::of(&k80),
        k85: NullSummary::of(&k85),
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
