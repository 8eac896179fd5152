//! The fixed-network puzzle, measured over training seeds (docs/PUZZLE.md): why one concrete
//! network drawn from the ensemble and held for a whole trial can fail where the mean network
//! works. Five measurements on **fixed** networks (drawn once, held for every step of every
//! trial):
//!
//! 1. a **dose–response** in the recurrent slab noise, `W = μ + c·√Ξ∘z` for `c` in [`DOSE`];
//! 2. the **elapsed time**: the readout and the rate norm at the [`checkpoints`] `t = T/8, T/4,
//!    T/2, 3T/4, T` of the same trials;
//! 3. the slab split into the **self-connections** `w_ii` and the **off-diagonal** weights;
//! 4. the **finite-time Lyapunov exponents** of the ReLU-gated dynamics ([`Ftle`]);
//! 5. a **BPTT control**: the run's BPTT twin (same seed, `π ≡ Ξ ≡ 0`) given Gaussian weight
//!    noise of the ensemble's own entrywise variance `V`.
//!
//! | kind | recurrent `W` | input, readout |
//! |---|---|---|
//! | `mean` | `μ = (1 − π) m` | `μ` |
//! | `slab-c<c>` | `μ + c·√Ξ∘z` (`c > 0` of [`DOSE`]; `c = 0` is `mean`) | `μ` |
//! | `slab-diag` | `μ + √Ξ∘z` on the self-connections `w_ii` only | `μ` |
//! | `slab-off` | `μ + √Ξ∘z` off the diagonal only | `μ` |
//! | `sampled` | `w ~ P(w)`: dropped with probability `π`, else `m + √Ξ·z` | `w ~ P(w)` |
//! | `gauss-v` | `μ + √V∘z`, `V = (1 − π)Ξ + π(1 − π)m²` | `μ` |
//! | `bptt` | the BPTT twin's `m_b` | the twin's |
//! | `bptt-gauss-v` | `m_b + √V∘z`, `V` of the ensemble of the same seed | the twin's |
//!
//! The dose–response is centred on the mean network, so `c = 0` is exactly `mean`, and with
//! the spike part off (`π = 0`, then `μ = m`) `c = 1` is the slab-only network of the
//! `dynamics` analysis. `z` is one standard-normal matrix per network `j` and seed: the `z` of
//! the recurrent slab of `sampled` network `j` ([`crate::infer::ConcreteNet::sample`]'s
//! stream), shared by every kind. So the curve over `c` is paired (the same `z` at every `c`),
//! `slab-diag` and `slab-off` add up to `slab-c1` entry by entry, and the BPTT twin gets the
//! very perturbation `gauss-v` gives the ensemble's mean network.
//!
//! **Per network**, over the test trials ([`Options::trials`]): the accuracy at the trial's
//! end `T`; the spectral radius `ρ(A)` of `A = (1 − α)I + αW` (the per-step growth of the
//! fastest linear mode if the ReLU never cut it); the top Lyapunov exponent `λ₁` of the gated
//! dynamics per step (mean over [`ftle_trials`] trials spread over the test set); the
//! fraction of trials given the network's most frequent answer at `T` (1: the same answer
//! whatever the input); and at each checkpoint `t` the accuracy of the readout applied at
//! step `t` (argmax of `W_out r(t)` against the trial's label — the networks were trained to
//! answer at `T`, so before `T` this says how much of the answer the state already holds) and
//! the median over trials of the rate norm `‖r(t)‖` (MSI: the choice from the readout at `t`;
//! tasks labelled per step: no checkpoint accuracy).
//!
//! **Lyapunov exponents.** `h_t = (1 − α)h_{t−1} + α(W relu(h_{t−1}) + W_in x_t) + noise` has
//! the Jacobian `J_t = (1 − α)I + αW D_{t−1}`, `D_{t−1} = diag(h_{t−1} > 0)`: the ReLU gates
//! of the trial's own trajectory. [`Ftle`] carries [`FTLE_VECTORS`] orthonormal tangent
//! vectors through `J_t` and re-orthonormalizes them at every step (QR by modified
//! Gram–Schmidt); `λ_i = (1/T) Σ_t ln R_t,ii` (nepers per step). `λ₁ > 0`: the gated dynamics
//! amplify small differences, by `e^{λ₁T}` over the trial (`λ₁·T` is reported too).
//!
//! **Aggregation.** The unit of replication is the training seed. Per seed the networks of a
//! kind are averaged first (accuracy, `ρ(A)`, `λ₁`; rate norms as the geometric mean of the
//! per-network medians), then [`Stat`] over the seeds: mean, sample std, 95 % t-interval, `n`,
//! per-seed values. Rate norms are heavy-tailed and positive: [`LogSeedStats`] (geometric mean,
//! interval on the natural logarithms). The BPTT control compares per seed the accuracy each
//! network loses under its perturbation: `ensemble_drop = mean − gauss-v`, `bptt_drop = bptt −
//! bptt-gauss-v`, and their paired difference `bptt_drop − ensemble_drop` over seeds (> 0:
//! the ensemble is the more robust to the same weight noise).
//!
//! **BPTT twins** ([`twins`]): the runs given in [`Options::bptt`] (paired by seed; each must
//! be deterministic, of the same seed and sizes), else the twin the `baseline` analysis trains
//! beside this analysis' folder (`<work>/../retrain/bptt/seed-<s>`) when it is finished with
//! the BPTT variant of the run's configuration. Seeds without a twin have no BPTT values; the
//! summary says which twin (or why none) per seed.
//!
//! Deterministic: every draw is keyed by the analysis seed, the run's training seed and the
//! network, trial batch or trial (independent of thread count and run order).
//!
//! Outputs: `puzzle_networks.csv` (one row per seed, kind and network), `puzzle_seeds.csv`
//! (one row per seed and kind: the per-seed averages), `summary.json`; figures
//! `puzzle_dose` (accuracy against `c`), `puzzle_growth` (`ρ(A)` and `e^{λ₁}` against `c`),
//! `puzzle_time_accuracy` and `puzzle_time_norm` (against the step `t`).

use super::accuracy::{describe_runs, line_figure};
use super::result::Stat;
use super::{AnalysisOptions, RunData};
use crate::analysis::AnalysisResult;
use crate::data::source::{TaskData, TestSet};
use crate::engine::Dims;
use crate::error::{Result, SasError};
use crate::infer::{ConcreteNet, Record, concrete_forward, layer_seed, sample_layer, score};
use crate::linalg::{Op, gemm};
use crate::net::SasNet;
use crate::output::csv;
use crate::output::figure::Series;
use crate::rng::{NormalStream, derive_seed};
use crate::sas::SasLayer;
use crate::stats::{LogSeedStats, SeedStats, median_inf};
use crate::train::variant::Variant;
use rayon::prelude::*;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Name of the analysis (command line, output folder).
pub const NAME: &str = "puzzle";

/// Section title in reports.
const TITLE: &str = "The fixed-network puzzle: slab dose, elapsed time, Lyapunov exponents, BPTT control";

/// The slab scales `c` of the dose–response (`W = μ + c·√Ξ∘z`).
pub const DOSE: [f64; 7] = [0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0];

/// Tangent vectors of the QR method (the top exponents computed).
pub const FTLE_VECTORS: usize = 4;

/// Checkpoints as fractions `(p, q)` of the trial: step `T·p/q`.
const FRACTIONS: [(usize, usize); 5] = [(1, 8), (1, 4), (1, 2), (3, 4), (1, 1)];

const KEY_NET: u64 = 0x505A_0001;
const KEY_NOISE: u64 = 0x505A_0002;
const KEY_FTLE: u64 = 0x505A_0003;

