//! Dynamics of concrete networks (the "fixed-network puzzle", docs/PUZZLE.md): why one
//! sampled network held for a whole trial can score at chance while the mean network and
//! networks redrawn every step do not.
//!
//! For each **network kind** below it runs [`networks`] concrete networks over the first test
//! trials ([`test_size`]) and measures
//!
//! - the **spectral radius** `ρ(A)` of the effective recurrent map `A = (1 − α) I + α W_rec`
//!   (the linear part of `h_t = (1−α) h_{t−1} + α W_rec relu(h_{t−1}) + …`; `ρ(A) > 1`: some
//!   direction grows without the ReLU's help, `< 1`: every direction decays), and the number
//!   of eigenvalues of `A` outside the unit circle;
//! - per trial the largest rate norm over time `max_t ‖r(t)‖`, the final norm `‖r(T)‖` and
//!   whether it is finite (f32 overflow), summarized per network as medians / maxima over
//!   trials, and the median trace `‖r(t)‖` over trials;
//! - the accuracy of the network on those trials, and the fraction of trials that get its most
//!   frequent output (argmax of the readout; 1 = the same answer whatever the input, as when a
//!   growing input-independent mode swamps the readout).
//!
//! `t_log10_radius = T · log10 ρ(A)` is the growth of the fastest linear mode over a trial of
//! `T` steps (orders of magnitude) if the ReLU did not cut it: a trial of `αT` membrane time
//! constants turns a small excess of `ρ(A)` over 1 into a large factor.
//!
//! | kind | input, readout | recurrent | held for |
//! |---|---|---|---|
//! | `mean` | `μ` | `μ` (also the mean map `M_rec` of the mean-field forward) | the trial |
//! | `sampled` | `w ~ P(w)` | `w ~ P(w)` | the trial (`k = T`) |
//! | `sampled-rec` | `μ` | `w ~ P(w)` | the trial |
//! | `sampled-in-out` | `w ~ P(w)` | `μ` | the trial |
//! | `sampled-rec-slab` | `μ` | slab only: `m + √Ξ·z` (no weight dropped) | the trial |
//! | `sampled-rec-spike` | `μ` | spike only: `0` w.p. `π`, else `m` | the trial |
//! | `sampled-k1` | `w ~ P(w)` | `w ~ P(w)` | one step (`k = 1`; no single `A`) |
//!
//! Network `j` of every kind uses the same draws (`net_seed = (opts.seed, KEY, run, j)`, the
//! streams of [`crate::infer::sampled_forward`]): `sampled-rec` has exactly the
//! recurrent matrix of `sampled` network `j`, `sampled-rec-slab` the same `z` without the
//! drops, `sampled-rec-spike` the same drops without `z`; the comparison is paired.
//!
//! Besides, from the parameters: the spectral radius of the entrywise variance matrix `V_rec`
//! (`v = (1−π)Ξ + π(1−π)m²`), whose square root is the circular-law radius of the random part
//! `W − μ` of a sampled recurrent matrix (so `α √ρ(V)` is the radius it adds to `A` around the
//! mean map's eigenvalues, to first order), and statistics of the self-connections `w_ii`.
//!
//! **Over seeds.** The training seed is the unit of replication: the networks of a kind are
//! repeats within a seed and are averaged first (arithmetic mean; for the positive,
//! heavy-tailed `‖r(T)‖` medians the geometric mean, [`crate::stats::geometric_mean`]), and
//! the summary's statistics are over those per-seed values: [`SeedStats`] (mean, sample std,
//! 95 % t-interval, `n` = seeds), and for `‖r(T)‖` and the per-step growth factor
//! [`LogSeedStats`] (geometric mean and the t-interval of the logarithms, back-transformed:
//! positive, multiplicative; seeds at `+∞`, an f32 overflow, counted apart).
//!
//! Outputs: `dynamics.csv` (one row per run, kind and network), `dynamics_norms.csv` (median
//! `‖r(t)‖` over trials per step and kind: median over networks), `dynamics.json` (kinds,
//! parameter statistics per run), `summary.json`; figures `dynamics_norm` (median `‖r(t)‖`
//! against `t`, log y) and `dynamics_radius` (accuracy against `ρ(A)` per network).

use super::{AnalysisOptions, RunData};

use crate::analysis::AnalysisResult;
use crate::data::source::TaskData;
use crate::error::{Result, SasError};
use crate::infer::{ConcreteNet, concrete_forward, sample_layer, score};
use crate::net::SasNet;
use crate::output::figure::{Figure, Plot, Series};
use crate::output::{csv, json_data};
use crate::rng::derive_seed;
use crate::sas::SasLayer;
use crate::stats::{LogSeedStats, SeedStats, geometric_mean, median_inf};
use rayon::prelude::*;
use serde_json::json;
use std::path::Path;

