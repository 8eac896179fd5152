//! The analytic recurrent neural tangent kernel of the spike-and-slab network (derivation in
//! the [module docs](super)): forward kernels `U, H, R, Ṙ`, backward kernels `Π`, the output
//! covariance `K` and the tangent kernel `Θ` with its per-layer `m` and `π` parts.

use crate::error::{Result, SasError};
use rayon::prelude::*;
use serde::Serialize;
use std::f64::consts::PI;

/// How the mean-field noise `ε` of the Gaussian pre-activations (paper Eq. 4b, 4d) is drawn
/// across samples. It decides where the slab-variance ("nugget") term enters the kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum EpsMode {
    /// One draw `ε_i(t)` per unit and step, shared by every sample and fixed during
    /// training (a quenched network): the nugget `s_t(a) s_t(b)` enters every pair `(a, b)`.
    Shared,
    /// One draw per sample, unit and step, fixed for each sample (the engine's per-sample
    /// draws, quenched): the nugget `s_t(a)²` enters only the pair `(a, a)`.
    PerSample,
    /// A fresh draw at every evaluation (the paper's training): no pair of evaluations shares
    /// a draw, so even `Θ(a, a)` pairs two independent draws; the learning curves describe the
    /// ε-averaged output. Each sample's own variances still contain its nugget.
    Fresh,
}

impl EpsMode {
    /// Whether the evaluations of samples `a` and `b` share their ε draw.
    pub fn same_draw(self, a: usize, b: usize) -> bool {
        match self {
            EpsMode::Shared => true,
            EpsMode::PerSample => a == b,
            EpsMode::Fresh => false,
        }
    }
}

/// Settings of the infinite-width network (NTK parametrization, see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct NtkParams {
    /// Time steps `T` (each input is `[T·I]`, time-major).
    pub steps: usize,
    /// Leak `α ∈ (0, 1]`.
    pub alpha: f64,
    /// `σ_in`: `m_in = σ_in m̃ / √I`.
    pub sigma_in: f64,
    /// `σ_rec`: `m_rec = σ_rec m̃ / √N`.
    pub sigma_rec: f64,
    /// `σ_out`: `m_out = σ_out m̃ / √N`.
    pub sigma_out: f64,
    /// `Ξ̃_in ≥ 0`: `Ξ_in = Ξ̃_in / I` (held fixed).
    pub xi_in: f64,
    /// `Ξ̃_rec ≥ 0`: `Ξ_rec = Ξ̃_rec / N`.
    pub xi_rec: f64,
    /// `Ξ̃_out ≥ 0`: `Ξ_out = Ξ̃_out / N`.
    pub xi_out: f64,
    /// Initial spike probability `π₀ ∈ [0, 1)` of the recurrent and readout layers (the
    /// input layer keeps `π = 0`). The paper uses `π₀ = 0`.
    pub pi0: f64,
    /// Learning rate of `π` relative to that of `m̃` (the weight of the `π` parts in `Θ`;
    /// 0 freezes `π`).
    pub pi_lr: f64,
    /// How ε is drawn across samples.
    pub eps: EpsMode,
    /// Keep the time-resolved kernels `[P, P, T, T]` in [`Kernel::time`] (memory
    /// `4 P² T²` values; turn off for large `P`).
    pub time_kernels: bool,
}

impl Default for NtkParams {
    /// `T = 3`, `α = 0.5`, `σ_in = 1`, `σ_rec = √2`, `σ_out = 1`, `Ξ̃ = 0.5` in every layer,
    /// `π₀ = 0`, `π` trained at the rate of `m̃`, per-sample ε, time kernels kept.
    fn default() -> Self {
        NtkParams {
            steps: 3,
            alpha: 0.5,
            sigma_in: 1.0,
            sigma_rec: std::f64::consts::SQRT_2,
            sigma_out: 1.0,
            xi_in: 0.5,
            xi_rec: 0.5,
            xi_out: 0.5,
            pi0: 0.0,
            pi_lr: 1.0,
            eps: EpsMode::PerSample,
            time_kernels: true,
        }
    }
}