/// Settings of the puzzle analysis (command line `--puzzle-trials`, `--puzzle-networks`,
/// `--puzzle-bptt`); the default is the command line's.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Options {
    /// Test trials: MNIST and user tasks the first `trials` test trials (default 1000, quick
    /// 200), MSI `trials` per condition (default 5, quick 2).
    pub trials: Option<usize>,
    /// Concrete networks per kind and seed (default 5, quick 2; `mean` and `bptt` are one).
    pub networks: Option<usize>,
    /// BPTT twins of the runs (run directories, paired with the runs by seed). Empty: the
    /// twins the `baseline` analysis trained beside the output folder, where finished.
    pub bptt: Vec<PathBuf>,
}

impl Options {
    /// `(limit, trials_per_condition)` of the test set (see [`Options::trials`]).
    pub fn test_size(&self, quick: bool) -> (usize, usize) {
        match self.trials {
            Some(t) => (t, t),
            None if quick => (200, 2),
            None => (1000, 5),
        }
    }

    /// Concrete networks per kind and seed (see [`Options::networks`]).
    pub fn networks(&self, quick: bool) -> usize {
        self.networks.unwrap_or(if quick { 2 } else { 5 })
    }

    fn validate(&self) -> Result<()> {
        for (key, v) in [("puzzle-trials", self.trials), ("puzzle-networks", self.networks)] {
            if v == Some(0) {
                return Err(SasError::Config {
                    key: key.into(),
                    reason: "must be at least 1".into(),
                });
            }
        }
        Ok(())
    }
}

/// Trials whose Lyapunov exponents are computed: 50 (quick 10), spread evenly over the test
/// set (every `⌈trials / 50⌉`-th trial).
pub fn ftle_trials(quick: bool) -> usize {
    if quick { 10 } else { 50 }
}

/// The checkpoint steps of a trial of `steps` steps: `T/8, T/4, T/2, 3T/4, T` (rounded down,
/// at least 1, without repeats).
pub fn checkpoints(steps: usize) -> Vec<usize> {
    let mut c: Vec<usize> = FRACTIONS
        .iter()
        .map(|&(p, q)| (steps * p / q).max(1).min(steps))
        .collect();
    c.dedup();
    c
}

/// A kind of fixed network (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    /// Every layer `w = μ`.
    Mean,
    /// Recurrent `μ + c·√Ξ∘z`, input and readout `μ`.
    Slab(f64),
    /// Recurrent `μ + √Ξ∘z` on the diagonal only.
    SlabDiag,
    /// Recurrent `μ + √Ξ∘z` off the diagonal only.
    SlabOff,
    /// Every layer `w ~ P(w)`.
    Sampled,
    /// Recurrent `μ + √V∘z`, input and readout `μ`.
    GaussV,
    /// The BPTT twin.
    Bptt,
    /// The BPTT twin with recurrent `m_b + √V∘z`.
    BpttGaussV,
}

impl Kind {
    /// Name in files, figures and the summary.
    pub fn name(self) -> String {
        match self {
            Kind::Mean => "mean".into(),
            Kind::Slab(c) => format!("slab-c{c}"),
            Kind::SlabDiag => "slab-diag".into(),
            Kind::SlabOff => "slab-off".into(),
            Kind::Sampled => "sampled".into(),
            Kind::GaussV => "gauss-v".into(),
            Kind::Bptt => "bptt".into(),
            Kind::BpttGaussV => "bptt-gauss-v".into(),
        }
    }

    /// The slab scale `c` of the dose–response (`mean`: 0), if the kind is on that curve.
    pub fn scale(self) -> Option<f64> {
        match self {
            Kind::Mean => Some(0.0),
            Kind::Slab(c) => Some(c),
            _ => None,
        }
    }

    /// Whether the kind is a single network (no random draw).
    pub fn single(self) -> bool {
        matches!(self, Kind::Mean | Kind::Bptt)
    }

    /// Whether the kind needs the BPTT twin.
    pub fn needs_twin(self) -> bool {
        matches!(self, Kind::Bptt | Kind::BpttGaussV)
    }

    /// Every kind, in output order.
    pub fn all() -> Vec<Kind> {
        let mut k = vec![Kind::Mean];
        k.extend(DOSE.iter().filter(|&&c| c > 0.0).map(|&c| Kind::Slab(c)));
        k.extend([
            Kind::SlabDiag,
            Kind::SlabOff,
            Kind::Sampled,
            Kind::GaussV,
            Kind::Bptt,
            Kind::BpttGaussV,
        ]);
        k
    }

    /// Network `net_seed` of this kind from `p` (`None` for a BPTT kind without a twin).
    pub(crate) fn build(self, p: &Parts<'_>, net_seed: u64) -> Option<ConcreteNet> {
        let rec_seed = layer_seed(net_seed, 0, 1);
        let noisy = |base: &ConcreteNet, noise: &SasLayer<f32>, c: f32| {
            let mut w = base.clone();
            let mut z = vec![0f32; w.w_rec.len()];
            sample_layer(noise, true, rec_seed, &mut z);
            for (o, &e) in w.w_rec.iter_mut().zip(&z) {
                *o += c * e;
            }
            w
        };
        Some(match self {
            Kind::Mean => p.mean.clone(),
            Kind::Slab(c) => noisy(&p.mean, &p.slab, c as f32),
            Kind::SlabDiag => noisy(&p.mean, &p.diag, 1.0),
            Kind::SlabOff => noisy(&p.mean, &p.off, 1.0),
            Kind::Sampled => {
                let mut w = p.mean.clone();
                w.sample(p.net, net_seed, 0);
                w
            }
            Kind::GaussV => noisy(&p.mean, &p.var, 1.0),
            Kind::Bptt => p.bptt.clone()?,
            Kind::BpttGaussV => noisy(p.bptt.as_ref()?, &p.var, 1.0),
        })
    }
}

/// What the kinds are drawn from: the ensemble, its mean network, the twin's network and the
/// noise layers (`m = π = 0`, so that [`sample_layer`] draws `√Ξ∘z` with the slab's `z`).
pub(crate) struct Parts<'a> {
    net: &'a SasNet<f32>,
    mean: ConcreteNet,
    bptt: Option<ConcreteNet>,
    /// `√Ξ∘z` of the recurrent layer.
    slab: SasLayer<f32>,
    /// `√Ξ∘z` on the diagonal, 0 off it.
    diag: SasLayer<f32>,
    /// `√Ξ∘z` off the diagonal, 0 on it.
    off: SasLayer<f32>,
    /// `√V∘z`.
    var: SasLayer<f32>,
}

impl<'a> Parts<'a> {
    pub(crate) fn new(net: &'a SasNet<f32>, bptt: Option<&SasNet<f32>>) -> Self {
        let l = &net.rec;
        let n = l.rows;
        let noise = |xi: Vec<f32>| SasLayer {
            xi,
            ..SasLayer::zeros(l.rows, l.cols)
        };
        let masked = |keep: fn(usize, usize) -> bool| {
            noise(
                (0..l.xi.len())
                    .map(|e| if keep(e / n, e % n) { l.xi[e] } else { 0.0 })
                    .collect(),
            )
        };
        let mut v = vec![0f32; l.xi.len()];
        l.var_into(&mut v);
        Parts {
            net,
            mean: ConcreteNet::mean(net),
            bptt: bptt.map(ConcreteNet::mean),
            slab: noise(l.xi.clone()),
            diag: masked(|i, j| i == j),
            off: masked(|i, j| i != j),
            var: noise(v),
        }
    }
}

/// Finite-time Lyapunov exponents of `S` trajectories of the gated map `J_t = (1 − α)I +
/// αW D_{t−1}` by the QR method: `k` tangent vectors per trajectory (`N × k`, orthonormal),
/// multiplied by `J_t` and re-orthonormalized (modified Gram–Schmidt) at every [`Ftle::step`];
/// the logarithms of the diagonal of `R` are summed. In f64.
pub struct Ftle {
    n: usize,
    k: usize,
    s: usize,
    alpha: f64,
    /// Tangent vectors, `N × (S·k)` row-major: column `s·k + j` is vector `j` of trajectory `s`.
    q: Vec<f64>,
    /// Work space of the same shape.
    p: Vec<f64>,
    m: Vec<f64>,
    w: Vec<f64>,
    /// `Σ_t ln R_t,jj`, `[S, k]`.
    sums: Vec<f64>,
    steps: usize,
}