/// Name of the analysis (command line, output folder).
pub const NAME: &str = "dynamics";

const KEY_NET: u64 = 0x4459_0001;
const KEY_NOISE: u64 = 0x4459_0002;

/// Concrete networks per sampled kind: 10 (quick 3).
pub fn networks(quick: bool) -> usize {
    if quick { 3 } else { 10 }
}

/// Test trials: `(limit, trials_per_condition)` — MNIST and user tasks the first 500 test
/// trials (quick 100); MSI 5 trials per condition (quick 2).
pub(crate) fn test_size(quick: bool) -> (usize, usize) {
    if quick { (100, 2) } else { (500, 5) }
}

/// The moduli `|λ|` of the eigenvalues of the real `n × n` row-major matrix `a`, largest
/// first. Errors on a wrong length, non-finite entries or when the eigenvalue iteration does
/// not converge.
pub(crate) fn eigen_moduli(a: &[f64], n: usize) -> Result<Vec<f64>> {
    if a.len() != n * n {
        return Err(SasError::Shape {
            name: "eigenvalue matrix".into(),
            got: vec![a.len()],
            expected: vec![n, n],
        });
    }
    if a.iter().any(|v| !v.is_finite()) {
        return Err(SasError::Numerical {
            name: "eigenvalue matrix".into(),
            reason: "has non-finite entries".into(),
        });
    }
    if n == 0 {
        return Ok(Vec::new());
    }
    let m = faer::Mat::<f64>::from_fn(n, n, |i, j| a[i * n + j]);
    let ev = m.eigenvalues().map_err(|e| SasError::Numerical {
        name: "eigenvalues".into(),
        reason: format!("the eigenvalue iteration failed: {e:?}"),
    })?;
    let mut r: Vec<f64> = ev.iter().map(|z| z.re.hypot(z.im)).collect();
    r.sort_by(|x, y| y.total_cmp(x));
    Ok(r)
}

/// The spectral radius `max |λ|` of the real `n × n` row-major matrix `a` (0 for `n = 0`).
pub(crate) fn spectral_radius(a: &[f64], n: usize) -> Result<f64> {
    Ok(eigen_moduli(a, n)?.first().copied().unwrap_or(0.0))
}

/// The effective recurrent map `A = (1 − α) I + α W` of the `n × n` recurrent weights `w`
/// (row-major), in f64.
pub(crate) fn effective_map(w: &[f32], n: usize, alpha: f64) -> Vec<f64> {
    let mut a: Vec<f64> = w.iter().map(|&v| alpha * v as f64).collect();
    for i in 0..n.min(a.len() / n.max(1)) {
        a[i * n + i] += 1.0 - alpha;
    }
    a
}

/// A kind of concrete network (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Every layer `w = μ`.
    Mean,
    /// Every layer sampled once per trial.
    Sampled,
    /// Recurrent layer sampled, input and readout `μ`.
    SampledRec,
    /// Input and readout sampled, recurrent `μ`.
    SampledInOut,
    /// Recurrent slab only (`π` set to 0: no weight dropped), input and readout `μ`.
    SampledRecSlab,
    /// Recurrent spike only (`Ξ` set to 0: `w = m` or dropped), input and readout `μ`.
    SampledRecSpike,
    /// Every layer redrawn at every step (`k = 1`).
    SampledK1,
}

/// Every kind, in output order.
pub const KINDS: [Kind; 7] = [
    Kind::Mean,
    Kind::Sampled,
    Kind::SampledRec,
    Kind::SampledInOut,
    Kind::SampledRecSlab,
    Kind::SampledRecSpike,
    Kind::SampledK1,
];

