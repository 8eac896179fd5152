//! The infinite-width theory against the trained network (docs/MODEL.md §5.13, last clause): the
//! empirical tangent kernel of the run's own network over training and its relative change
//! `‖Θ(e) − Θ(0)‖ / ‖Θ(0)‖`, from the per-epoch parameter history.
//!
//! In the lazy (infinitely wide, NTK-parametrized) limit of [`crate::theory`] the kernel
//! stays at its initial value during training, and finite networks in that parametrization
//! change it by `O(1/√N)` (measured by `sasnet reproduce theory`). This analysis measures the
//! same quantity for the network the run actually trained (its own parametrization,
//! initialization and optimizer), so the report says how far the trained ensemble is from the
//! lazy regime.
//!
//! **Kernel.** For `P` fixed training trials (the first of the run's epoch-0 minibatch, the
//! training protocol) and the `K` readouts at the last step,
//! `Θ[(a,k),(b,l)] = Σ_θ ∂z_k(a)/∂θ · ∂z_l(b)/∂θ` over every parameter the run trains (groups
//! not frozen; `π`, `Ξ` only in spike-and-slab layers), in the run's own units (no
//! learning-rate weighting), split into its `m`, `π` and `Ξ` parts. The per-sample gradients
//! come from the engine in f64 (a batch of one with a masked squared loss whose derivative
//! with respect to `z_k(T)` is 1); the noise (ε and recurrent) of sample `a` is one fixed draw,
//! the same at every epoch (a quenched network).
//!
//! **Epochs.** About [`EPOCHS`] (quick [`QUICK_EPOCHS`]) history epochs from 0 to the last,
//! spaced quasi-logarithmically ([`spread`]). Reported per epoch: the relative change of `Θ` and of each part, and the alignment
//! `⟨Θ(e), Θ(0)⟩_F / (‖Θ(e)‖ ‖Θ(0)‖)` (1 = the same kernel up to scale).
//!
//! Outputs: `kernel_change.csv` (mean, std over runs per epoch), `kernel_change_per_seed.csv`,
//! `summary.json`.

use super::accuracy::{by_epoch, describe_runs, line_figure};
use super::result::Stat;
use super::synaptic_pca::trained_groups;
use super::{AnalysisOptions, RunData};
use crate::analysis::AnalysisResult;
use crate::config::Config;
use crate::data::source::TaskData;
use crate::engine::noise::RandomNoise;
use crate::engine::{Batch, Engine, EngineConfig, RunOptions, Targets};
use crate::error::{Result, SasError};
use crate::net::SasNet;
use crate::output::csv;
use crate::rng::derive_seed;
use crate::sas::SasLayer;
use crate::stats::LogSeedStats;
use std::path::Path;

/// Name of the analysis (command line, output folder).
pub const NAME: &str = "ntk-change";

/// History epochs at which the kernel is measured (at most).
pub const EPOCHS: usize = 11;
/// The same for quick runs.
pub const QUICK_EPOCHS: usize = 6;

/// Training trials `P` of the kernel: 12 (quick 6).
pub fn samples(quick: bool) -> usize {
    if quick { 6 } else { 12 }
}

const KEY_NOISE: u64 = 0x4E54_0001;

/// An empirical kernel `[(P·K) × (P·K)]` row-major (index `a·K + k`) and its parts.
#[derive(Clone, Debug, PartialEq)]
pub struct RunKernel {
    /// Rows and columns `P·K`.
    pub size: usize,
    /// `Θ` over every trained parameter.
    pub theta: Vec<f64>,
    /// The `m`, `π` and `Ξ` parts (`Θ = Σ parts`).
    pub parts: [Vec<f64>; 3],
}

fn to_f64(l: &SasLayer<f32>) -> SasLayer<f64> {
    let c = |v: &[f32]| v.iter().map(|&x| x as f64).collect();
    SasLayer {
        rows: l.rows,
        cols: l.cols,
        m: c(&l.m),
        pi: c(&l.pi),
        xi: c(&l.xi),
    }
}