impl Ftle {
    /// `s` trajectories of an `n`-unit network with leak `alpha`, `k` (at most `n`) tangent
    /// vectors each, started from random orthonormal vectors drawn from `seed`.
    pub fn new(n: usize, k: usize, s: usize, alpha: f64, seed: u64) -> Ftle {
        let k = k.min(n);
        let cols = s * k;
        let mut q = vec![0f64; n * cols];
        let mut g = NormalStream::new(derive_seed(seed, &[0]));
        let mut col = vec![0f64; n];
        for c in 0..cols {
            g.fill(&mut col);
            for i in 0..n {
                q[i * cols + c] = col[i];
            }
        }
        let mut f = Ftle {
            n,
            k,
            s,
            alpha,
            p: vec![0.0; q.len()],
            m: q.clone(),
            q,
            w: vec![0.0; n * n],
            sums: vec![0.0; cols],
            steps: 0,
        };
        for t in 0..s {
            f.orthonormalize(t, false);
        }
        f
    }

    /// Modified Gram–Schmidt on the columns of trajectory `t` in `m`, written to `q`; adds
    /// `ln R_jj` to the sums when `record`. A vanishing column stays 0 (its exponent −∞).
    fn orthonormalize(&mut self, t: usize, record: bool) {
        let (n, k, cols) = (self.n, self.k, self.s * self.k);
        for j in 0..k {
            let cj = t * k + j;
            for l in 0..j {
                let cl = t * k + l;
                let dot: f64 = (0..n)
                    .map(|i| self.q[i * cols + cl] * self.m[i * cols + cj])
                    .sum();
                for i in 0..n {
                    self.m[i * cols + cj] -= dot * self.q[i * cols + cl];
                }
            }
            let norm = (0..n)
                .map(|i| self.m[i * cols + cj] * self.m[i * cols + cj])
                .sum::<f64>()
                .sqrt();
            if record {
                self.sums[cj] += norm.ln();
            }
            let inv = if norm > 0.0 && norm.is_finite() {
                1.0 / norm
            } else {
                0.0
            };
            for i in 0..n {
                self.q[i * cols + cj] = self.m[i * cols + cj] * inv;
            }
        }
    }

    /// One step with recurrent weights `w` (`N × N`, row-major) and gates `gate(s, i)`
    /// (whether unit `i` of trajectory `s` was active, `h_{t−1,i} > 0`).
    pub fn step(&mut self, w: &[f32], gate: impl Fn(usize, usize) -> bool) {
        let (n, cols) = (self.n, self.s * self.k);
        if cols == 0 {
            return;
        }
        for (o, &v) in self.w.iter_mut().zip(w) {
            *o = v as f64;
        }
        for i in 0..n {
            for c in 0..cols {
                let on = gate(c / self.k, i);
                self.p[i * cols + c] = if on { self.q[i * cols + c] } else { 0.0 };
            }
        }
        gemm(
            &mut self.m,
            n,
            cols,
            Op::new(&self.w, n, n),
            Op::new(&self.p, n, cols),
            false,
        );
        let (a, leak) = (self.alpha, 1.0 - self.alpha);
        for (m, &q) in self.m.iter_mut().zip(&self.q) {
            *m = a * *m + leak * q;
        }
        for t in 0..self.s {
            self.orthonormalize(t, true);
        }
        self.steps += 1;
    }

    /// The exponents per step of trajectory `s`, largest first as the QR method orders them
    /// (`Σ ln R_jj / steps`; NaN before the first step).
    pub fn exponents(&self, s: usize) -> Vec<f64> {
        let st = self.steps as f64;
        self.sums[s * self.k..(s + 1) * self.k]
            .iter()
            .map(|&x| if self.steps == 0 { f64::NAN } else { x / st })
            .collect()
    }
}

/// The measurements of one fixed network over the test trials.
#[derive(Clone, Debug)]
struct NetResult {
    accuracy: f64,
    radius: f64,
    /// Mean over the FTLE trials of `λ₁` per step.
    ftle: f64,
    top_fraction: f64,
    /// Accuracy of the readout at each checkpoint (NaN where not scored).
    at_accuracy: Vec<f64>,
    /// Median over trials of `‖r(t)‖` at each checkpoint (+∞ counts for overflow).
    at_norm: Vec<f64>,
}

/// The test protocol shared by every network of one seed.
struct Protocol<'a> {
    d: Dims,
    alpha: f64,
    sigma: f64,
    h0: f32,
    test: &'a TestSet,
    checkpoints: Vec<usize>,
    /// Per batch, the trials (indices in the batch) whose exponents are computed.
    ftle_sel: Vec<Vec<usize>>,
    ftle_seed: u64,
    noise_seed: u64,
}

impl<'a> Protocol<'a> {
    fn new(run: &RunData, test: &'a TestSet, seed: u64, ftle_trials: usize) -> Protocol<'a> {
        let cfg = &run.cfg;
        let total: usize = test.batches.iter().map(|b| b.size).sum();
        let stride = total.div_ceil(ftle_trials.max(1)).max(1);
        let mut g = 0;
        let mut taken = 0;
        let ftle_sel = test
            .batches
            .iter()
            .map(|b| {
                let sel: Vec<usize> = (0..b.size)
                    .filter(|&i| {
                        let pick = (g + i) % stride == 0 && taken < ftle_trials;
                        taken += pick as usize;
                        pick
                    })
                    .collect();
                g += b.size;
                sel
            })
            .collect();
        let steps = test.batches.first().map_or(0, |b| b.steps);
        Protocol {
            d: run.net.dims(),
            alpha: cfg.test_alpha(),
            sigma: cfg.model.sigma,
            h0: cfg.model.h0 as f32,
            test,
            checkpoints: checkpoints(steps),
            ftle_sel,
            ftle_seed: derive_seed(seed, &[KEY_FTLE, cfg.seed]),
            noise_seed: derive_seed(seed, &[KEY_NOISE, cfg.seed]),
        }
    }

    /// Runs the fixed network `w` over the test set.
    fn run(&self, w: &ConcreteNet) -> Result<NetResult> {
        let Dims { n, k, .. } = self.d;
        let radius =
            super::dynamics::spectral_radius(&super::dynamics::effective_map(&w.w_rec, n, self.alpha), n)?;
        let nc = self.checkpoints.len();
        let (mut ok, mut cnt) = (0u64, 0u64);
        let mut at_ok = vec![(0u64, 0u64); nc];
        let mut at_norms: Vec<Vec<f64>> = vec![Vec::new(); nc];
        let mut lyap = Vec::new();
        let mut votes = vec![0u64; k.max(1)];
        for (bi, b) in self.test.batches.iter().enumerate() {
            let h0 = vec![self.h0; b.size * n];
            let sel = &self.ftle_sel[bi];
            let mut ftle = Ftle::new(
                n,
                FTLE_VECTORS,
                sel.len(),
                self.alpha,
                derive_seed(self.ftle_seed, &[bi as u64]),
            );
            let mut prev: Vec<f32> = vec![self.h0.max(0.0); sel.len() * n];
            let info = self.test.msi_info.get(bi).map(|v| v.as_slice());
            let scored_at_t = !b.scores_every_step();
            let mut each = |t: usize, r: &[f32], w: &ConcreteNet| {
                if !sel.is_empty() {
                    ftle.step(&w.w_rec, |s, i| prev[s * n + i] > 0.0);
                    for (s, &tr) in sel.iter().enumerate() {
                        prev[s * n..(s + 1) * n].copy_from_slice(&r[tr * n..(tr + 1) * n]);
                    }
                }
                let Some(c) = self.checkpoints.iter().position(|&c| c == t) else {
                    return;
                };
                at_norms[c].extend(
                    r.chunks_exact(n)
                        .map(|row| row.iter().map(|&v| v as f64 * v as f64).sum::<f64>().sqrt()),
                );
                if scored_at_t {
                    let mut z = vec![0f32; b.size * k];
                    gemm(
                        &mut z,
                        b.size,
                        k,
                        Op::new(r, b.size, n),
                        Op::t(&w.w_out, k, n),
                        false,
                    );
                    let (o, c2) = score(b, &z, info, &mut [(0, 0); 3]);
                    at_ok[c].0 += o;
                    at_ok[c].1 += c2;
                }
            };
            let z = concrete_forward(
                self.d,
                b,
                &h0,
                self.alpha,
                self.sigma,
                usize::MAX,
                |_, x: &mut ConcreteNet| x.clone_from(w),
                derive_seed(self.noise_seed, &[bi as u64]),
                Record::Each(&mut each),
            );
            lyap.extend((0..sel.len()).map(|s| ftle.exponents(s)[0]));
            let (o, c) = score(b, &z, info, &mut [(0, 0); 3]);
            ok += o;
            cnt += c;
            let z_last = &z[z.len().saturating_sub(b.size * k)..];
            for row in z_last.chunks_exact(k.max(1)) {
                votes[crate::infer::argmax(row)] += 1;
            }
        }
        let frac = |(o, c): (u64, u64)| if c > 0 { o as f64 / c as f64 } else { f64::NAN };
        Ok(NetResult {
            accuracy: frac((ok, cnt)),
            radius,
            ftle: SeedStats::of(&lyap).mean,
            top_fraction: *votes.iter().max().unwrap_or(&0) as f64 / votes.iter().sum::<u64>().max(1) as f64,
            at_accuracy: at_ok.into_iter().map(frac).collect(),
            at_norm: at_norms.iter_mut().map(|v| median_inf(v)).collect(),
        })
    }
}

/// Where each run's BPTT twin came from (or why it has none).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Twin {
    /// The training seed.
    pub seed: u64,
    /// The twin's run directory, if one is used.
    pub dir: Option<String>,
    /// Its epochs, if used.
    pub epoch: Option<usize>,
    /// How it was found, or why none is used.
    pub note: String,
}