fn invalid(name: &str, reason: String) -> SasError {
    SasError::InvalidArgument {
        name: name.into(),
        reason,
    }
}

impl NtkParams {
    /// Checks the ranges of every setting.
    pub fn validate(&self) -> Result<()> {
        if self.steps == 0 {
            return Err(invalid("theory.steps", "T must be at least 1".into()));
        }
        if !(self.alpha > 0.0 && self.alpha <= 1.0) {
            return Err(invalid(
                "theory.alpha",
                format!("{} is not in (0, 1]", self.alpha),
            ));
        }
        for (n, v) in [
            ("theory.sigma_in", self.sigma_in),
            ("theory.sigma_rec", self.sigma_rec),
            ("theory.sigma_out", self.sigma_out),
            ("theory.xi_in", self.xi_in),
            ("theory.xi_rec", self.xi_rec),
            ("theory.xi_out", self.xi_out),
            ("theory.pi_lr", self.pi_lr),
        ] {
            if !(v >= 0.0 && v.is_finite()) {
                return Err(invalid(n, format!("{v} is not a finite value ≥ 0")));
            }
        }
        if !(self.pi0 >= 0.0 && self.pi0 < 1.0) {
            return Err(invalid("theory.pi0", format!("{} is not in [0, 1)", self.pi0)));
        }
        Ok(())
    }

    /// Input channels `I` of inputs of length `len = T·I`.
    pub fn channels(&self, len: usize) -> Result<usize> {
        if len == 0 || !len.is_multiple_of(self.steps) {
            return Err(SasError::Shape {
                name: "theory input".into(),
                got: vec![len],
                expected: vec![self.steps, len.div_ceil(self.steps).max(1)],
            });
        }
        Ok(len / self.steps)
    }

    fn consts(&self) -> Consts {
        let q = 1.0 - self.pi0;
        let (sr2, so2) = (self.sigma_rec.powi(2), self.sigma_out.powi(2));
        Consts {
            t: self.steps,
            alpha: self.alpha,
            lam: 1.0 - self.alpha,
            s_in2: self.sigma_in.powi(2),
            s_rec2: q * q * sr2,
            s_out2: q * q * so2,
            k_in: self.xi_in,
            k_rec: q * self.xi_rec + self.pi0 * q * sr2,
            k_out: q * self.xi_out + self.pi0 * q * so2,
            pi_rec: sr2,
            pi_out: so2,
        }
    }
}

/// Derived constants: effective mean-weight variances `σ̄² = (1-π₀)² σ²`, nugget coefficients
/// `κ = (1-π₀) Ξ̃ + π₀ (1-π₀) σ²` and the `π`-part prefactors `σ²`.
#[derive(Clone, Copy, Debug)]
struct Consts {
    t: usize,
    alpha: f64,
    lam: f64,
    s_in2: f64,
    s_rec2: f64,
    s_out2: f64,
    k_in: f64,
    k_rec: f64,
    k_out: f64,
    pi_rec: f64,
    pi_out: f64,
}

/// The parts of `Θ` (each `P × P`, row-major): the `m̃` and `π` contributions of each layer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ThetaParts {
    /// `m̃_in`: `σ_in² Σ_{t,t'} Π^{t,t'} X^{t,t'}`.
    pub in_m: Vec<f64>,
    /// `m̃_rec`: `σ̄_rec² Σ_{t,t'} Π^{t,t'} R^{t-1,t'-1}`.
    pub rec_m: Vec<f64>,
    /// `m̃_out`: `σ̄_out² R^{T,T}`.
    pub out_m: Vec<f64>,
    /// `π_rec`: `σ_rec² Σ_{t,t'} Π^{t,t'} R^{t-1,t'-1}` (`= rec_m` at `π₀ = 0`).
    pub rec_pi: Vec<f64>,
    /// `π_out`: `σ_out² R^{T,T}` (`= out_m` at `π₀ = 0`).
    pub out_pi: Vec<f64>,
}