/// The network in f64 (the engine's precision for the kernel).
pub(crate) fn net_f64(net: &SasNet<f32>) -> SasNet<f64> {
    SasNet {
        inp: to_f64(&net.inp),
        rec: to_f64(&net.rec),
        out: to_f64(&net.out),
        stochastic: net.stochastic,
    }
}

fn kernel_engine(cfg: &Config) -> Result<Engine<f64>> {
    Engine::new(EngineConfig {
        alpha: cfg.model.alpha,
        sigma: cfg.model.sigma,
        chunks: 1,
    })
}

fn one_trial<'a>(x: &'a [f64], h0: &'a [f64], steps: usize, targets: Targets<'a, f64>) -> Batch<'a, f64> {
    Batch {
        steps,
        size: 1,
        x,
        h0,
        targets,
    }
}

/// The readouts `z(T)` `[K]` of `net` on one trial `x` (`[T, I]` row-major) with the fixed
/// noise of `seed` (as in [`output_grads`]).
pub fn outputs(net: &SasNet<f64>, cfg: &Config, x: &[f64], steps: usize, seed: u64) -> Result<Vec<f64>> {
    let h0 = vec![cfg.model.h0; net.dims().n];
    let out = kernel_engine(cfg)?.run(
        &net.moments(),
        &one_trial(x, &h0, steps, Targets::None),
        &RandomNoise { seed },
        RunOptions::default(),
    )?;
    let k = net.dims().k;
    Ok(out.z[(out.out_steps.len() - 1) * k..].to_vec())
}

/// Per-trial output gradients: `[kind][a·K + k]` = `∂z_k(T; x_a)/∂θ` over the trained groups
/// of that kind (0 = m, 1 = π, 2 = Ξ; groups of [`trained_groups`] concatenated in layer
/// order), for the trials `xs` (each `[T, I]` row-major); the noise of trial `a` is keyed by
/// `derive_seed(seed, [a])`.
pub(crate) fn output_grads(
    net: &SasNet<f64>,
    cfg: &Config,
    groups: &[(usize, usize)],
    xs: &[Vec<f64>],
    steps: usize,
    seed: u64,
) -> Result<[Vec<Vec<f64>>; 3]> {
    let d = net.dims();
    let (n, k) = (d.n, d.k);
    let moments = net.moments();
    let mut engine = kernel_engine(cfg)?;
    let h0 = vec![cfg.model.h0; n];
    let mut grads: [Vec<Vec<f64>>; 3] = Default::default();
    for (a, x) in xs.iter().enumerate() {
        if x.len() != steps * d.i {
            return Err(SasError::Shape {
                name: format!("{NAME} trial {a}"),
                got: vec![x.len()],
                expected: vec![steps, d.i],
            });
        }
        let noise = RandomNoise {
            seed: derive_seed(seed, &[a as u64]),
        };
        let fwd = engine.run(
            &moments,
            &one_trial(x, &h0, steps, Targets::None),
            &noise,
            RunOptions::default(),
        )?;
        let z = &fwd.z[(fwd.out_steps.len() - 1) * k..];
        for kk in 0..k {
            // L = 1/(2T) (z_k(T) − y)² with y = z_k(T) − T: ∂L/∂z_k(T) = 1.
            let mut y = vec![0.0; steps * k];
            let mut mask = vec![0.0; steps * k];
            y[(steps - 1) * k + kk] = z[kk] - steps as f64;
            mask[(steps - 1) * k + kk] = 1.0;
            let out = engine.run(
                &moments,
                &one_trial(x, &h0, steps, Targets::MaskedMse { y: &y, mask: &mask }),
                &noise,
                RunOptions {
                    grad: true,
                    ..Default::default()
                },
            )?;
            let g = out.grads.ok_or_else(|| SasError::Numerical {
                name: NAME.into(),
                reason: "the engine returned no gradients".into(),
            })?;
            let pg = net.chain(&g);
            let layers = [&pg.inp, &pg.rec, &pg.out];
            for (kind, gk) in grads.iter_mut().enumerate() {
                let mut v = Vec::new();
                for &(l, kd) in groups.iter().filter(|g| g.1 == kind) {
                    let gl = layers[l];
                    v.extend_from_slice([&gl.m, &gl.pi, &gl.xi][kd]);
                }
                gk.push(v);
            }
        }
    }
    Ok(grads)
}