/// The BPTT twin of each run (see the module docs): from `given` (paired by seed), else the
/// finished twin of the `baseline` analysis beside `work`. Errors on a given twin that is not
/// deterministic, has no run of its seed among `runs`, or differs in its sizes.
pub fn twins(runs: &[RunData], work: &Path, given: &[PathBuf]) -> Result<(Vec<Option<RunData>>, Vec<Twin>)> {
    let mut loaded: Vec<RunData> = given.iter().map(|d| RunData::load(d)).collect::<Result<_>>()?;
    for t in &loaded {
        let c = &t.cfg.model;
        let bad = |reason: String| SasError::InvalidArgument {
            name: "puzzle-bptt".into(),
            reason: format!("{}: {reason}", t.dir.display()),
        };
        if c.sas_in || c.sas_rec || c.sas_out {
            return Err(bad("is not a BPTT run (it has spike-and-slab layers)".into()));
        }
        let Some(r) = runs.iter().find(|r| r.cfg.seed == t.cfg.seed) else {
            return Err(bad(format!("no run of seed {} is analysed", t.cfg.seed)));
        };
        if r.net.dims() != t.net.dims() || r.cfg.model.alpha != c.alpha || r.cfg.task.kind != t.cfg.task.kind
        {
            return Err(bad(format!(
                "differs from the run of seed {} in its task, sizes or α",
                t.cfg.seed
            )));
        }
        if loaded.iter().filter(|u| u.cfg.seed == t.cfg.seed).count() > 1 {
            return Err(bad(format!("seed {} has more than one twin", t.cfg.seed)));
        }
    }
    let mut out = Vec::new();
    let mut notes = Vec::new();
    for r in runs {
        let seed = r.cfg.seed;
        if let Some(i) = loaded.iter().position(|t| t.cfg.seed == seed) {
            let t = loaded.swap_remove(i);
            notes.push(Twin {
                seed,
                dir: Some(t.dir.display().to_string()),
                epoch: Some(t.epoch),
                note: "given".into(),
            });
            out.push(Some(t));
            continue;
        }
        let dir = super::baseline::baseline_dir(work, seed);
        let none = |note: String| Twin {
            seed,
            dir: None,
            epoch: None,
            note,
        };
        if !dir.join(crate::run::files::CHECKPOINT).is_file() {
            notes.push(none(format!(
                "no BPTT twin (none given for this seed, none at {})",
                dir.display()
            )));
            out.push(None);
            continue;
        }
        let want = super::retrain::variant_config(Variant::Bptt, &r.cfg, false);
        match super::retrain::finished(&dir, &want) {
            Ok(true) => {
                let t = RunData::load(&dir)?;
                notes.push(Twin {
                    seed,
                    dir: Some(dir.display().to_string()),
                    epoch: Some(t.epoch),
                    note: "found beside the output folder (baseline analysis)".into(),
                });
                out.push(Some(t));
            }
            Ok(false) => {
                notes.push(none(format!("the twin at {} is not finished yet", dir.display())));
                out.push(None);
            }
            Err(e) => {
                notes.push(none(format!("the twin at {} is not used: {e}", dir.display())));
                out.push(None);
            }
        }
    }
    Ok((out, notes))
}

/// One checkpoint of a kind: the readout accuracy and the rate norm at step `t`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AtStep {
    /// The step `t` (1..=T).
    pub t: usize,
    /// Accuracy of the readout applied at `t` (fraction).
    pub accuracy: Stat,
    /// Rate norm `‖r(t)‖`: per network the median over trials, per seed the geometric mean
    /// over networks.
    pub rate_norm: LogSeedStats,
}

/// The numbers of one kind over seeds (per seed: the mean over its networks).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KindSummary {
    /// Kind name.
    pub name: String,
    /// The slab scale `c` on the dose–response (`mean`: 0; other kinds: none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub c: Option<f64>,
    /// Networks per seed.
    pub networks: usize,
    /// Accuracy at `T` (fraction).
    pub accuracy: Stat,
    /// Spectral radius of `A = (1 − α)I + αW`.
    pub spectral_radius: Stat,
    /// Top Lyapunov exponent of the gated dynamics per step (nepers).
    pub lyapunov_per_step: Stat,
    /// The same times `T`: the log-amplification over a trial (nepers).
    pub lyapunov_per_trial: Stat,
    /// Fraction of trials given the network's most frequent answer at `T`.
    pub top_output_fraction: Stat,
    /// Readout accuracy and rate norm at each checkpoint.
    pub at: Vec<AtStep>,
}

/// Spectral statistics of the trained recurrent layer, per seed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Recurrent {
    /// `ρ((1 − α)I + αμ)`, the mean network's map.
    pub rho_mean_map: Stat,
    /// `√ρ(V)`: the circular-law radius of the random part `W − μ` of a sampled network.
    pub sqrt_rho_var: Stat,
    /// `√ρ(Ξ)`: the same for the slab part `√Ξ∘z` alone.
    pub sqrt_rho_xi: Stat,
}

/// The BPTT control (see the module docs); the values over the seeds with a twin.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BpttControl {
    /// Whether any seed had a twin.
    pub measured: bool,
    /// Per seed: which twin, or why none.
    pub twins: Vec<Twin>,
    /// `mean − gauss-v` accuracy per seed: what the ensemble's mean network loses to `√V∘z`.
    pub ensemble_drop: Stat,
    /// `bptt − bptt-gauss-v`: what the BPTT network loses to the same noise.
    pub bptt_drop: Stat,
    /// `bptt_drop − ensemble_drop`, paired by seed (> 0: the ensemble is the more robust).
    pub drop_difference: Stat,
    /// `ρ(A)` added by the noise, BPTT minus ensemble, paired by seed.
    pub radius_increase_difference: Stat,
}