impl Kind {
    /// Name in files and figures.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Mean => "mean",
            Kind::Sampled => "sampled",
            Kind::SampledRec => "sampled-rec",
            Kind::SampledInOut => "sampled-in-out",
            Kind::SampledRecSlab => "sampled-rec-slab",
            Kind::SampledRecSpike => "sampled-rec-spike",
            Kind::SampledK1 => "sampled-k1",
        }
    }

    /// Resampling interval in steps (`usize::MAX`: once per trial).
    pub fn every(self) -> usize {
        if self == Kind::SampledK1 { 1 } else { usize::MAX }
    }

    /// Concrete networks of this kind (the mean network is one).
    pub fn count(self, quick: bool) -> usize {
        if self == Kind::Mean { 1 } else { networks(quick) }
    }

    /// Writes the weights of window `window` of the network with seed `net_seed` into `w`
    /// (`mean` is `net`'s mean network, `slab` / `spike` its recurrent layer with `π = 0` /
    /// `Ξ = 0`).
    fn draw(self, p: &Parts<'_>, net_seed: u64, window: usize, w: &mut ConcreteNet) {
        let net = p.net;
        let s = derive_seed(net_seed, &[window as u64]);
        let rec = |l: &SasLayer<f32>, w: &mut ConcreteNet| {
            sample_layer(l, net.stochastic[1], derive_seed(s, &[1]), &mut w.w_rec)
        };
        match self {
            Kind::Mean => w.clone_from(&p.mean),
            Kind::Sampled | Kind::SampledK1 => w.sample(net, net_seed, window),
            Kind::SampledRec => {
                w.clone_from(&p.mean);
                rec(&net.rec, w);
            }
            Kind::SampledInOut => {
                w.sample(net, net_seed, window);
                w.w_rec.copy_from_slice(&p.mean.w_rec);
            }
            Kind::SampledRecSlab => {
                w.clone_from(&p.mean);
                rec(&p.slab, w);
            }
            Kind::SampledRecSpike => {
                w.clone_from(&p.mean);
                rec(&p.spike, w);
            }
        }
    }
}

/// What the kinds draw from: the network, its mean and its slab-only / spike-only recurrent
/// layers.
struct Parts<'a> {
    net: &'a SasNet<f32>,
    mean: ConcreteNet,
    slab: SasLayer<f32>,
    spike: SasLayer<f32>,
}

impl<'a> Parts<'a> {
    fn new(net: &'a SasNet<f32>) -> Self {
        let mut slab = net.rec.clone();
        slab.pi.fill(0.0);
        let mut spike = net.rec.clone();
        spike.xi.fill(0.0);
        Parts {
            net,
            mean: ConcreteNet::mean(net),
            slab,
            spike,
        }
    }
}

/// The measurements of one concrete network over the test trials.
#[derive(Clone, Debug)]
struct NetResult {
    accuracy: f64,
    /// `ρ(A)` (NaN for `k = 1`).
    radius: f64,
    /// Eigenvalues of `A` with `|λ| > 1` (NaN for `k = 1`).
    above_one: f64,
    /// Median over trials of `max_t ‖r(t)‖` (non-finite trials count as +∞).
    max_norm_median: f64,
    /// Largest `max_t ‖r(t)‖` over trials.
    max_norm_max: f64,
    /// Median over trials of `‖r(T)‖`.
    last_norm_median: f64,
    /// Fraction of trials whose `r(T)` is finite.
    finite_fraction: f64,
    /// Fraction of trials whose readout argmax is the network's most frequent output (1: the
    /// same answer for every trial, whatever the input).
    top_output_fraction: f64,
    /// Median over trials of `‖r(t)‖`, `t = 0..=T`.
    trace: Vec<f64>,
}