/// The empirical kernel of `net` (configuration `cfg`) on the trials `xs` (each `[T, I]`
/// row-major); `seed` keys each trial's fixed noise. See the module docs.
pub(crate) fn empirical_kernel(
    net: &SasNet<f32>,
    cfg: &Config,
    xs: &[Vec<f64>],
    steps: usize,
    seed: u64,
) -> Result<RunKernel> {
    let groups = trained_groups(cfg, net);
    let grads = output_grads(&net_f64(net), cfg, &groups, xs, steps, seed)?;
    let size = xs.len() * net.dims().k;
    let mut parts: [Vec<f64>; 3] = Default::default();
    for (kind, part) in parts.iter_mut().enumerate() {
        let gk = &grads[kind];
        let mut m = vec![0.0; size * size];
        for i in 0..size {
            for j in 0..=i {
                let v: f64 = gk[i].iter().zip(&gk[j]).map(|(a, b)| a * b).sum();
                m[i * size + j] = v;
                m[j * size + i] = v;
            }
        }
        *part = m;
    }
    let theta = (0..size * size)
        .map(|i| parts.iter().map(|p| p[i]).sum())
        .collect();
    Ok(RunKernel { size, theta, parts })
}

/// `‖a − b‖_F / ‖b‖_F` (NaN when `b` is 0).
pub(crate) fn rel_change(a: &[f64], b: &[f64]) -> f64 {
    let den: f64 = b.iter().map(|y| y * y).sum();
    if den > 0.0 {
        (a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>() / den).sqrt()
    } else {
        f64::NAN
    }
}

/// `⟨a, b⟩_F / (‖a‖ ‖b‖)` (NaN when either is 0).
pub(crate) fn alignment(a: &[f64], b: &[f64]) -> f64 {
    let ab: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let aa: f64 = a.iter().map(|x| x * x).sum();
    let bb: f64 = b.iter().map(|x| x * x).sum();
    if aa > 0.0 && bb > 0.0 {
        ab / (aa * bb).sqrt()
    } else {
        f64::NAN
    }
}

/// Up to `count` indices of `0..len`: 0, then quasi-logarithmically spaced up to `len − 1`
/// (`round((len−1)^(i/(count−2)))`, duplicates dropped), so the fast early change of the
/// kernel is resolved as well as the end of training.
pub fn spread(len: usize, count: usize) -> Vec<usize> {
    if len == 0 {
        return Vec::new();
    }
    if count <= 1 || len == 1 {
        return vec![len - 1];
    }
    let last = (len - 1) as f64;
    let mut v = vec![0usize];
    let steps = (count - 2).max(1) as f64;
    for i in 0..count - 1 {
        let x = if count == 2 {
            last
        } else {
            last.powf(i as f64 / steps)
        };
        v.push((x.round() as usize).min(len - 1));
    }
    v.dedup();
    v
}

/// One measured epoch: `(epoch, relative change of [Θ, m, π, Ξ parts], alignment)`.
type Measured = (usize, [f64; 4], f64);

/// The key numbers of the kernel-change analysis (`summary.json`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Summary {
    /// Whether some run kept a per-epoch parameter history (else nothing is measured).
    pub history: bool,
    /// Why nothing was measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<&'static str>,
    /// The measurements (with a history).
    #[serde(flatten)]
    pub measured: Option<KernelChange>,
}

/// The kernel change at the last recorded epoch, over seeds.
#[derive(Clone, Debug, serde::Serialize)]
pub struct KernelChange {
    /// Test inputs of the kernel.
    pub samples: usize,
    /// Outputs `K`.
    pub outputs: usize,
    /// Relative change `‖Θ(end) − Θ(0)‖/‖Θ(0)‖` of the whole kernel, on the log scale over
    /// seeds (a positive, heavy-tailed ratio: geometric mean and its 95 % interval).
    pub final_change: LogSeedStats,
    /// The same for its `m` part.
    pub final_change_m: LogSeedStats,
    /// Its `π` part.
    pub final_change_pi: LogSeedStats,
    /// Its `Ξ` part.
    pub final_change_xi: LogSeedStats,
    /// Alignment of `Θ(end)` with `Θ(0)`.
    pub final_alignment: Stat,
}