/// The key numbers of the puzzle analysis (`summary.json`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    /// Training seeds, in run order.
    pub seeds: Vec<u64>,
    /// Concrete networks per kind and seed.
    pub networks: usize,
    /// Test trials per network.
    pub test_trials: usize,
    /// Trials with Lyapunov exponents per network.
    pub lyapunov_trials: usize,
    /// Tangent vectors of the QR method.
    pub lyapunov_vectors: usize,
    /// Steps `T` of a trial.
    pub steps: usize,
    /// `α` of the test protocol.
    pub alpha: f64,
    /// Checkpoint steps.
    pub checkpoints: Vec<usize>,
    /// The slab scales of the dose–response.
    pub dose: Vec<f64>,
    /// Per kind, in [`Kind::all`] order (the BPTT kinds only when a twin exists).
    pub kinds: Vec<KindSummary>,
    /// The trained recurrent layer's spectra.
    pub recurrent: Recurrent,
    /// The BPTT control.
    pub bptt: BpttControl,
}

impl Summary {
    /// The numbers of kind `name`, if measured.
    pub fn kind(&self, name: &str) -> Option<&KindSummary> {
        self.kinds.iter().find(|k| k.name == name)
    }
}

/// Per seed: every kind's network results (empty for a BPTT kind without twin).
type SeedResults = Vec<Vec<NetResult>>;

/// Per-seed mean of `f` over the networks (finite values).
fn per_seed(res: &[SeedResults], ki: usize, f: impl Fn(&NetResult) -> f64) -> Vec<f64> {
    res.iter()
        .map(|s| SeedStats::of(&s[ki].iter().map(&f).collect::<Vec<_>>()).mean)
        .collect()
}

/// Per-seed geometric mean of the positive `f` over the networks.
fn per_seed_geo(res: &[SeedResults], ki: usize, f: impl Fn(&NetResult) -> f64) -> Vec<f64> {
    res.iter()
        .map(|s| LogSeedStats::of(&s[ki].iter().map(&f).collect::<Vec<_>>()).geo_mean)
        .collect()
}

/// The puzzle analysis (an [`super::AnalysisFn`]); see the module docs.
pub fn run(runs: &[RunData], work: &Path, opts: &AnalysisOptions) -> Result<AnalysisResult> {
    super::start(runs, NAME)?;
    let po = &opts.puzzle;
    po.validate()?;
    if !runs[0].cfg.model.sas_rec {
        return Err(SasError::NotApplicable {
            analysis: NAME.into(),
            reason: "the recurrent layer is deterministic: every concrete network is the mean network".into(),
        });
    }
    let (twin_runs, twin_notes) = twins(runs, work, &po.bptt)?;
    let kinds: Vec<Kind> = Kind::all()
        .into_iter()
        .filter(|k| !k.needs_twin() || twin_runs.iter().any(Option::is_some))
        .collect();
    let nets = po.networks(opts.quick);
    let (limit, tpc) = po.test_size(opts.quick);
    let mut results: Vec<SeedResults> = Vec::new();
    let mut recurrent = Vec::new();
    let (mut steps, mut trials, mut lyap_trials) = (0, 0, 0);
    let mut cps = Vec::new();
    for (run, twin) in runs.iter().zip(&twin_runs) {
        let cfg = &run.cfg;
        let task = TaskData::load(cfg, opts.data_dir.as_deref())?;
        let test = task.test_set(cfg, cfg.eval.batch, limit, tpc);
        let proto = Protocol::new(run, &test, opts.seed, ftle_trials(opts.quick));
        steps = test.batches.first().map_or(0, |b| b.steps);
        trials = test.batches.iter().map(|b| b.size).sum();
        lyap_trials = proto.ftle_sel.iter().map(Vec::len).sum();
        cps = proto.checkpoints.clone();
        let parts = Parts::new(&run.net, twin.as_ref().map(|t| &t.net));
        let jobs: Vec<(usize, usize)> = kinds
            .iter()
            .enumerate()
            .filter(|(_, k)| !k.needs_twin() || twin.is_some())
            .flat_map(|(ki, k)| (0..if k.single() { 1 } else { nets }).map(move |j| (ki, j)))
            .collect();
        let done = jobs
            .par_iter()
            .map(|&(ki, j)| {
                let net_seed = derive_seed(opts.seed, &[KEY_NET, cfg.seed, j as u64]);
                let w = kinds[ki]
                    .build(&parts, net_seed)
                    .ok_or_else(|| SasError::Numerical {
                        name: NAME.into(),
                        reason: "a BPTT kind without a twin".into(),
                    })?;
                proto.run(&w)
            })
            .collect::<Result<Vec<_>>>()?;
        let mut per_kind: SeedResults = vec![Vec::new(); kinds.len()];
        for (&(ki, _), r) in jobs.iter().zip(done) {
            per_kind[ki].push(r);
        }
        results.push(per_kind);
        recurrent.push(recurrent_spectra(&run.net, cfg.test_alpha())?);
    }

    // Per kind, per seed, over seeds.
    let mut summaries = Vec::new();
    let mut seed_rows = Vec::new();
    for (ki, k) in kinds.iter().enumerate() {
        let acc = per_seed(&results, ki, |r| r.accuracy);
        let rad = per_seed(&results, ki, |r| r.radius);
        let lya = per_seed(&results, ki, |r| r.ftle);
        let top = per_seed(&results, ki, |r| r.top_fraction);
        let at: Vec<AtStep> = cps
            .iter()
            .enumerate()
            .map(|(c, &t)| AtStep {
                t,
                accuracy: Stat::of(&per_seed(&results, ki, |r| r.at_accuracy[c])),
                rate_norm: LogSeedStats::of(&per_seed_geo(&results, ki, |r| r.at_norm[c])),
            })
            .collect();
        for (ri, run) in runs.iter().enumerate() {
            let mut row = vec![run.cfg.seed as f64, ki as f64, acc[ri], rad[ri], lya[ri], top[ri]];
            row.extend(at.iter().map(|a| a.accuracy.values[ri]));
            row.extend(at.iter().map(|a| a.rate_norm.values[ri]));
            seed_rows.push(row);
        }
        summaries.push(KindSummary {
            name: k.name(),
            c: k.scale(),
            networks: if k.single() { 1 } else { nets },
            accuracy: Stat::of(&acc),
            spectral_radius: Stat::of(&rad),
            lyapunov_per_step: Stat::of(&lya),
            lyapunov_per_trial: Stat::of(&lya.iter().map(|l| l * steps as f64).collect::<Vec<_>>()),
            top_output_fraction: Stat::of(&top),
            at,
        });
    }
    let find = |name: &str| summaries.iter().find(|s| s.name == name);
    let values = |name: &str, f: fn(&KindSummary) -> &Stat| {
        find(name).map_or(vec![f64::NAN; runs.len()], |s| f(s).values.clone())
    };
    let acc_of = |name: &str| values(name, |s| &s.accuracy);
    let rad_of = |name: &str| values(name, |s| &s.spectral_radius);
    let ens_drop = Stat::paired(&acc_of("mean"), &acc_of("gauss-v"));
    let bptt_drop = Stat::paired(&acc_of("bptt"), &acc_of("bptt-gauss-v"));
    let ens_rad = Stat::paired(&rad_of("gauss-v"), &rad_of("mean"));
    let bptt_rad = Stat::paired(&rad_of("bptt-gauss-v"), &rad_of("bptt"));
    let bptt = BpttControl {
        measured: twin_runs.iter().any(Option::is_some),
        twins: twin_notes,
        drop_difference: Stat::paired(&bptt_drop.values, &ens_drop.values),
        radius_increase_difference: Stat::paired(&bptt_rad.values, &ens_rad.values),
        ensemble_drop: ens_drop,
        bptt_drop,
    };
    let col = |f: fn(&(f64, f64, f64)) -> f64| Stat::of(&recurrent.iter().map(f).collect::<Vec<_>>());
    let summary = Summary {
        seeds: runs.iter().map(|r| r.cfg.seed).collect(),
        networks: nets,
        test_trials: trials,
        lyapunov_trials: lyap_trials,
        lyapunov_vectors: FTLE_VECTORS,
        steps,
        alpha: runs[0].cfg.test_alpha(),
        checkpoints: cps.clone(),
        dose: DOSE.to_vec(),
        kinds: summaries,
        recurrent: Recurrent {
            rho_mean_map: col(|r| r.0),
            sqrt_rho_var: col(|r| r.1),
            sqrt_rho_xi: col(|r| r.2),
        },
        bptt,
    };

    // Tables.
    let cp_names = |what: &str| -> Vec<String> { cps.iter().map(|t| format!("{what}_t{t}")).collect() };
    let mut head: Vec<String> = [
        "seed",
        "kind_index",
        "network",
        "c",
        "accuracy",
        "spectral_radius",
        "lyapunov_per_step",
        "top_output_fraction",
    ]
    .map(String::from)
    .to_vec();
    head.extend(cp_names("accuracy"));
    head.extend(cp_names("rate_norm_median"));
    let mut net_rows = Vec::new();
    for (ri, run) in runs.iter().enumerate() {
        for (ki, k) in kinds.iter().enumerate() {
            for (j, r) in results[ri][ki].iter().enumerate() {
                let mut row = vec![
                    run.cfg.seed as f64,
                    ki as f64,
                    j as f64,
                    k.scale().unwrap_or(f64::NAN),
                    r.accuracy,
                    r.radius,
                    r.ftle,
                    r.top_fraction,
                ];
                row.extend(&r.at_accuracy);
                row.extend(
                    r.at_norm
                        .iter()
                        .map(|&v| if v.is_finite() { v } else { f64::NAN }),
                );
                net_rows.push(row);
            }
        }
    }
    let head_ref: Vec<&str> = head.iter().map(String::as_str).collect();
    let mut seed_head: Vec<String> = [
        "seed",
        "kind_index",
        "accuracy",
        "spectral_radius",
        "lyapunov_per_step",
        "top_output_fraction",
    ]
    .map(String::from)
    .to_vec();
    seed_head.extend(cp_names("accuracy"));
    seed_head.extend(cp_names("rate_norm_geomean"));
    let seed_head_ref: Vec<&str> = seed_head.iter().map(String::as_str).collect();
    let files = vec![
        csv("puzzle_networks.csv", &head_ref, &net_rows)?,
        csv("puzzle_seeds.csv", &seed_head_ref, &seed_rows)?,
    ];
    let figures = figures(&summary, &kinds, runs);
    Ok(AnalysisResult::with(
        NAME,
        TITLE,
        files,
        figures,
        super::Summary::Puzzle(Box::new(summary)),
    ))
}