impl ThetaParts {
    fn zeros(p: usize) -> Self {
        let z = vec![0.0; p * p];
        ThetaParts {
            in_m: z.clone(),
            rec_m: z.clone(),
            out_m: z.clone(),
            rec_pi: z.clone(),
            out_pi: z,
        }
    }

    /// The parts with their names, in the order `in_m, rec_m, out_m, rec_pi, out_pi`.
    pub fn named(&self) -> [(&'static str, &Vec<f64>); 5] {
        [
            ("in_m", &self.in_m),
            ("rec_m", &self.rec_m),
            ("out_m", &self.out_m),
            ("rec_pi", &self.rec_pi),
            ("out_pi", &self.out_pi),
        ]
    }

    /// `Θ = in_m + rec_m + out_m + pi_lr · (rec_pi + out_pi)`.
    pub fn total(&self, pi_lr: f64) -> Vec<f64> {
        (0..self.in_m.len())
            .map(|k| self.in_m[k] + self.rec_m[k] + self.out_m[k] + pi_lr * (self.rec_pi[k] + self.out_pi[k]))
            .collect()
    }
}

/// Time-resolved kernels, each `[P, P, T, T]` row-major: entry `((a·P + b)·T + t)·T + t'` is
/// the kernel between sample `a` at step `t+1` and sample `b` at step `t'+1`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TimeKernels {
    /// `U^{t,t'}`: covariance of the pre-activations `u_t`, slab-variance term included.
    pub u: Vec<f64>,
    /// `H^{t,t'} = Σ^{t,t'}`: covariance of the currents `h_t` (the leak's cross-time sums).
    pub h: Vec<f64>,
    /// `R^{t,t'} = E[φ(h_t) φ(h_t')]` (arc-cosine kernel of order 1).
    pub r: Vec<f64>,
    /// `Π^{t,t'} = lim Σ_i (∂z/∂u_i(t)) (∂z/∂u_i(t'))`: backward kernel.
    pub pi: Vec<f64>,
}

/// The analytic kernels of `P` inputs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Kernel {
    /// Inputs `P`.
    pub p: usize,
    /// Time steps `T`.
    pub steps: usize,
    /// `Θ`, `P × P` row-major (`= parts.total(pi_lr)`).
    pub theta: Vec<f64>,
    /// The contributions to `Θ`.
    pub parts: ThetaParts,
    /// `K`: covariance of the output `z_T` at initialization, `P × P` (the NNGP kernel).
    pub nngp: Vec<f64>,
    /// Time-resolved forward and backward kernels (when [`NtkParams::time_kernels`]).
    pub time: Option<TimeKernels>,
}

impl Kernel {
    /// The sub-matrix `Θ[rows, cols]` (`rows.len() × cols.len()`, row-major).
    pub fn theta_block(&self, rows: &[usize], cols: &[usize]) -> Vec<f64> {
        block(&self.theta, self.p, rows, cols)
    }

    /// The sub-matrix `K[rows, cols]` of the output covariance.
    pub fn nngp_block(&self, rows: &[usize], cols: &[usize]) -> Vec<f64> {
        block(&self.nngp, self.p, rows, cols)
    }
}

/// `m[rows, cols]` of a `p × p` row-major matrix.
pub(crate) fn block(m: &[f64], p: usize, rows: &[usize], cols: &[usize]) -> Vec<f64> {
    rows.iter()
        .flat_map(|&i| cols.iter().map(move |&j| m[i * p + j]))
        .collect()
}

/// Arc-cosine kernels of a centred bivariate Gaussian with variances `va`, `vb` and
/// covariance `c`: `(E[relu(u) relu(v)], E[relu'(u) relu'(v)])`
/// `= (√(va vb − c²) + c (π − θ)) / 2π` and `(π − θ) / 2π`, `θ = arccos(c / √(va vb))`.
/// Both are 0 when a variance is 0 (then `u ≡ 0`, and `relu'(0) = 0` as in the engine).
pub fn arccos_kernels(va: f64, vb: f64, c: f64) -> (f64, f64) {
    let ab = va * vb;
    if ab <= 0.0 {
        return (0.0, 0.0);
    }
    let s = ab.sqrt();
    let rho = (c / s).clamp(-1.0, 1.0);
    let theta = rho.acos();
    let sin = (1.0 - rho * rho).max(0.0).sqrt();
    (
        s * (sin + (PI - theta) * rho) / (2.0 * PI),
        (PI - theta) / (2.0 * PI),
    )
}