/// The kernel-change analysis (an [`super::AnalysisFn`]); see the module docs.
///
/// Summary keys: `history`, `samples` (P), `outputs` (K), and `final_change`,
/// `final_change_m`, `final_change_pi`, `final_change_xi` (geometric mean and 95 % interval
/// over seeds, [`LogSeedStats`]), `final_alignment` (mean and 95 % t-interval over seeds), at
/// each run's last measured epoch.
pub fn run(runs: &[RunData], _work: &Path, opts: &AnalysisOptions) -> Result<AnalysisResult> {
    super::start(runs, NAME)?;
    let p = samples(opts.quick);
    let count = if opts.quick { QUICK_EPOCHS } else { EPOCHS };
    let mut per: Vec<(u64, Vec<Measured>)> = Vec::new();
    let mut k_out = 0;
    for (ri, r) in runs.iter().enumerate() {
        let hist = r.history()?;
        if hist.len() < 2 {
            continue;
        }
        let task = TaskData::load(&r.cfg, opts.data_dir.as_deref())?;
        let b = task.train_batch(&r.cfg, 0, 0);
        let pp = p.min(b.size);
        let xs = sample_inputs(&b, pp);
        let seed = derive_seed(opts.seed, &[KEY_NOISE, ri as u64]);
        let idx = spread(hist.len(), count);
        let mut k0: Option<RunKernel> = None;
        let mut rows = Vec::new();
        for &i in &idx {
            let (ep, net) = &hist[i];
            let kern = empirical_kernel(net, &r.cfg, &xs, b.steps, seed)?;
            let base = k0.get_or_insert_with(|| kern.clone());
            let ch = [
                rel_change(&kern.theta, &base.theta),
                rel_change(&kern.parts[0], &base.parts[0]),
                rel_change(&kern.parts[1], &base.parts[1]),
                rel_change(&kern.parts[2], &base.parts[2]),
            ];
            rows.push((*ep, ch, alignment(&kern.theta, &base.theta)));
        }
        k_out = r.net.dims().k;
        per.push((r.cfg.seed, rows));
    }
    let mut files = Vec::new();
    if per.is_empty() {
        let summary = Summary {
            history: false,
            note: Some("the kernel change needs the per-epoch parameter history (train.history = true)"),
            measured: None,
        };
        let title = "Infinite-width theory: kernel change of the trained network";
        return Ok(AnalysisResult::with(
            NAME,
            title,
            files,
            Vec::new(),
            super::Summary::NtkChange(summary),
        ));
    }
    let mut prow = Vec::new();
    for (si, (seed, rows)) in per.iter().enumerate() {
        for (ep, ch, al) in rows {
            let mut r = vec![si as f64, *seed as f64, *ep as f64];
            r.extend(ch);
            r.push(*al);
            prow.push(r);
        }
    }
    files.push(csv(
        "kernel_change_per_seed.csv",
        &[
            "run",
            "seed",
            "epoch",
            "change",
            "change_m",
            "change_pi",
            "change_xi",
            "alignment",
        ],
        &prow,
    )?);
    let labels = [
        "Θ (all trained parameters)",
        "m part",
        "π part",
        "Ξ part",
        "alignment with Θ(0)",
    ];
    let stats: Vec<_> = (0..5)
        .map(|c| {
            let s: Vec<Vec<(usize, f64)>> = per
                .iter()
                .map(|(_, rows)| {
                    rows.iter()
                        .map(|(e, ch, al)| (*e, if c < 4 { ch[c] } else { *al }))
                        .collect()
                })
                .collect();
            by_epoch(&s)
        })
        .collect();
    let s0 = &stats[0];
    let mut header = vec!["epoch".to_string()];
    for n in ["change", "change_m", "change_pi", "change_xi", "alignment"] {
        header.extend(super::accuracy::EpochStats::csv_header(n));
    }
    let rows: Vec<Vec<f64>> = (0..s0.epochs.len())
        .map(|i| {
            let mut r = vec![s0.epochs[i] as f64];
            for s in &stats {
                r.extend(s.csv_cells(Some(i)));
            }
            r
        })
        .collect();
    let h: Vec<&str> = header.iter().map(String::as_str).collect();
    files.push(csv("kernel_change.csv", &h, &rows)?);
    let last = |c: usize| -> Vec<f64> {
        per.iter()
            .map(|(_, rows)| {
                rows.last()
                    .map_or(f64::NAN, |(_, ch, al)| if c < 4 { ch[c] } else { *al })
            })
            .collect()
    };
    let summary = Summary {
        history: true,
        note: None,
        measured: Some(KernelChange {
            samples: p,
            outputs: k_out,
            final_change: LogSeedStats::of(&last(0)),
            final_change_m: LogSeedStats::of(&last(1)),
            final_change_pi: LogSeedStats::of(&last(2)),
            final_change_xi: LogSeedStats::of(&last(3)),
            final_alignment: Stat::of(&last(4)),
        }),
    };
    let series = stats
        .iter()
        .zip(labels)
        .filter(|(s, _)| s.mean.iter().any(|v| v.is_finite()))
        .map(|(s, l)| s.series(l))
        .collect();
    let desc = describe_runs(runs);
    let mut figure = line_figure(
        "kernel_change",
        "Tangent-kernel change of the trained network",
        "epoch",
        "‖Θ(e) − Θ(0)‖ / ‖Θ(0)‖, alignment",
        format!(
            "Relative Frobenius change of the empirical tangent kernel of the run's own network \
             (P = {p} training trials × K = {k_out} readouts at the last step; gradients over every \
             trained parameter in its own units, split into the m, π and Ξ parts; each trial's noise \
             fixed) at up to {count} history epochs (denser early on), and the kernel's alignment with its initial value. The \
             infinite-width (lazy) theory predicts a constant kernel (change 0, alignment 1); a \
             change of order 1 means training moved the network far from that regime. The Ξ part grows \
             most where the slab variances collapse (∂z/∂Ξ ∝ 1/√S); epoch 0 (change 0) is off the \
             logarithmic axis. Lines: mean over seeds; {desc}."
        ),
        series,
    );
    figure.log_y = true;
    let title = "Infinite-width theory: kernel change of the trained network";
    Ok(AnalysisResult::with(
        NAME,
        title,
        files,
        vec![figure],
        super::Summary::NtkChange(summary),
    ))
}

