//! Closed-form learning curves of the linearized (infinitely wide) network under the squared
//! loss `L = ½ Σ_a (f(x_a) − y_a)²`, by gradient flow and by discrete gradient steps.
//!
//! With `Θ = V diag(λ) Vᵀ` (faer's self-adjoint eigensolver), `r₀ = f_X(0) − Y`:
//!
//! ```text
//! flow (τ ≥ 0):  f_X(τ)  = Y + V e^{−ηλτ} Vᵀ r₀
//!                f_*(τ)  = f_*(0) − Θ(*,X) V [(1 − e^{−ηλτ}) / λ] Vᵀ r₀
//! steps (k ≥ 0): f_X(k)  = Y + V (1 − ηλ)^k Vᵀ r₀               (= (I − ηΘ)^k r₀ + Y)
//!                f_*(k)  = f_*(0) − Θ(*,X) V [(1 − (1 − ηλ)^k) / λ] Vᵀ r₀
//! ```
//!
//! The filters `(1 − e^{−ηλτ})/λ → ητ` and `(1 − (1−ηλ)^k)/λ → ηk` as `λ → 0`, so no
//! inverse of `Θ` is formed and a singular `Θ` is fine (`Θ^{-1}(I − e^{−ηΘτ})` is this
//! filter). Averaging over the Gaussian output at initialization, `f(0) ~ N(0, K)` (the NNGP
//! kernel), gives the expected errors ([`Linearized::expected_mse`]).

use crate::error::{Result, SasError};
use faer::{Mat, Side};

/// When to evaluate the linearized dynamics.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Schedule {
    /// Gradient flow `ḟ = −ηΘ(f − Y)` at time `τ`.
    Flow {
        /// Learning rate `η`.
        eta: f64,
        /// Time `τ` (`ητ` is the integrated learning rate).
        tau: f64,
    },
    /// `k` gradient-descent steps of size `η`.
    Steps {
        /// Learning rate `η`.
        eta: f64,
        /// Number of steps.
        k: usize,
    },
}

impl Schedule {
    /// The two spectral filters at eigenvalue `λ`: the decay `g(λ)` of the training
    /// residual and `h(λ) = (1 − g(λ)) / λ`.
    pub fn filters(&self, lambda: f64) -> (f64, f64) {
        match *self {
            Schedule::Flow { eta, tau } => {
                let c = eta * tau;
                let g = (-c * lambda).exp();
                let h = if lambda == 0.0 {
                    c
                } else {
                    -(-c * lambda).exp_m1() / lambda
                };
                (g, h)
            }
            Schedule::Steps { eta, k } => {
                let x = eta * lambda;
                if lambda == 0.0 {
                    return (1.0, eta * k as f64);
                }
                if x < 1.0 {
                    let l = k as f64 * (-x).ln_1p();
                    (l.exp(), -l.exp_m1() / lambda)
                } else {
                    let g = (1.0 - x).powf(k as f64);
                    (g, (1.0 - g) / lambda)
                }
            }
        }
    }
}

/// Predictions of the linearized network.
#[derive(Clone, Debug, PartialEq)]
pub struct Predictions {
    /// `f_X`, one per training input.
    pub train: Vec<f64>,
    /// `f_*`, one per test input.
    pub test: Vec<f64>,
}

/// The linearized dynamics of `P` training and `Q` test inputs.
#[derive(Clone, Debug)]
pub struct Linearized {
    p: usize,
    q: usize,
    lambda: Vec<f64>,
    /// Eigenvectors, `P × P` row-major, column `k` = eigenvector `k`.
    v: Vec<f64>,
    /// `S = Θ(*,X) V`, `Q × P`.
    s: Vec<f64>,
    /// `Vᵀ (f_X(0) − Y)`.
    c0: Vec<f64>,
    y: Vec<f64>,
    f0_test: Vec<f64>,
}

fn check_len(name: &str, v: &[f64], n: usize) -> Result<()> {
    if v.len() != n {
        return Err(SasError::Shape {
            name: name.into(),
            got: vec![v.len()],
            expected: vec![n],
        });
    }
    if let Some(k) = v.iter().position(|x| !x.is_finite()) {
        return Err(SasError::InvalidTensor {
            name: name.into(),
            reason: format!("entry {k} is not finite"),
        });
    }
    Ok(())
}