/// Forward kernels of one pair, each `T × T` row-major (index `t-1`).
struct Fwd {
    u: Vec<f64>,
    h: Vec<f64>,
    r: Vec<f64>,
    rd: Vec<f64>,
}

/// What a sample's own kernel provides to its pairs: `H^{t,t}(a,a)` and the nugget variance
/// `s_t(a)²`.
#[derive(Clone, Debug)]
struct SelfDiag {
    hd: Vec<f64>,
    s2: Vec<f64>,
}

/// `x_a(t) · x_b(t') / I` for every `(t, t')`, `T × T`.
fn input_gram(xa: &[f64], xb: &[f64], t: usize, i: usize) -> Vec<f64> {
    let mut g = vec![0.0; t * t];
    for s in 0..t {
        for s2 in 0..t {
            let d: f64 = xa[s * i..(s + 1) * i]
                .iter()
                .zip(&xb[s2 * i..(s2 + 1) * i])
                .map(|(p, q)| p * q)
                .sum();
            g[s * t + s2] = d / i as f64;
        }
    }
    g
}

/// Forward kernels of a sample with itself (same ε draw), computed on the lower triangle in
/// time order and mirrored.
fn forward_self(xg: &[f64], c: &Consts) -> (Fwd, SelfDiag) {
    let t = c.t;
    let (mut u, mut h, mut r, mut rd) = (
        vec![0.0; t * t],
        vec![0.0; t * t],
        vec![0.0; t * t],
        vec![0.0; t * t],
    );
    let mut s2 = vec![0.0; t];
    let lam = c.lam;
    for s in 0..t {
        for s1 in 0..=s {
            let rprev = if s > 0 && s1 > 0 {
                r[(s - 1) * t + s1 - 1]
            } else {
                0.0
            };
            let mut uu = c.s_rec2 * rprev + c.s_in2 * xg[s * t + s1];
            if s == s1 {
                let q = if s > 0 { r[(s - 1) * t + s - 1] } else { 0.0 };
                s2[s] = c.k_rec * q + c.k_in * xg[s * t + s];
                uu += s2[s];
            }
            let hm = if s > 0 { h[(s - 1) * t + s1] } else { 0.0 };
            let hl = if s1 > 0 { h[s * t + s1 - 1] } else { 0.0 };
            let hd = if s > 0 && s1 > 0 {
                h[(s - 1) * t + s1 - 1]
            } else {
                0.0
            };
            let hv = c.alpha * c.alpha * uu + lam * hm + lam * hl - lam * lam * hd;
            u[s * t + s1] = uu;
            u[s1 * t + s] = uu;
            h[s * t + s1] = hv;
            h[s1 * t + s] = hv;
        }
        for s1 in 0..=s {
            let (k1, k0) = arccos_kernels(h[s * t + s], h[s1 * t + s1], h[s * t + s1]);
            r[s * t + s1] = k1;
            r[s1 * t + s] = k1;
            rd[s * t + s1] = k0;
            rd[s1 * t + s] = k0;
        }
    }
    let hd = (0..t).map(|s| h[s * t + s]).collect();
    (Fwd { u, h, r, rd }, SelfDiag { hd, s2 })
}