/// Runs one concrete network (kind `kind`, seed index `j`) over the test set.
fn run_network(
    run: &RunData,
    ri: usize,
    parts: &Parts<'_>,
    test: &crate::data::source::TestSet,
    kind: Kind,
    j: usize,
    seed: u64,
) -> Result<NetResult> {
    let cfg = &run.cfg;
    let d = run.net.dims();
    let alpha = cfg.test_alpha();
    let net_seed = derive_seed(seed, &[KEY_NET, ri as u64, j as u64]);
    let (radius, above_one) = if kind.every() == 1 {
        (f64::NAN, f64::NAN)
    } else {
        let mut w = ConcreteNet::zeros(d);
        kind.draw(parts, net_seed, 0, &mut w);
        let ev = eigen_moduli(&effective_map(&w.w_rec, d.n, alpha), d.n)?;
        (
            ev.first().copied().unwrap_or(0.0),
            ev.iter().filter(|&&m| m > 1.0).count() as f64,
        )
    };
    let (mut ok, mut cnt) = (0u64, 0u64);
    let mut by_mod = [(0u64, 0u64); 3];
    let (mut maxes, mut lasts) = (Vec::new(), Vec::new());
    // Per step, the norms of every trial (for the median trace).
    let mut per_step: Vec<Vec<f64>> = Vec::new();
    let mut norms = Vec::new();
    let mut votes = vec![0u64; d.k.max(1)];
    for (bi, b) in test.batches.iter().enumerate() {
        let h0 = vec![cfg.model.h0 as f32; b.size * d.n];
        let noise_seed = derive_seed(seed, &[KEY_NOISE, ri as u64, j as u64, bi as u64]);
        let draw = |window: usize, w: &mut ConcreteNet| kind.draw(parts, net_seed, window, w);
        let z = concrete_forward(
            d,
            b,
            &h0,
            alpha,
            cfg.model.sigma,
            kind.every(),
            draw,
            noise_seed,
            crate::infer::Record::Norms(&mut norms),
        );
        let z_last = &z[z.len().saturating_sub(b.size * d.k)..];
        for row in z_last.chunks_exact(d.k.max(1)) {
            let best = (0..row.len()).fold(0, |a, i| if row[i] > row[a] { i } else { a });
            votes[best] += 1;
        }
        let info = test.msi_info.get(bi).map(|v| v.as_slice());
        let (o, c) = score(b, &z, info, &mut by_mod);
        ok += o;
        cnt += c;
        if per_step.is_empty() {
            per_step = vec![Vec::new(); b.steps + 1];
        }
        for tr in 0..b.size {
            let col = |t: usize| norms[t * b.size + tr];
            let mx =
                (0..=b.steps).map(col).fold(
                    0.0f64,
                    |m, v| if v.is_finite() { m.max(v) } else { f64::INFINITY },
                );
            maxes.push(mx);
            lasts.push(col(b.steps));
        }
        for (t, row) in norms.chunks_exact(b.size).enumerate().take(per_step.len()) {
            per_step[t].extend_from_slice(row);
        }
    }
    let finite = lasts.iter().filter(|v| v.is_finite()).count() as f64 / lasts.len().max(1) as f64;
    let max_norm_max = maxes.iter().copied().fold(0.0f64, f64::max);
    Ok(NetResult {
        accuracy: if cnt > 0 { ok as f64 / cnt as f64 } else { f64::NAN },
        radius,
        above_one,
        max_norm_median: median_inf(&mut maxes),
        max_norm_max,
        last_norm_median: median_inf(&mut lasts),
        finite_fraction: finite,
        top_output_fraction: *votes.iter().max().unwrap_or(&0) as f64
            / votes.iter().sum::<u64>().max(1) as f64,
        trace: per_step.iter_mut().map(|v| median_inf(v)).collect(),
    })
}

/// The mean per-step growth factor of a norm trace over its second half,
/// `(n(T) / n(T/2))^(1/(T − T/2))` (1: flat, > 1: growing, < 1: decaying; NaN if either end is
/// not finite and positive).
pub(crate) fn growth_per_step(trace: &[f64]) -> f64 {
    let t1 = trace.len().saturating_sub(1);
    let t0 = t1 / 2;
    let (a, b) = (
        trace.get(t0).copied().unwrap_or(f64::NAN),
        trace.get(t1).copied().unwrap_or(f64::NAN),
    );
    if t1 == t0 || !(a > 0.0 && b > 0.0 && a.is_finite() && b.is_finite()) {
        return f64::NAN;
    }
    (b / a).powf(1.0 / (t1 - t0) as f64)
}

/// The median over `rs` of the networks' traces `‖r(t)‖`, `t = 0..=steps` (overflow as +∞).
fn median_trace(rs: &[NetResult], steps: usize) -> Vec<f64> {
    (0..=steps)
        .map(|t| {
            let mut v: Vec<f64> = rs.iter().filter_map(|r| r.trace.get(t).copied()).collect();
            median_inf(&mut v)
        })
        .collect()
}

/// The results of one kind (every run's networks, run by run, `per_run` each) split by run.
fn per_seed(rs: &[NetResult], per_run: usize) -> Vec<&[NetResult]> {
    rs.chunks(per_run.max(1)).collect()
}

/// The summary of one kind: `rs` holds every run's networks, run by run (`per_run` each),
/// `trace` the median trace over all of them. Each statistic is over seeds of the per-seed
/// average over that seed's networks (see the module docs).
fn kind_summary(k: Kind, rs: &[NetResult], per_run: usize, steps: usize, trace: &[f64]) -> serde_json::Value {
    let seeds = per_seed(rs, per_run);
    let stat = |f: &dyn Fn(&NetResult) -> f64| {
        let v: Vec<f64> = seeds
            .iter()
            .map(|s| s.iter().map(f).sum::<f64>() / s.len() as f64)
            .collect();
        SeedStats::of(&v)
    };
    let geo = |f: &dyn Fn(&NetResult) -> f64| {
        let v: Vec<f64> = seeds
            .iter()
            .map(|s| geometric_mean(&s.iter().map(f).collect::<Vec<_>>()))
            .collect();
        LogSeedStats::of(&v)
    };
    // Each seed's growth factor from its own median trace over its networks.
    let growth: Vec<f64> = seeds
        .iter()
        .map(|s| growth_per_step(&median_trace(s, steps)))
        .collect();
    json!({
        "networks": rs.len(),
        "every": if k.every() == 1 { json!(1) } else { json!(steps) },
        "accuracy": stat(&|r| r.accuracy),
        "spectral_radius": stat(&|r| r.radius),
        "eigs_above_1": stat(&|r| r.above_one),
        "t_log10_radius": stat(&|r| steps as f64 * r.radius.log10()),
        "log10_max_norm_median": stat(&|r| r.max_norm_median.log10()),
        "max_norm_max": rs.iter().map(|r| r.max_norm_max).fold(0.0f64, f64::max),
        "last_norm_median": geo(&|r| r.last_norm_median),
        "finite_fraction": stat(&|r| r.finite_fraction),
        "top_output_fraction": stat(&|r| r.top_output_fraction),
        "norm_at": {
            "t0": trace.first(),
            "t_mid": trace.get(steps / 2),
            "t_end": trace.last(),
        },
        "growth_per_step_second_half": growth_per_step(trace),
        "growth_per_step_second_half_over_seeds": LogSeedStats::of(&growth),
    })
}