/// `Mat` from a `rows × cols` row-major slice.
fn mat(d: &[f64], rows: usize, cols: usize) -> Mat<f64> {
    Mat::from_fn(rows, cols, |i, j| d[i * cols + j])
}

impl Linearized {
    /// The dynamics for kernel `theta_xx` (`P × P`, symmetric), test kernel `theta_sx`
    /// (`Q × P`, `Θ(x*_i, x_j)`), targets `y` (`P`) and outputs at initialization `f0_train`
    /// (`P`) and `f0_test` (`Q`). Errors: shapes, non-finite values, an asymmetric kernel, an
    /// eigensolver failure.
    pub fn new(
        theta_xx: &[f64],
        theta_sx: &[f64],
        y: &[f64],
        f0_train: &[f64],
        f0_test: &[f64],
    ) -> Result<Self> {
        let p = y.len();
        let q = f0_test.len();
        if p == 0 {
            return Err(SasError::InvalidArgument {
                name: "theory targets".into(),
                reason: "no training inputs".into(),
            });
        }
        check_len("theta_xx", theta_xx, p * p)?;
        check_len("theta_sx", theta_sx, q * p)?;
        check_len("f0_train", f0_train, p)?;
        check_len("f0_test", f0_test, q)?;
        check_len("y", y, p)?;
        let scale = theta_xx.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-300);
        for i in 0..p {
            for j in 0..i {
                if (theta_xx[i * p + j] - theta_xx[j * p + i]).abs() > 1e-9 * scale {
                    return Err(SasError::InvalidTensor {
                        name: "theta_xx".into(),
                        reason: format!("not symmetric at ({i}, {j})"),
                    });
                }
            }
        }
        let th = mat(theta_xx, p, p);
        let evd = th
            .self_adjoint_eigen(Side::Lower)
            .map_err(|e| SasError::Numerical {
                name: "theta_xx".into(),
                reason: format!("eigendecomposition failed: {e:?}"),
            })?;
        let u = evd.U();
        let sd = evd.S().column_vector();
        let lambda: Vec<f64> = (0..p).map(|k| sd[k]).collect();
        let v: Vec<f64> = (0..p * p).map(|ix| u[(ix / p, ix % p)]).collect();
        let sm = mat(theta_sx, q, p) * u;
        let s: Vec<f64> = (0..q * p).map(|ix| sm[(ix / p, ix % p)]).collect();
        let c0 = (0..p)
            .map(|k| (0..p).map(|i| v[i * p + k] * (f0_train[i] - y[i])).sum())
            .collect();
        Ok(Linearized {
            p,
            q,
            lambda,
            v,
            s,
            c0,
            y: y.to_vec(),
            f0_test: f0_test.to_vec(),
        })
    }

    /// Eigenvalues of `Θ_XX`, nondecreasing.
    pub fn eigenvalues(&self) -> &[f64] {
        &self.lambda
    }

    /// Largest eigenvalue of `Θ_XX` (gradient descent is stable for `η < 2/λ_max`).
    pub fn lambda_max(&self) -> f64 {
        self.lambda[self.p - 1]
    }

    /// Training and test predictions after `sched`.
    pub fn predict(&self, sched: Schedule) -> Predictions {
        let (p, q) = (self.p, self.q);
        let (g, h): (Vec<f64>, Vec<f64>) = self.lambda.iter().map(|&l| sched.filters(l)).unzip();
        let gc: Vec<f64> = (0..p).map(|k| g[k] * self.c0[k]).collect();
        let hc: Vec<f64> = (0..p).map(|k| h[k] * self.c0[k]).collect();
        let train = (0..p)
            .map(|i| self.y[i] + (0..p).map(|k| self.v[i * p + k] * gc[k]).sum::<f64>())
            .collect();
        let test = (0..q)
            .map(|i| self.f0_test[i] - (0..p).map(|k| self.s[i * p + k] * hc[k]).sum::<f64>())
            .collect();
        Predictions { train, test }
    }

    /// The moments the expected errors need, for the output covariance at initialization:
    /// `k_xx` (`P × P`), `k_sx` (`Q × P`, `K(x*_i, x_j)`) and `k_ss_diag` (`Q`, `K(x*_i, x*_i)`).
    pub fn prior(&self, k_xx: &[f64], k_sx: &[f64], k_ss_diag: &[f64]) -> Result<GpPrior> {
        let (p, q) = (self.p, self.q);
        check_len("k_xx", k_xx, p * p)?;
        check_len("k_sx", k_sx, q * p)?;
        check_len("k_ss_diag", k_ss_diag, q)?;
        let v = mat(&self.v, p, p);
        let s = mat(&self.s, q, p);
        let kt = v.transpose() * mat(k_xx, p, p) * &v; // VᵀKV
        let sts = s.transpose() * &s; // SᵀS
        let w = v.transpose() * mat(k_sx, q, p).transpose(); // Vᵀ K_X*, P × Q
        let d = (0..p)
            .map(|k| (0..q).map(|i| s[(i, k)] * w[(k, i)]).sum())
            .collect();
        let flat = |m: &Mat<f64>| (0..p * p).map(|ix| m[(ix / p, ix % p)]).collect::<Vec<f64>>();
        Ok(GpPrior {
            kt: flat(&kt),
            sts: flat(&sts),
            d,
            k_ss: k_ss_diag.iter().sum(),
        })
    }

    /// Expected training and test mean squared errors `(1/P) E‖f_X − Y‖²`,
    /// `(1/Q) E‖f_* − Y_*‖²` after `sched`, over `f(0) ~ N(0, K)` (`prior`); the test error is
    /// NaN without test inputs.
    pub fn expected_mse(&self, prior: &GpPrior, y_test: &[f64], sched: Schedule) -> (f64, f64) {
        let (p, q) = (self.p, self.q);
        let (g, h): (Vec<f64>, Vec<f64>) = self.lambda.iter().map(|&l| sched.filters(l)).unzip();
        // Ỹ = Vᵀ Y
        let yt: Vec<f64> = (0..p)
            .map(|k| (0..p).map(|i| self.v[i * p + k] * self.y[i]).sum())
            .collect();
        // train: ‖G Ỹ‖² + Σ_k g_k² K̃_kk
        let train: f64 = (0..p)
            .map(|k| g[k] * g[k] * (yt[k] * yt[k] + prior.kt[k * p + k]))
            .sum::<f64>()
            / p as f64;
        if q == 0 || y_test.len() != q {
            return (train, f64::NAN);
        }
        // test: ‖S (h∘Ỹ) − Y*‖² + tr K** − 2 Σ_k h_k d_k + Σ_kl h_k h_l K̃_kl (SᵀS)_lk
        let hy: Vec<f64> = (0..p).map(|k| h[k] * yt[k]).collect();
        let bias: f64 = (0..q)
            .map(|i| {
                let e = (0..p).map(|k| self.s[i * p + k] * hy[k]).sum::<f64>() - y_test[i];
                e * e
            })
            .sum();
        let cross: f64 = (0..p).map(|k| h[k] * prior.d[k]).sum();
        let mut quad = 0.0;
        for k in 0..p {
            for l in 0..p {
                quad += h[k] * h[l] * prior.kt[k * p + l] * prior.sts[l * p + k];
            }
        }
        (train, (bias + prior.k_ss - 2.0 * cross + quad) / q as f64)
    }
}

/// Moments of the output at initialization in the eigenbasis of `Θ_XX`
/// ([`Linearized::prior`]).
#[derive(Clone, Debug)]
pub struct GpPrior {
    /// `K̃ = Vᵀ K_XX V`, `P × P`.
    kt: Vec<f64>,
    /// `SᵀS`, `P × P`.
    sts: Vec<f64>,
    /// `d_k = Σ_i S_ik (Vᵀ K_X*)_ki`.
    d: Vec<f64>,
    /// `tr K_**`.
    k_ss: f64,
}

/// Mean squared error `(1/n) Σ (f − y)²` (NaN for empty inputs).
pub fn mse(f: &[f64], y: &[f64]) -> f64 {
    if f.is_empty() {
        return f64::NAN;
    }
    f.iter().zip(y).map(|(a, b)| (a - b) * (a - b)).sum::<f64>() / f.len() as f64
}