/// Forward kernels of a pair of samples with the given own diagonals; `same` = the two
/// evaluations share their ε draw.
fn forward_cross(xg: &[f64], da: &SelfDiag, db: &SelfDiag, same: bool, c: &Consts) -> Fwd {
    let t = c.t;
    let (mut u, mut h, mut r, mut rd) = (
        vec![0.0; t * t],
        vec![0.0; t * t],
        vec![0.0; t * t],
        vec![0.0; t * t],
    );
    let lam = c.lam;
    for s in 0..t {
        for s1 in 0..t {
            let rprev = if s > 0 && s1 > 0 {
                r[(s - 1) * t + s1 - 1]
            } else {
                0.0
            };
            let mut uu = c.s_rec2 * rprev + c.s_in2 * xg[s * t + s1];
            if same && s == s1 {
                uu += (da.s2[s] * db.s2[s]).sqrt();
            }
            let hm = if s > 0 { h[(s - 1) * t + s1] } else { 0.0 };
            let hl = if s1 > 0 { h[s * t + s1 - 1] } else { 0.0 };
            let hd = if s > 0 && s1 > 0 {
                h[(s - 1) * t + s1 - 1]
            } else {
                0.0
            };
            u[s * t + s1] = uu;
            h[s * t + s1] = c.alpha * c.alpha * uu + lam * hm + lam * hl - lam * lam * hd;
        }
        for s1 in 0..t {
            let (k1, k0) = arccos_kernels(da.hd[s], db.hd[s1], h[s * t + s1]);
            r[s * t + s1] = k1;
            rd[s * t + s1] = k0;
        }
    }
    Fwd { u, h, r, rd }
}

/// Backward kernel `Π^{t,t'} = α² Δ^{t,t'}` of a pair from its forward kernels:
/// `Δ^{t,t'} = Ṙ^{t,t'} E^{t,t'} + λ Δ^{t+1,t'} + λ Δ^{t,t'+1} − λ² Δ^{t+1,t'+1}` with
/// `E^{T,T} = σ̄_out²`, `E^{t,t'} = σ̄_rec² Π^{t+1,t'+1}` for `t, t' < T`, else 0.
fn backward(f: &Fwd, c: &Consts) -> Vec<f64> {
    let t = c.t;
    let lam = c.lam;
    let a2 = c.alpha * c.alpha;
    let mut d = vec![0.0; (t + 1) * (t + 1)];
    let w = t + 1;
    for s in (0..t).rev() {
        for s1 in (0..t).rev() {
            let e = if s == t - 1 && s1 == t - 1 {
                c.s_out2
            } else if s < t - 1 && s1 < t - 1 {
                c.s_rec2 * a2 * d[(s + 1) * w + s1 + 1]
            } else {
                0.0
            };
            d[s * w + s1] = f.rd[s * t + s1] * e + lam * d[(s + 1) * w + s1] + lam * d[s * w + s1 + 1]
                - lam * lam * d[(s + 1) * w + s1 + 1];
        }
    }
    let mut pi = vec![0.0; t * t];
    for s in 0..t {
        for s1 in 0..t {
            pi[s * t + s1] = a2 * d[s * w + s1];
        }
    }
    pi
}

/// A pair's `[in_m, rec_m, out_m, rec_pi, out_pi, nngp]` and its time kernels `[u, h, r, Π]`.
type PairOut = ([f64; 6], Option<[Vec<f64>; 4]>);

/// `[in_m, rec_m, out_m, rec_pi, out_pi, nngp]` of a pair; `nug` is the output nugget.
fn pair_values(f: &Fwd, pi: &[f64], xg: &[f64], nug: f64, c: &Consts) -> [f64; 6] {
    let t = c.t;
    let mut sx = 0.0;
    let mut sr = 0.0;
    for s in 0..t {
        for s1 in 0..t {
            let p = pi[s * t + s1];
            sx += p * xg[s * t + s1];
            if s > 0 && s1 > 0 {
                sr += p * f.r[(s - 1) * t + s1 - 1];
            }
        }
    }
    let rtt = f.r[t * t - 1];
    [
        c.s_in2 * sx,
        c.s_rec2 * sr,
        c.s_out2 * rtt,
        c.pi_rec * sr,
        c.pi_out * rtt,
        c.s_out2 * rtt + nug,
    ]
}