/// Statistics of the recurrent parameters of one network (see the module docs).
fn param_stats(net: &SasNet<f32>, alpha: f64) -> Result<serde_json::Value> {
    let l = &net.rec;
    let n = l.rows;
    let mut v = vec![0f32; n * n];
    l.var_into(&mut v);
    let v64: Vec<f64> = v.iter().map(|&x| x as f64).collect();
    let rho_v = spectral_radius(&v64, n)?;
    let diag = |x: &[f32]| (0..n).map(|i| x[i * n + i] as f64).collect::<Vec<f64>>();
    let (pd, md, xd) = (diag(&l.pi), diag(&l.m), diag(&l.xi));
    let mean = |x: &[f64]| x.iter().sum::<f64>() / x.len().max(1) as f64;
    let off = |x: &[f32]| {
        let s: f64 = (0..n * n).filter(|e| e / n != e % n).map(|e| x[e] as f64).sum();
        s / (n * n - n).max(1) as f64
    };
    let mut mu = vec![0f32; n * n];
    l.mean_into(&mut mu);
    let rho_mean = spectral_radius(&effective_map(&mu, n, alpha), n)?;
    Ok(json!({
        "n": n,
        "alpha": alpha,
        "rho_mean_map": rho_mean,
        "rho_var_rec": rho_v,
        "circular_law_radius_w": rho_v.sqrt(),
        "circular_law_radius_a": alpha * rho_v.sqrt(),
        "diag_m_mean": mean(&md),
        "diag_pi_mean": mean(&pd),
        "diag_pi_sum": pd.iter().sum::<f64>(),
        "diag_pi_above_0.01": pd.iter().filter(|&&p| p > 0.01).count(),
        "diag_pi_above_0.1": pd.iter().filter(|&&p| p > 0.1).count(),
        "diag_xi_mean": mean(&xd),
        "offdiag_pi_mean": off(&l.pi),
        "offdiag_xi_mean": off(&l.xi),
        "offdiag_var_mean": off(&v),
    }))
}