/// The inputs of the first `count` samples of batch `b`, each flattened over time
/// (`[T·I]`, in f64).
fn sample_inputs(b: &crate::task::TrialBatch, count: usize) -> Vec<Vec<f64>> {
    (0..count)
        .map(|a| {
            (0..b.steps)
                .flat_map(|t| {
                    let o = (t * b.size + a) * b.inputs;
                    b.x[o..o + b.inputs].iter().map(|&v| v as f64)
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_by_hand() {
        assert_eq!(spread(11, 6), vec![0, 1, 2, 3, 6, 10]);
        assert_eq!(spread(3, 6), vec![0, 1, 2]);
        assert_eq!(spread(201, 11), vec![0, 1, 2, 3, 6, 11, 19, 34, 62, 111, 200]);
        assert_eq!(spread(4, 2), vec![0, 3]);
        assert_eq!(spread(5, 1), vec![4]);
        assert!(spread(0, 3).is_empty());
        assert!((rel_change(&[2.0, 0.0], &[1.0, 0.0]) - 1.0).abs() < 1e-12);
        assert!((alignment(&[2.0, 0.0], &[1.0, 0.0]) - 1.0).abs() < 1e-12);
        assert!(alignment(&[0.0, 1.0], &[1.0, 0.0]).abs() < 1e-12);
        assert!(rel_change(&[1.0], &[0.0]).is_nan());
    }

    /// The output gradients behind the kernel agree with central finite differences of the
    /// outputs (an m entry of each of `rec` and `out`, a Ξ entry of `rec`), and the kernel is
    /// their Gram matrix: symmetric, positive diagonal, parts summing to Θ, reproducible.
    #[test]
    fn kernel_gradients_match_finite_differences() {
        let runs = crate::analysis::accuracy::fixture::runs();
        let r = &runs[0];
        let task = TaskData::load(&r.cfg, None).unwrap();
        let b = task.train_batch(&r.cfg, 0, 0);
        let xs = sample_inputs(&b, 2);
        let net = net_f64(&r.net);
        let groups = trained_groups(&r.cfg, &r.net);
        let g = output_grads(&net, &r.cfg, &groups, &xs, b.steps, 7).unwrap();
        let (n, k) = (net.dims().n, net.dims().k);
        let in_len = net.inp.m.len();
        // (kind, offset in the kind's vector, layer, entry)
        let rec_xi = (0..n * n)
            .find(|&j| net.rec.xi[j] > 1e-3 && net.rec.pi[j] < 0.5)
            .unwrap();
        let checks = [
            (0, in_len + 7, 1, 7),
            (0, in_len + n * n + 3, 2, 3),
            (2, rec_xi, 1, rec_xi),
        ];
        let h = 1e-5;
        for (kind, off, layer, j) in checks {
            let mut fd = [0.0; 2];
            for (s, sign) in [(0, 1.0), (1, -1.0)] {
                let mut p = net.clone();
                let l = match layer {
                    0 => &mut p.inp,
                    1 => &mut p.rec,
                    _ => &mut p.out,
                };
                let v = match kind {
                    0 => &mut l.m,
                    1 => &mut l.pi,
                    _ => &mut l.xi,
                };
                v[j] += sign * h;
                fd[s] = outputs(&p, &r.cfg, &xs[1], b.steps, derive_seed(7, &[1])).unwrap()[1 % k];
            }
            let want = (fd[0] - fd[1]) / (2.0 * h);
            let got = g[kind][k + 1][off];
            assert!(
                (got - want).abs() <= 1e-6 * (1.0 + want.abs()),
                "kind {kind} layer {layer} entry {j}: {got} vs {want}"
            );
        }
        let kern = empirical_kernel(&r.net, &r.cfg, &xs, b.steps, 7).unwrap();
        assert_eq!(kern.size, 2 * k);
        for i in 0..kern.size {
            assert!(kern.theta[i * kern.size + i] > 0.0);
            for j in 0..kern.size {
                assert!((kern.theta[i * kern.size + j] - kern.theta[j * kern.size + i]).abs() < 1e-9);
            }
        }
        let dot: f64 = (0..3)
            .map(|kd| g[kd][1].iter().zip(&g[kd][2]).map(|(a, b)| a * b).sum::<f64>())
            .sum();
        assert!((kern.theta[kern.size + 2] - dot).abs() <= 1e-9 * dot.abs().max(1.0));
        let again = empirical_kernel(&r.net, &r.cfg, &xs, b.steps, 7).unwrap();
        assert_eq!(rel_change(&again.theta, &kern.theta), 0.0);
    }

    #[test]
    fn run_on_a_tiny_training_run() {
        let runs = crate::analysis::accuracy::fixture::runs();
        let out = crate::analysis::accuracy::fixture::out(NAME);
        let opts = AnalysisOptions {
            quick: true,
            ..Default::default()
        };
        let o = run(&runs, &out, &opts).unwrap().written(&out).unwrap();
        assert_eq!(o.summary_json()["history"], true);
        let c = o.summary_json()["final_change"]["geo_mean"].as_f64().unwrap();
        assert!(c.is_finite() && c > 0.0, "{c}");
        assert_eq!(o.figures.len(), 1);
        let text = std::fs::read_to_string(out.join("kernel_change.csv")).unwrap();
        // History epochs 0..=3: all four measured; the first has change 0.
        assert_eq!(text.lines().count(), 1 + 4);
        let first: Vec<&str> = text.lines().nth(1).unwrap().split(',').collect();
        assert_eq!(first[1], "0");
    }
}