/// `(ρ of the mean map, √ρ(V), √ρ(Ξ))` of the recurrent layer of `net`.
fn recurrent_spectra(net: &SasNet<f32>, alpha: f64) -> Result<(f64, f64, f64)> {
    use super::dynamics::{effective_map, spectral_radius};
    let l = &net.rec;
    let n = l.rows;
    let (mut mu, mut v) = (vec![0f32; n * n], vec![0f32; n * n]);
    l.mean_into(&mut mu);
    l.var_into(&mut v);
    let f64s = |x: &[f32]| x.iter().map(|&y| y as f64).collect::<Vec<_>>();
    Ok((
        spectral_radius(&effective_map(&mu, n, alpha), n)?,
        spectral_radius(&f64s(&v), n)?.sqrt(),
        spectral_radius(&f64s(&l.xi), n)?.sqrt(),
    ))
}

/// A mean line with its 95 % band over seeds, and every seed as its own polyline.
fn with_seeds(label: &str, x: &[f64], stats: &[&Stat], markers: bool) -> Vec<Series> {
    let seeds = stats.first().map_or(0, |s| s.values.len());
    let band = (stats.iter().any(|s| s.n >= 2)).then(|| {
        let fin = |v: f64, m: f64| if v.is_finite() { v } else { m };
        (
            stats.iter().map(|s| fin(s.lo, s.mean)).collect(),
            stats.iter().map(|s| fin(s.hi, s.mean)).collect(),
        )
    });
    let mut out = vec![Series {
        label: label.into(),
        x: x.to_vec(),
        y: stats.iter().map(|s| s.mean).collect(),
        band,
        markers,
    }];
    if seeds > 1 {
        let (mut sx, mut sy) = (Vec::new(), Vec::new());
        for si in 0..seeds {
            sx.extend(x.iter().copied().chain([f64::NAN]));
            sy.extend(stats.iter().map(|s| s.values[si]).chain([f64::NAN]));
        }
        out.push(Series {
            label: format!("{label}: each seed"),
            x: sx,
            y: sy,
            band: None,
            markers: false,
        });
    }
    out
}