/// Runs the analysis on the runs (seeds) of one configuration; see the module docs.
pub fn run(runs: &[RunData], _work: &Path, opts: &AnalysisOptions) -> Result<AnalysisResult> {
    super::start(runs, NAME)?;
    let (limit, tpc) = test_size(opts.quick);
    // results[kind] = every (run, network) result.
    let mut results: Vec<Vec<NetResult>> = vec![Vec::new(); KINDS.len()];
    let mut rows = Vec::new();
    let mut params = Vec::new();
    let (mut steps, mut trials) = (0, 0);
    for (ri, run) in runs.iter().enumerate() {
        let cfg = &run.cfg;
        let task = TaskData::load(cfg, opts.data_dir.as_deref())?;
        let test = task.test_set(cfg, cfg.eval.batch, limit, tpc);
        steps = test.batches.first().map_or(0, |b| b.steps);
        trials = test.batches.iter().map(|b| b.size).sum();
        let parts = Parts::new(&run.net);
        let jobs: Vec<(usize, usize)> = KINDS
            .iter()
            .enumerate()
            .flat_map(|(ki, k)| (0..k.count(opts.quick)).map(move |j| (ki, j)))
            .collect();
        let done = jobs
            .par_iter()
            .map(|&(ki, j)| run_network(run, ri, &parts, &test, KINDS[ki], j, opts.seed))
            .collect::<Result<Vec<_>>>()?;
        for (&(ki, j), r) in jobs.iter().zip(done) {
            rows.push(vec![
                ri as f64,
                ki as f64,
                j as f64,
                r.accuracy,
                r.radius,
                r.above_one,
                r.max_norm_median,
                r.max_norm_max,
                r.last_norm_median,
                r.finite_fraction,
                r.top_output_fraction,
            ]);
            results[ki].push(r);
        }
        params.push(json!({
            "run": run.dir.display().to_string(),
            "recurrent": param_stats(&run.net, cfg.test_alpha())?,
        }));
    }
    let names: Vec<&str> = KINDS.iter().map(|k| k.name()).collect();
    // CSV: non-finite norms (overflow) are written as empty fields.
    let csv_rows: Vec<Vec<f64>> = rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|&v| if v.is_finite() { v } else { f64::NAN })
                .collect()
        })
        .collect();
    let mut files = vec![csv(
        "dynamics.csv",
        &[
            "run",
            "kind_index",
            "network",
            "accuracy",
            "spectral_radius",
            "eigs_above_1",
            "max_norm_median",
            "max_norm_max",
            "last_norm_median",
            "finite_fraction",
            "top_output_fraction",
        ],
        &csv_rows,
    )?];
    // Median traces over networks, per kind.
    let traces: Vec<Vec<f64>> = results.iter().map(|rs| median_trace(rs, steps)).collect();
    let mut header = vec!["t"];
    header.extend(names.iter().copied());
    let trace_rows: Vec<Vec<f64>> = (0..=steps)
        .map(|t| {
            let mut r = vec![t as f64];
            r.extend(
                traces
                    .iter()
                    .map(|tr| if tr[t].is_finite() { tr[t] } else { f64::NAN }),
            );
            r
        })
        .collect();
    files.push(csv("dynamics_norms.csv", &header, &trace_rows)?);
    // Per seed first (the networks of a kind are repeats within a seed), then over seeds.
    let mut kinds_summary = serde_json::Map::new();
    for (ki, k) in KINDS.iter().enumerate() {
        kinds_summary.insert(
            k.name().into(),
            kind_summary(*k, &results[ki], k.count(opts.quick), steps, &traces[ki]),
        );
    }
    let summary = json!({
        "kinds": kinds_summary,
        "recurrent": params,
        "networks": networks(opts.quick),
        "test_trials": trials,
        "steps": steps,
        "seeds": runs.len(),
        "note": "non-finite norms (f32 overflow) are null in JSON and empty in CSV; medians count them as +inf",
    });
    files.push(json_data(
        "dynamics.json",
        &json!({ "kinds": names, "steps": steps, "test_trials": trials, "recurrent": summary["recurrent"] }),
    )?);
    let ts: Vec<f64> = (0..=steps).map(|t| t as f64).collect();
    let norm_fig = Figure {
        name: "dynamics_norm".into(),
        title: "Rate norm over the trial: mean vs sampled networks".into(),
        x_label: "time step t".into(),
        y_label: "median ‖r(t)‖ over trials (rate units)".into(),
        log_y: true,
        caption: format!(
            "Median over {trials} test trials of the rate norm ‖r(t)‖, then the median over the \
             networks of each kind ({} per sampled kind × {} seed(s); mean network: one), against \
             the time step t (T = {steps}). Kinds: mean = w = μ; sampled = every layer drawn once \
             per trial (k = T); sampled-rec / sampled-in-out = only the recurrent / only the \
             input and readout layers drawn; sampled-rec-slab = recurrent drawn without drops \
             (π := 0); sampled-rec-spike = recurrent drops only (Ξ := 0); sampled-k1 = redrawn \
             every step. Kinds that share the recurrent draws have the same trace where the input \
             layer is deterministic (sampled and sampled-rec, mean and sampled-in-out on pixel \
             MNIST): one line hides the other. Gaps: the f32 state overflowed (norm not finite).",
            networks(opts.quick),
            runs.len()
        ),
        plot: Plot::Lines(
            KINDS
                .iter()
                .enumerate()
                .map(|(ki, k)| Series {
                    label: k.name().into(),
                    x: ts.clone(),
                    y: traces[ki]
                        .iter()
                        .map(|&v| if v.is_finite() { v } else { f64::NAN })
                        .collect(),
                    band: None,
                    markers: false,
                })
                .collect(),
        ),
    };
    // Scatter: one isolated marker per network (NaN between points breaks the line).
    let scatter = |ki: usize| {
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for r in &results[ki] {
            x.extend([r.radius, f64::NAN]);
            y.extend([r.accuracy, f64::NAN]);
        }
        Series {
            label: KINDS[ki].name().into(),
            x,
            y,
            band: None,
            markers: true,
        }
    };
    let mut series: Vec<Series> = (0..KINDS.len())
        .filter(|&ki| KINDS[ki].every() != 1)
        .map(scatter)
        .collect();
    series.push(Series {
        label: "ρ(A) = 1".into(),
        x: vec![1.0, 1.0],
        y: vec![0.0, 1.0],
        band: None,
        markers: false,
    });
    let radius_fig = Figure {
        name: "dynamics_radius".into(),
        title: "Accuracy against the spectral radius of A = (1 − α)I + αW_rec".into(),
        x_label: "spectral radius ρ(A) (dimensionless)".into(),
        y_label: "test accuracy (fraction correct)".into(),
        log_y: false,
        caption: format!(
            "One marker per concrete network held for the whole trial: its accuracy on {trials} \
             test trials against the spectral radius of its effective recurrent map A = (1 − α)I \
             + αW_rec (α = {} at test); the vertical line marks ρ = 1. {} networks per sampled \
             kind × {} seed(s); kinds as in the norm figure.",
            runs[0].cfg.test_alpha(),
            networks(opts.quick),
            runs.len()
        ),
        plot: Plot::Lines(series),
    };
    let title = "Dynamics of concrete networks: spectral radius and rate norms";
    Ok(AnalysisResult::with(
        NAME,
        title,
        files,
        vec![norm_fig, radius_fig],
        summary,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spectral_radius_of_hand_written_matrices() {
        // Diagonal: the largest |entry|.
        let d = [0.5, 0.0, 0.0, 0.0, -1.5, 0.0, 0.0, 0.0, 1.2];
        assert!((spectral_radius(&d, 3).unwrap() - 1.5).abs() < 1e-12);
        // A scaled rotation s·R(θ) has eigenvalues s·e^{±iθ}: radius s, although no entry is s.
        let (s, th) = (1.3f64, 0.7f64);
        let r = [s * th.cos(), -s * th.sin(), s * th.sin(), s * th.cos()];
        assert!((spectral_radius(&r, 2).unwrap() - s).abs() < 1e-12);
        let m = eigen_moduli(&r, 2).unwrap();
        assert!((m[0] - s).abs() < 1e-12 && (m[1] - s).abs() < 1e-12);
        // A nilpotent (upper triangular, zero diagonal) matrix: radius 0 despite a large entry.
        let nil = [0.0, 100.0, 0.0, 0.0];
        assert!(spectral_radius(&nil, 2).unwrap().abs() < 1e-12);
        // Block diagonal: rotation block and a diagonal entry.
        #[rustfmt::skip]
        let b = [
            0.0, -0.9, 0.0,
            0.9,  0.0, 0.0,
            0.0,  0.0, 0.4,
        ];
        assert!((spectral_radius(&b, 3).unwrap() - 0.9).abs() < 1e-12);
        assert_eq!(spectral_radius(&[], 0).unwrap(), 0.0);
        assert!(spectral_radius(&[1.0, 2.0], 2).is_err());
        assert!(spectral_radius(&[f64::NAN], 1).is_err());
    }

    #[test]
    fn effective_map_of_the_identity_is_the_identity() {
        let n = 4;
        let mut w = vec![0f32; n * n];
        for i in 0..n {
            w[i * n + i] = 1.0;
        }
        let a = effective_map(&w, n, 0.1);
        assert!((spectral_radius(&a, n).unwrap() - 1.0).abs() < 1e-12);
        // A dropped self-connection leaves that unit with 1 − α: radius 1 from the others.
        w[0] = 0.0;
        let a = effective_map(&w, n, 0.1);
        assert!((a[0] - 0.9).abs() < 1e-12);
        let m = eigen_moduli(&a, n).unwrap();
        assert!((m[n - 1] - 0.9).abs() < 1e-12 && (m[0] - 1.0).abs() < 1e-12);
    }

    #[test]
    fn growth_factor_of_geometric_traces() {
        let g: Vec<f64> = (0..=10).map(|t| 2f64 * 1.5f64.powi(t)).collect();
        assert!((growth_per_step(&g) - 1.5).abs() < 1e-12);
        assert!((growth_per_step(&[1.0, 1.0, 1.0]) - 1.0).abs() < 1e-12);
        assert!(growth_per_step(&[1.0, f64::INFINITY, f64::INFINITY]).is_nan());
        assert!(growth_per_step(&[1.0]).is_nan());
    }

    #[test]
    fn medians_count_overflow_as_infinite() {
        assert_eq!(median_inf(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median_inf(&mut [f64::NAN, 1.0, f64::INFINITY]), f64::INFINITY);
        assert_eq!(median_inf(&mut [1.0, 3.0]), 2.0);
        assert!(median_inf(&mut []).is_nan());
    }

    #[test]
    fn networks_are_averaged_within_a_seed_then_over_seeds() {
        // Two seeds × two networks. Accuracies 0.5, 0.7 | 0.9, 0.9: per seed 0.6 and 0.9.
        // ‖r(T)‖ medians 1, 100 | 10, 1000: per seed (geometric) 10 and 100, over seeds
        // √1000 with the interval exp(ln √1000 ± 12.706 · ln 10 / (√2 · √2)) — positive,
        // where the arithmetic interval of 10 and 100 reaches far below 0. Traces grow
        // ×2 per step in seed 1, ×3 in seed 2: growth factors 2 and 3, geometric mean √6.
        let net = |acc: f64, last: f64, g: f64| NetResult {
            accuracy: acc,
            radius: 1.0,
            above_one: 0.0,
            max_norm_median: last,
            max_norm_max: last,
            last_norm_median: last,
            finite_fraction: 1.0,
            top_output_fraction: 0.5,
            trace: (0..=4).map(|t| g.powi(t)).collect(),
        };
        let rs = [
            net(0.5, 1.0, 2.0),
            net(0.7, 100.0, 2.0),
            net(0.9, 10.0, 3.0),
            net(0.9, 1000.0, 3.0),
        ];
        let s = kind_summary(Kind::Sampled, &rs, 2, 4, &[1.0; 5]);
        assert_eq!(s["networks"], 4);
        assert_eq!(s["accuracy"]["n"], 2);
        let acc = s["accuracy"]["values"].as_array().unwrap();
        assert!(
            (acc[0].as_f64().unwrap() - 0.6).abs() < 1e-12 && (acc[1].as_f64().unwrap() - 0.9).abs() < 1e-12
        );
        let l = &s["last_norm_median"];
        assert_eq!(l["n"], 2);
        assert!(
            (l["geo_mean"].as_f64().unwrap() - 1000f64.sqrt()).abs() < 1e-9,
            "{l}"
        );
        let f = (12.7062 * 10f64.ln() / 2.0).exp();
        assert!((l["factor95"].as_f64().unwrap() / f - 1.0).abs() < 1e-9, "{l}");
        assert!(l["lo"].as_f64().unwrap() > 0.0);
        assert!(SeedStats::of(&[10.0, 100.0]).lo < 0.0);
        let g = &s["growth_per_step_second_half_over_seeds"];
        assert!(
            (g["geo_mean"].as_f64().unwrap() - 6f64.sqrt()).abs() < 1e-9,
            "{g}"
        );
        // A seed whose network overflowed is counted at +∞, not averaged away.
        let rs = [
            net(0.5, 1.0, 2.0),
            net(0.5, f64::INFINITY, 2.0),
            net(0.9, 10.0, 3.0),
            net(0.9, 10.0, 3.0),
        ];
        let s = kind_summary(Kind::Sampled, &rs, 2, 4, &[1.0; 5]);
        assert_eq!(
            (
                s["last_norm_median"]["n"].as_u64(),
                s["last_norm_median"]["infinite"].as_u64()
            ),
            (Some(1), Some(1))
        );
    }

    #[test]
    fn run_on_a_tiny_msi_network() {
        let (o, out) = crate::analysis::perturb::testutil::quick_run(super::run, NAME, "dynamics", 4);
        let kinds = &o.summary_json()["kinds"];
        for k in KINDS {
            let s = &kinds[k.name()];
            let a = s["accuracy"]["mean"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&a), "{k:?}: {s}");
            assert_eq!(s["networks"].as_u64().unwrap() as usize, k.count(true));
            if k.every() != 1 {
                assert!(s["spectral_radius"]["mean"].as_f64().unwrap() > 0.0, "{k:?}");
            }
        }
        // The mean network's radius is the mean map's.
        let rm = kinds["mean"]["spectral_radius"]["mean"].as_f64().unwrap();
        let pm = o.summary_json()["recurrent"][0]["recurrent"]["rho_mean_map"]
            .as_f64()
            .unwrap();
        assert!((rm - pm).abs() < 1e-4, "{rm} vs {pm}");
        // sampled-rec holds the recurrent matrix of sampled network j: equal radii.
        let r1 = &kinds["sampled"]["spectral_radius"]["values"];
        let r2 = &kinds["sampled-rec"]["spectral_radius"]["values"];
        assert_eq!(r1, r2);
        let csv = std::fs::read_to_string(out.join("dynamics.csv")).unwrap();
        assert_eq!(csv.lines().count(), 1 + 1 + 6 * networks(true));
        assert_eq!(o.figures.len(), 2);
    }
}