/// The analytic kernels of `inputs` (each `[T·I]`, time-major: `x[(t-1)·I + k]` is channel
/// `k` at step `t`) for an infinitely wide network with `params`.
///
/// Cost `O(P² T² + P² T I)`, parallel over rows; memory `O(P²)` plus `4 P² T²` values when
/// time kernels are kept. Errors: invalid parameters, no inputs, inputs of unequal or
/// non-multiple-of-`T` length, non-finite values.
pub fn ntk(inputs: &[Vec<f64>], params: &NtkParams) -> Result<Kernel> {
    params.validate()?;
    let p = inputs.len();
    if p == 0 {
        return Err(invalid("theory inputs", "no inputs".into()));
    }
    let i = params.channels(inputs[0].len())?;
    for (a, x) in inputs.iter().enumerate() {
        if x.len() != inputs[0].len() {
            return Err(SasError::Shape {
                name: format!("theory input {a}"),
                got: vec![x.len()],
                expected: vec![params.steps, i],
            });
        }
        if let Some(k) = x.iter().position(|v| !v.is_finite()) {
            return Err(invalid(
                &format!("theory input {a}"),
                format!("entry {k} is not finite"),
            ));
        }
    }
    let c = params.consts();
    let t = c.t;
    // Own kernels of every sample (same draw).
    let selfs: Vec<(Fwd, SelfDiag, Vec<f64>)> = inputs
        .par_iter()
        .map(|x| {
            let xg = input_gram(x, x, t, i);
            let (f, d) = forward_self(&xg, &c);
            (f, d, xg)
        })
        .collect();
    // Rows of pairs (a, b ≥ a).
    let rows: Vec<Vec<PairOut>> = (0..p)
        .into_par_iter()
        .map(|a| {
            (a..p)
                .map(|b| {
                    let same = params.eps.same_draw(a, b);
                    let (fwd_owned, xg_owned);
                    let (fwd, xg): (&Fwd, &[f64]) = if a == b && same {
                        (&selfs[a].0, &selfs[a].2)
                    } else {
                        xg_owned = if a == b {
                            selfs[a].2.clone()
                        } else {
                            input_gram(&inputs[a], &inputs[b], t, i)
                        };
                        fwd_owned = forward_cross(&xg_owned, &selfs[a].1, &selfs[b].1, same, &c);
                        (&fwd_owned, &xg_owned)
                    };
                    let pi = backward(fwd, &c);
                    let (ra, rb) = (selfs[a].0.r[t * t - 1], selfs[b].0.r[t * t - 1]);
                    let nug = if same { c.k_out * (ra * rb).sqrt() } else { 0.0 };
                    let vals = pair_values(fwd, &pi, xg, nug, &c);
                    let tk = params
                        .time_kernels
                        .then(|| [fwd.u.clone(), fwd.h.clone(), fwd.r.clone(), pi]);
                    (vals, tk)
                })
                .collect()
        })
        .collect();
    let mut parts = ThetaParts::zeros(p);
    let mut nngp = vec![0.0; p * p];
    let mut time = params.time_kernels.then(|| TimeKernels {
        u: vec![0.0; p * p * t * t],
        h: vec![0.0; p * p * t * t],
        r: vec![0.0; p * p * t * t],
        pi: vec![0.0; p * p * t * t],
    });
    for (a, row) in rows.into_iter().enumerate() {
        for (off, (v, tk)) in row.into_iter().enumerate() {
            let b = a + off;
            for (k, dst) in [
                &mut parts.in_m,
                &mut parts.rec_m,
                &mut parts.out_m,
                &mut parts.rec_pi,
                &mut parts.out_pi,
                &mut nngp,
            ]
            .into_iter()
            .enumerate()
            {
                dst[a * p + b] = v[k];
                dst[b * p + a] = v[k];
            }
            if let (Some(tm), Some(tk)) = (time.as_mut(), tk) {
                for (dst, src) in [&mut tm.u, &mut tm.h, &mut tm.r, &mut tm.pi]
                    .into_iter()
                    .zip(tk.iter())
                {
                    for s in 0..t {
                        for s1 in 0..t {
                            dst[((a * p + b) * t + s) * t + s1] = src[s * t + s1];
                            dst[((b * p + a) * t + s1) * t + s] = src[s * t + s1];
                        }
                    }
                }
            }
        }
    }
    Ok(Kernel {
        p,
        steps: t,
        theta: parts.total(params.pi_lr),
        parts,
        nngp,
        time,
    })
}