fn figures(s: &Summary, kinds: &[Kind], runs: &[RunData]) -> Vec<crate::output::figure::Figure> {
    let desc = describe_runs(runs);
    let dose: Vec<&KindSummary> = kinds
        .iter()
        .zip(&s.kinds)
        .filter(|(k, _)| k.scale().is_some())
        .map(|(_, ks)| ks)
        .collect();
    let cs: Vec<f64> = dose.iter().filter_map(|k| k.c).collect();
    let point = |name: &str, label: &str| {
        s.kind(name).map(|k| Series {
            label: label.into(),
            x: vec![1.0],
            y: vec![k.accuracy.mean],
            band: None,
            markers: true,
        })
    };
    let mut acc = with_seeds(
        "μ + c·√Ξ∘z",
        &cs,
        &dose.iter().map(|k| &k.accuracy).collect::<Vec<_>>(),
        true,
    );
    acc.extend(point("sampled", "w ~ P(w)"));
    acc.extend(point("slab-diag", "slab w_ii only"));
    acc.extend(point("slab-off", "slab i ≠ j only"));
    let common = format!(
        "{} fixed networks per kind and seed (one mean network), {} test trials each, T = {} \
         steps, α = {}; per seed the networks are averaged, then the mean and 95 % t-interval \
         over seeds are drawn. The same z at every c (paired). {desc}.",
        s.networks, s.test_trials, s.steps, s.alpha
    );
    let dose_fig = line_figure(
        "puzzle_dose",
        "Accuracy against the recurrent slab noise held for the trial",
        "slab scale c (W = μ + c·√Ξ∘z)",
        "test accuracy at T (fraction correct)",
        format!(
            "Accuracy of fixed networks whose recurrent weights are the mean plus c times the slab \
             noise (input and readout at the mean; c = 0 is the mean network), with the full sample \
             w ~ P(w) and the slab split into self-connections and off-diagonal weights as single \
             points at c = 1. {common}"
        ),
        acc,
    );
    let mut growth = with_seeds(
        "ρ(A)",
        &cs,
        &dose.iter().map(|k| &k.spectral_radius).collect::<Vec<_>>(),
        true,
    );
    let exp_stat = |st: &Stat| Stat {
        mean: st.mean.exp(),
        std: f64::NAN,
        ci95: f64::NAN,
        lo: st.lo.exp(),
        hi: st.hi.exp(),
        n: st.n,
        values: st.values.iter().map(|v| v.exp()).collect(),
    };
    let lyap: Vec<Stat> = dose.iter().map(|k| exp_stat(&k.lyapunov_per_step)).collect();
    growth.extend(with_seeds(
        "e^λ₁ (gated)",
        &cs,
        &lyap.iter().collect::<Vec<_>>(),
        true,
    ));
    growth.push(Series {
        label: "1 (no growth)".into(),
        x: vec![0.0, 1.0],
        y: vec![1.0, 1.0],
        band: None,
        markers: false,
    });
    let growth_fig = line_figure(
        "puzzle_growth",
        "Growth per step against the slab noise: linear map and gated dynamics",
        "slab scale c (W = μ + c·√Ξ∘z)",
        "growth factor per step (dimensionless)",
        format!(
            "Spectral radius of the linear map A = (1 − α)I + αW and e^λ₁, the top finite-time \
             Lyapunov exponent of the ReLU-gated dynamics (QR method, {} tangent vectors, {} \
             trials per network; the interval is e^ of the interval of λ₁), against c; above 1 \
             small differences grow, by the factor's T-th power over a trial. {common}",
            s.lyapunov_vectors, s.lyapunov_trials
        ),
        growth,
    );
    let ts: Vec<f64> = s.checkpoints.iter().map(|&t| t as f64).collect();
    let time_kinds = ["mean", "slab-c1", "sampled", "gauss-v", "bptt", "bptt-gauss-v"];
    let mut tacc = Vec::new();
    let mut tnorm = Vec::new();
    for name in time_kinds {
        let Some(k) = s.kind(name) else { continue };
        let a: Vec<&Stat> = k.at.iter().map(|a| &a.accuracy).collect();
        tacc.extend(with_seeds(name, &ts, &a, true).into_iter().take(1));
        let g: Vec<Stat> =
            k.at.iter()
                .map(|a| Stat {
                    mean: a.rate_norm.geo_mean,
                    std: f64::NAN,
                    ci95: f64::NAN,
                    lo: a.rate_norm.lo,
                    hi: a.rate_norm.hi,
                    n: a.rate_norm.n,
                    values: a.rate_norm.values.clone(),
                })
                .collect();
        tnorm.extend(
            with_seeds(name, &ts, &g.iter().collect::<Vec<_>>(), true)
                .into_iter()
                .take(1),
        );
    }
    let kinds_text = "mean = every layer μ; slab-c1 = recurrent μ + √Ξ∘z; sampled = w ~ P(w) in \
                      every layer; gauss-v = recurrent μ + √V∘z; bptt, bptt-gauss-v = the BPTT \
                      twin without and with the same √V∘z (where a twin exists)";
    let tacc_fig = line_figure(
        "puzzle_time_accuracy",
        "Readout accuracy against elapsed time in the trial",
        "time step t",
        "accuracy of the readout applied at t (fraction correct)",
        format!(
            "Accuracy when the readout W_out r(t) is applied at step t of the full trials (not on \
             shorter trials: the networks were trained to answer at T, so before T this is what the \
             state already holds about the label). Kinds: {kinds_text}. {common}"
        ),
        tacc,
    );
    let mut tnorm_fig = line_figure(
        "puzzle_time_norm",
        "Rate norm against elapsed time in the trial",
        "time step t",
        "‖r(t)‖ (rate units; log scale)",
        format!(
            "Rate norm ‖r(t)‖ at step t: per network the median over trials, per seed the \
             geometric mean over networks, drawn as the geometric mean over seeds with the 95 % \
             interval computed on ln ‖r‖. Kinds: {kinds_text}. {common}"
        ),
        tnorm,
    );
    tnorm_fig.log_y = true;
    vec![dose_fig, growth_fig, tacc_fig, tnorm_fig]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sas::SasLayer;

    /// A 5-unit network with random parameters (π > 0 unless `pi0`).
    fn net(pi0: bool) -> SasNet<f32> {
        let mut g = NormalStream::new(7);
        let mut layer = |rows: usize, cols: usize| {
            let mut l = SasLayer::<f32>::zeros(rows, cols);
            g.fill(&mut l.m);
            let mut u = vec![0f32; rows * cols];
            g.fill(&mut u);
            l.xi = u.iter().map(|x| 0.01 * x.abs()).collect();
            l.pi = u
                .iter()
                .map(|x| if pi0 { 0.0 } else { 0.2 * x.abs().min(1.0) })
                .collect();
            l
        };
        SasNet {
            inp: layer(5, 2),
            rec: layer(5, 5),
            out: layer(3, 5),
            stochastic: [true, true, true],
        }
    }

    #[test]
    fn zero_slab_is_the_mean_network_exactly() {
        let n = net(false);
        let p = Parts::new(&n, None);
        assert_eq!(Kind::Slab(0.0).build(&p, 3).unwrap(), ConcreteNet::mean(&n));
        assert_eq!(Kind::Mean.build(&p, 3).unwrap(), ConcreteNet::mean(&n));
        // c > 0 changes only the recurrent layer.
        let w = Kind::Slab(0.5).build(&p, 3).unwrap();
        let m = ConcreteNet::mean(&n);
        assert_eq!((&w.w_in, &w.w_out), (&m.w_in, &m.w_out));
        assert_ne!(w.w_rec, m.w_rec);
        assert!(Kind::Bptt.build(&p, 3).is_none());
    }

    #[test]
    fn unit_slab_without_spikes_is_the_slab_only_network() {
        // With π = 0 (the spike part off), c = 1 is `m + √Ξ·z` with the z of the recurrent
        // layer of sampled network `net_seed`: the `sampled-rec-slab` kind of `dynamics`
        // (the mean network with its recurrent layer drawn at π := 0).
        let n = net(true);
        let p = Parts::new(&n, None);
        let net_seed = 11;
        let mut want = ConcreteNet::mean(&n);
        let mut slab = n.rec.clone();
        slab.pi.fill(0.0);
        sample_layer(
            &slab,
            n.stochastic[1],
            layer_seed(net_seed, 0, 1),
            &mut want.w_rec,
        );
        assert_eq!(Kind::Slab(1.0).build(&p, net_seed).unwrap(), want);
        // At π = 0 no weight drops: `sampled`'s recurrent layer is the same draw.
        let s = Kind::Sampled.build(&Parts::new(&n, None), net_seed).unwrap();
        assert_eq!(s.w_rec, want.w_rec);
    }

    #[test]
    fn diagonal_and_off_diagonal_slabs_add_up_to_the_whole() {
        let n = net(false);
        let p = Parts::new(&n, None);
        let (d, o, all, m) = (
            Kind::SlabDiag.build(&p, 5).unwrap(),
            Kind::SlabOff.build(&p, 5).unwrap(),
            Kind::Slab(1.0).build(&p, 5).unwrap(),
            ConcreteNet::mean(&n),
        );
        for e in 0..25 {
            let (i, j) = (e / 5, e % 5);
            let noise = all.w_rec[e] - m.w_rec[e];
            if i == j {
                assert_eq!(d.w_rec[e], all.w_rec[e]);
                assert_eq!(o.w_rec[e], m.w_rec[e]);
            } else {
                assert_eq!(o.w_rec[e], all.w_rec[e]);
                assert_eq!(d.w_rec[e], m.w_rec[e]);
            }
            assert!(noise != 0.0, "entry {e}");
        }
    }

    #[test]
    fn bptt_twin_gets_the_ensembles_gaussian_perturbation() {
        let n = net(false);
        let mut b = net(true);
        b.rec.m.iter_mut().for_each(|x| *x *= 0.5);
        b.stochastic = [false; 3];
        let p = Parts::new(&n, Some(&b));
        let (gv, bg, bm, m) = (
            Kind::GaussV.build(&p, 9).unwrap(),
            Kind::BpttGaussV.build(&p, 9).unwrap(),
            Kind::Bptt.build(&p, 9).unwrap(),
            ConcreteNet::mean(&n),
        );
        assert_eq!(bm, ConcreteNet::mean(&b));
        let mut v = vec![0f32; 25];
        n.rec.var_into(&mut v);
        for (e, &ve) in v.iter().enumerate() {
            let (d1, d2) = (gv.w_rec[e] - m.w_rec[e], bg.w_rec[e] - bm.w_rec[e]);
            assert!((d1 - d2).abs() < 1e-6, "{e}: {d1} vs {d2}");
            // The noise scales with √V: same z as the slab, √V/√Ξ apart.
            let slab = Kind::Slab(1.0).build(&p, 9).unwrap().w_rec[e] - m.w_rec[e];
            let ratio = (ve / n.rec.xi[e]).sqrt();
            assert!((d1 - slab * ratio).abs() < 1e-5 * (1.0 + d1.abs()), "{e}");
        }
    }

    #[test]
    fn lyapunov_exponent_of_a_normal_linear_map_is_ln_of_its_radius() {
        // W symmetric, every gate open: J = (1 − α)I + αW constant and normal; λ₁ → ln ρ(J),
        // and with k = n the exponents sum to ln |det J| at every step.
        let n = 6;
        let mut g = NormalStream::new(3);
        let mut a = vec![0f32; n * n];
        g.fill(&mut a);
        let mut w = vec![0f32; n * n];
        for i in 0..n {
            for j in 0..n {
                w[i * n + j] = 0.5 * (a[i * n + j] + a[j * n + i]);
            }
        }
        let alpha = 0.3;
        let map = super::super::dynamics::effective_map(&w, n, alpha);
        let rho = super::super::dynamics::spectral_radius(&map, n).unwrap();
        let mut f = Ftle::new(n, n, 2, alpha, 1);
        let steps = 20_000;
        for _ in 0..steps {
            f.step(&w, |_, _| true);
        }
        for s in 0..2 {
            let e = f.exponents(s);
            assert!((e[0] - rho.ln()).abs() < 1e-3, "{} vs {}", e[0], rho.ln());
            let mf = faer::Mat::<f64>::from_fn(n, n, |i, j| map[i * n + j]);
            let det: f64 = mf
                .eigenvalues()
                .unwrap()
                .iter()
                .map(|z| z.re.hypot(z.im).ln())
                .sum();
            assert!((e.iter().sum::<f64>() - det).abs() < 1e-9, "{e:?} {det}");
        }
        // A rotation scaled by s (normal, complex eigenvalues s·e^{±iθ}): λ₁ = ln s exactly.
        let (s, th) = (1.1f64, 0.4f64);
        let rot = [
            (s * th.cos()) as f32,
            (-s * th.sin()) as f32,
            (s * th.sin()) as f32,
            (s * th.cos()) as f32,
        ];
        let mut f = Ftle::new(2, 1, 1, 1.0, 4);
        for _ in 0..500 {
            f.step(&rot, |_, _| true);
        }
        let want = ((rot[0] as f64).hypot(rot[2] as f64)).ln();
        assert!((f.exponents(0)[0] - want).abs() < 1e-9);
    }

    #[test]
    fn closed_gates_leave_only_the_leak() {
        let n = 4;
        let w = vec![1.0f32; n * n];
        let mut f = Ftle::new(n, 3, 1, 0.2, 2);
        for _ in 0..10 {
            f.step(&w, |_, _| false);
        }
        for e in f.exponents(0) {
            assert!((e - 0.8f64.ln()).abs() < 1e-12, "{e}");
        }
        assert!(Ftle::new(n, 2, 1, 0.2, 2).exponents(0)[0].is_nan());
    }

    #[test]
    fn checkpoints_and_log_stats() {
        assert_eq!(checkpoints(784), vec![98, 196, 392, 588, 784]);
        assert_eq!(checkpoints(3), vec![1, 2, 3]);
        let l = LogSeedStats::of(&[1.0, 100.0, 0.0, f64::INFINITY]);
        assert_eq!(l.n, 2);
        assert!((l.geo_mean - 10.0).abs() < 1e-9);
        assert!(l.lo < 10.0 && l.hi > 10.0 && l.lo > 0.0);
        assert_eq!(median_inf(&mut [3.0, f64::NAN, 1.0]), 3.0);
        let o = Options {
            trials: Some(0),
            ..Default::default()
        };
        assert!(o.validate().unwrap_err().to_string().contains("puzzle-trials"));
    }

    #[test]
    fn run_on_a_tiny_msi_network_with_a_bptt_twin() {
        use crate::analysis::perturb::testutil::{out_dir, tiny_msi_run};
        let r = tiny_msi_run();
        let root = out_dir("puzzle-root");
        let work = root.join(NAME);
        let opts = AnalysisOptions {
            quick: true,
            seed: 4,
            ..Default::default()
        };
        // Without a twin: the BPTT control is not measured, and says why.
        let o = run(std::slice::from_ref(&r), &work, &opts).unwrap();
        let s = match &o.summary {
            super::super::Summary::Puzzle(s) => (**s).clone(),
            _ => panic!("not a puzzle summary"),
        };
        assert!(!s.bptt.measured && s.kind("bptt").is_none());
        assert!(
            s.bptt.twins[0].note.contains("no BPTT twin"),
            "{:?}",
            s.bptt.twins
        );
        assert_eq!(s.kinds.len(), Kind::all().len() - 2);
        for k in &s.kinds {
            let a = k.accuracy.mean;
            assert!((0.0..=1.0).contains(&a), "{}: {a}", k.name);
            assert!(k.spectral_radius.mean > 0.0, "{}", k.name);
            assert!(k.lyapunov_per_step.mean.is_finite(), "{}", k.name);
            assert_eq!(k.at.len(), s.checkpoints.len());
            // The readout at T is the accuracy at T.
            let last = k.at.last().unwrap().accuracy.mean;
            assert!((last - a).abs() < 1e-12, "{}: {last} vs {a}", k.name);
        }
        // c = 0 is the mean network: its radius is the mean map's.
        let rm = s.kind("mean").unwrap().spectral_radius.mean;
        assert!((rm - s.recurrent.rho_mean_map.mean).abs() < 1e-6);
        // The twin the baseline analysis would train beside the work folder is found.
        let tdir = super::super::baseline::baseline_dir(&work, r.cfg.seed);
        let tcfg = super::super::retrain::variant_config(Variant::Bptt, &r.cfg, true);
        let task = TaskData::load(&tcfg, None).unwrap();
        super::super::retrain::train_variant(&tcfg, &task, &tdir).unwrap();
        let o = run(std::slice::from_ref(&r), &work, &opts)
            .unwrap()
            .written(&work)
            .unwrap();
        let j = o.summary_json();
        assert_eq!(j["bptt"]["measured"], true);
        assert_eq!(j["bptt"]["drop_difference"]["n"], 1);
        let kinds: Vec<&str> = j["kinds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["name"].as_str().unwrap())
            .collect();
        assert!(
            kinds.contains(&"bptt") && kinds.contains(&"bptt-gauss-v"),
            "{kinds:?}"
        );
        // Summary keys (golden).
        let mut keys: Vec<&String> = j.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "alpha",
                "bptt",
                "checkpoints",
                "dose",
                "kinds",
                "lyapunov_trials",
                "lyapunov_vectors",
                "networks",
                "recurrent",
                "seeds",
                "steps",
                "test_trials"
            ]
        );
        let mean = &j["kinds"][0];
        for key in [
            "name",
            "c",
            "networks",
            "accuracy",
            "spectral_radius",
            "lyapunov_per_step",
            "lyapunov_per_trial",
            "top_output_fraction",
            "at",
        ] {
            assert!(!mean[key].is_null(), "{key}: {mean}");
        }
        assert!(!mean["at"][0]["rate_norm"]["geo_mean"].is_null());
        let csv = std::fs::read_to_string(work.join("puzzle_networks.csv")).unwrap();
        let per_seed = 2 + (Kind::all().len() - 2) * 2;
        assert_eq!(csv.lines().count(), 1 + per_seed);
        assert_eq!(o.figures.len(), 4);
        // Deterministic: the same numbers again.
        let again = run(std::slice::from_ref(&r), &work, &opts).unwrap();
        assert_eq!(again.summary_json(), o.summary_json());
        // A given twin must be a BPTT run.
        let bad = AnalysisOptions {
            puzzle: Options {
                bptt: vec![r.dir.clone()],
                ..Default::default()
            },
            ..opts.clone()
        };
        let e = run(std::slice::from_ref(&r), &work, &bad)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a BPTT run"), "{e}");
    }
}
