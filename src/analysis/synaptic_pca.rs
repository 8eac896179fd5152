//! Low-dimensional projection of the synaptic dynamics (docs/MODEL.md §5.10, second half): PCA of the
//! trajectory of the parameter vector over training epochs, from the run's per-epoch history.
//!
//! **Vectors.** At each recorded epoch `e` (0 = initialization) the trained parameters are
//! concatenated into one vector `θ(e)`: every parameter group that training updates (not
//! frozen; `π` and `Ξ` only of spike-and-slab layers), each entry in its own units (`m`:
//! weight, `π`: probability, `Ξ`: weight²). Four trajectories are analysed: **joint** (all
//! trained groups), and per kind **m**, **π** and **Ξ** (the groups of that kind of all
//! layers). Entries held fixed (structural masks) have no variance and do not matter.
//!
//! **PCA.** With `E` epochs and `D ≫ E` features the PCA is done on the centred `E × E`
//! Gram matrix `G = Θ_c Θ_cᵀ` ([`super::pca::gram_scores`]): the variances along the
//! principal axes are its eigenvalues over `E − 1` and the epoch scores `u_k √λ_k`. The joint
//! Gram matrix is the sum of the per-kind ones, and the share of kind `κ` in the joint PC1
//! axis is `u₁ᵀ G_κ u₁ / u₁ᵀ G u₁` (the squared norm of the axis' entries of that kind).
//!
//! **Drift along PC1.** The sign of PC1 is chosen so that its score grows from the first to
//! the last epoch; the drift velocity is the change of the PC1 score per epoch,
//! `v(e) = (s₁(e) − s₁(e')) / (e − e')` between consecutive recorded epochs, next to the
//! length of the whole step `‖θ(e) − θ(e')‖ / (e − e')`. Reported: the fraction of the net
//! displacement `θ(E) − θ(0)` that lies along PC1, `(s₁(E) − s₁(0))² / ‖θ(E) − θ(0)‖²`.
//!
//! **Null.** Even an unstructured random walk puts most of its variance on PC1 (about
//! 6/π² ≈ 61 % for many equal steps), so a PC1 fraction alone does not show low
//! dimensionality. Each run's trajectory of each kind is set against a random walk of the
//! same dimension `D`, number of recorded epochs and step lengths
//! ([`super::nulls::random_walk_pc1`], [`WALK_REPS`] walks seeded from the run's seed): the
//! summary gives the null's mean and 2.5–97.5 % range per seed, the paired difference data −
//! null over seeds, and per seed whether the data's PC1 fraction exceeds the null's 97.5 %
//! quantile.
//!
//! Several runs (seeds): spectra and the numbers as mean and 95 % t-interval over seeds (the
//! unit of replication, `n` stated); the trajectory figures show the first run. Runs without a
//! history give a note and no figures.
//!
//! Outputs: `spectrum.csv` (component × kind: explained fraction mean and std over runs),
//! `trajectory.csv` (per run and epoch: PC1–PC3 scores of the joint trajectory and PC1 of
//! each kind, the step length and the PC1 velocity), `summary.json`.

use super::accuracy::{by_epoch, describe_runs, line_figure};
use super::nulls::{NullSummary, random_walk_pc1};
use super::pca::{components_for, cumulative, explained, gram_scores};
use super::result::Stat;
use super::{AnalysisOptions, RunData};
use crate::analysis::AnalysisResult;
use crate::config::{Config, GroupConfig};
use crate::error::Result;
use crate::linalg::{Op, gemm};
use crate::net::SasNet;
use crate::output::figure::{ColorScale, Figure, Path as FigPath, Paths, Plot, Series};
use crate::output::{csv, mean_ci, mean_std};
use crate::rng::derive_seed;
use rayon::prelude::*;
use std::path::Path;

/// Name of the analysis (command line, output folder).
pub const NAME: &str = "synaptic-pca";

/// The trajectories analysed: joint and per kind.
pub const KINDS: [&str; 4] = ["joint", "m", "pi", "xi"];

/// Components shown in the spectrum figure.
pub const SHOWN: usize = 10;

/// Columns per block when forming the Gram matrix (bounds the memory to `E × BLOCK` f64).
const BLOCK: usize = 4096;

/// Random walks per run and kind in the null of the PC1 fraction.
pub const WALK_REPS: usize = 200;

/// Stream key of the random-walk null (under the run's seed, then the kind index).
const KEY_WALK: u64 = 0x5350_0001;

fn group(cfg: &Config, layer: usize, kind: usize) -> &GroupConfig {
    let l = [&cfg.optim.inp, &cfg.optim.rec, &cfg.optim.out][layer];
    [&l.m, &l.pi, &l.xi][kind]
}

/// The trained groups `(layer, kind)` of a run (kind 0 = m, 1 = π, 2 = Ξ).
pub(crate) fn trained_groups(cfg: &Config, net: &SasNet<f32>) -> Vec<(usize, usize)> {
    let mut v = Vec::new();
    for layer in 0..3 {
        for kind in 0..3 {
            if !group(cfg, layer, kind).frozen && (kind == 0 || net.stochastic[layer]) {
                v.push((layer, kind));
            }
        }
    }
    v
}

fn slice(net: &SasNet<f32>, layer: usize, kind: usize) -> &[f32] {
    let l = [&net.inp, &net.rec, &net.out][layer];
    [&l.m, &l.pi, &l.xi][kind]
}

/// The centred Gram matrix `[E, E]` of the parameter vectors of `groups` over the history
/// `hist` (f64 accumulation), and the number of features `D`.
pub(crate) fn centred_gram(hist: &[&SasNet<f32>], groups: &[(usize, usize)]) -> (Vec<f64>, usize) {
    let e = hist.len();
    let mut g = vec![0.0f64; e * e];
    let mut d = 0;
    let mut block = Vec::new();
    for &(layer, kind) in groups {
        let len = hist.first().map_or(0, |n| slice(n, layer, kind).len());
        d += len;
        for c0 in (0..len).step_by(BLOCK) {
            let bw = BLOCK.min(len - c0);
            block.clear();
            block.resize(e * bw, 0.0);
            for (i, net) in hist.iter().enumerate() {
                let s = &slice(net, layer, kind)[c0..c0 + bw];
                for (j, &v) in s.iter().enumerate() {
                    block[i * bw + j] = v as f64;
                }
            }
            for j in 0..bw {
                let mean = (0..e).map(|i| block[i * bw + j]).sum::<f64>() / e as f64;
                for i in 0..e {
                    block[i * bw + j] -= mean;
                }
            }
            gemm(&mut g, e, e, Op::new(&block, e, bw), Op::t(&block, e, bw), true);
        }
    }
    (g, d)
}

/// PCA of one trajectory.
#[derive(Clone, Debug)]
pub struct TrajectoryPca {
    /// Features `D`.
    pub dim: usize,
    /// Variances along the principal axes (non-increasing, `[E]`).
    pub variances: Vec<f64>,
    /// Scores `[E, E]` row-major (row = epoch, column = component), PC1 oriented to grow
    /// from the first to the last epoch.
    pub scores: Vec<f64>,
    /// Step lengths `‖θ(e_i) − θ(e_{i−1})‖` (NaN for the first epoch), `[E]`.
    pub steps: Vec<f64>,
    /// The first eigenvector of the Gram matrix (`[E]`, oriented like PC1).
    pub u1: Vec<f64>,
}

impl TrajectoryPca {
    /// PCA of the trajectory with centred Gram matrix `gram` (`E × E`) of `dim` features.
    pub fn from_gram(gram: &[f64], e: usize, dim: usize) -> Result<TrajectoryPca> {
        let (variances, mut scores) = gram_scores(gram, e)?;
        // Orient every component so that its score grows from the first to the last epoch.
        for k in 0..e {
            if scores[(e - 1) * e + k] < scores[k] {
                for i in 0..e {
                    scores[i * e + k] = -scores[i * e + k];
                }
            }
        }
        let steps = (0..e)
            .map(|i| {
                if i == 0 {
                    f64::NAN
                } else {
                    let d2 = gram[i * e + i] + gram[(i - 1) * e + i - 1] - 2.0 * gram[i * e + i - 1];
                    d2.max(0.0).sqrt()
                }
            })
            .collect();
        let l1 = variances[0] * (e - 1) as f64;
        let u1 = (0..e)
            .map(|i| if l1 > 0.0 { scores[i * e] / l1.sqrt() } else { 0.0 })
            .collect();
        Ok(TrajectoryPca {
            dim,
            variances,
            scores,
            steps,
            u1,
        })
    }

    /// Score of epoch index `i` on component `k`.
    pub fn score(&self, i: usize, k: usize) -> f64 {
        let e = self.variances.len();
        if k < e { self.scores[i * e + k] } else { f64::NAN }
    }

    /// Fraction of the net displacement `θ(last) − θ(first)` along PC1.
    pub fn pc1_displacement_fraction(&self, gram: &[f64]) -> f64 {
        let e = self.variances.len();
        let d2 = gram[0] + gram[(e - 1) * e + e - 1] - 2.0 * gram[e - 1];
        let s = self.score(e - 1, 0) - self.score(0, 0);
        if d2 > 0.0 { s * s / d2 } else { f64::NAN }
    }
}

/// The moving-average window of the drift velocity for `e` recorded epochs: `e / 50`, at
/// least 1.
pub(crate) fn smoothing_window(e: usize) -> usize {
    (e / 50).max(1)
}

/// The drift velocity of `p` along its PC1 as `(epoch, value)`: the score change per epoch
/// between consecutive recorded epochs divided by the total change `s₁(last) − s₁(first)`,
/// smoothed by a centred moving average over [`smoothing_window`] values.
pub(crate) fn drift_series(epochs: &[usize], p: &TrajectoryPca) -> Vec<(usize, f64)> {
    let e = epochs.len();
    let span = p.score(e - 1, 0) - p.score(0, 0);
    if e < 2 || span.abs() <= 0.0 {
        return Vec::new();
    }
    let v: Vec<f64> = (1..e)
        .map(|i| (p.score(i, 0) - p.score(i - 1, 0)) / (epochs[i] - epochs[i - 1]).max(1) as f64 / span)
        .collect();
    let w = smoothing_window(e);
    let half = w / 2;
    (0..v.len())
        .map(|i| {
            let lo = i.saturating_sub(half);
            let hi = (i + w - half).min(v.len());
            (epochs[i + 1], v[lo..hi].iter().sum::<f64>() / (hi - lo) as f64)
        })
        .collect()
}

/// `uᵀ G u` for a symmetric `[E, E]` matrix.
fn quad(g: &[f64], u: &[f64]) -> f64 {
    let e = u.len();
    (0..e)
        .map(|i| u[i] * (0..e).map(|j| g[i * e + j] * u[j]).sum::<f64>())
        .sum()
}

/// One run's result: epochs and the PCA of each kind (`None` for a kind with no trained
/// group), plus the joint PC1 shares of m, π, Ξ.
struct RunResult {
    epochs: Vec<usize>,
    pcas: Vec<Option<TrajectoryPca>>,
    shares: [f64; 3],
    displacement: Vec<f64>,
    /// The random-walk null of each kind's PC1 fraction (`None` where `pcas` is).
    nulls: Vec<Option<NullSummary>>,
}

fn analyse(run: &RunData) -> Result<Option<RunResult>> {
    let hist = run.history()?;
    if hist.len() < 3 {
        return Ok(None);
    }
    let epochs: Vec<usize> = hist.iter().map(|(e, _)| *e).collect();
    let nets: Vec<&SasNet<f32>> = hist.iter().map(|(_, n)| n).collect();
    let groups = trained_groups(&run.cfg, &run.net);
    let e = nets.len();
    let mut grams: Vec<(Vec<f64>, usize)> = Vec::new();
    for kind in 0..3 {
        let gs: Vec<(usize, usize)> = groups.iter().copied().filter(|g| g.1 == kind).collect();
        grams.push(centred_gram(&nets, &gs));
    }
    let mut joint = vec![0.0; e * e];
    for (g, _) in &grams {
        for (j, v) in joint.iter_mut().zip(g) {
            *j += v;
        }
    }
    let dim: usize = grams.iter().map(|g| g.1).sum();
    let mut all = vec![(joint, dim)];
    all.extend(grams);
    let mut pcas = Vec::new();
    let mut displacement = Vec::new();
    for (g, d) in &all {
        if *d == 0 || g.iter().all(|&v| v == 0.0) {
            pcas.push(None);
            displacement.push(f64::NAN);
            continue;
        }
        let p = TrajectoryPca::from_gram(g, e, *d)?;
        displacement.push(p.pc1_displacement_fraction(g));
        pcas.push(Some(p));
    }
    let mut shares = [f64::NAN; 3];
    if let Some(j) = &pcas[0] {
        let tot = quad(&all[0].0, &j.u1);
        for k in 0..3 {
            shares[k] = if tot > 0.0 {
                quad(&all[k + 1].0, &j.u1) / tot
            } else {
                f64::NAN
            };
        }
    }
    // The matched random-walk null of each kind, seeded from the run's seed and the kind.
    let nulls = pcas
        .par_iter()
        .enumerate()
        .map(|(k, p)| {
            p.as_ref()
                .map(|p| {
                    let seed = derive_seed(run.cfg.seed, &[KEY_WALK, k as u64]);
                    random_walk_pc1(&p.steps, p.dim, WALK_REPS, seed)
                })
                .transpose()
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(RunResult {
        epochs,
        pcas,
        shares,
        displacement,
        nulls,
    }))
}

fn kind_label(k: usize) -> &'static str {
    ["joint", "m", "π", "Ξ"][k]
}

/// The key numbers of the synaptic PCA (`summary.json`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Summary {
    /// Whether some run kept a parameter history of at least 3 epochs (else nothing measured).
    pub history: bool,
    /// Why nothing was measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The measurements (with a history).
    #[serde(flatten)]
    pub measured: Option<Box<Measured>>,
}

/// The synaptic PCA's numbers of runs with a history.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Measured {
    /// Recorded epochs per run.
    pub epochs: Vec<usize>,
    /// Features per kind.
    pub dims: Dims,
    /// The joint parameter vector `(m, π, Ξ)`.
    pub joint: KindSummary,
    /// `m` alone.
    pub m: KindSummary,
    /// `π` alone.
    pub pi: KindSummary,
    /// `Ξ` alone.
    pub xi: KindSummary,
    /// Share of `m` in the joint PC1 axis.
    pub pc1_share_m: Stat,
    /// Share of `π`.
    pub pc1_share_pi: Stat,
    /// Share of `Ξ`.
    pub pc1_share_xi: Stat,
}

/// Features per kind of parameter vector.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Dims {
    /// Joint.
    pub joint: usize,
    /// `m`.
    pub m: usize,
    /// `π`.
    pub pi: usize,
    /// `Ξ`.
    pub xi: usize,
}

/// The PCA of one kind's trajectory, over seeds.
#[derive(Clone, Debug, serde::Serialize)]
pub struct KindSummary {
    /// Fraction of the variance on PC1.
    pub pc1_fraction: Stat,
    /// Components for 80 %.
    pub k80: Stat,
    /// Components for 85 %.
    pub k85: Stat,
    /// Fraction of the net displacement along PC1.
    pub pc1_displacement_fraction: Stat,
    /// Fraction on PC1–PC3.
    pub pc3_cumulative: Stat,
    /// The matched random-walk null of the PC1 fraction.
    pub null: WalkNull,
}

/// The PC1 fraction of random walks matched to each run's trajectory (same dimension, number
/// of recorded epochs and step lengths; [`random_walk_pc1`]), over seeds.
#[derive(Clone, Debug, serde::Serialize)]
pub struct WalkNull {
    /// Walks per seed.
    pub reps: usize,
    /// The null's mean PC1 fraction (one value per seed).
    pub pc1_fraction: Stat,
    /// The null's 97.5 % quantile (one value per seed).
    pub pc1_hi: Stat,
    /// The data's PC1 fraction minus the null's mean, paired per seed.
    pub data_minus_null: Stat,
    /// Seeds whose PC1 fraction exceeds their null's 97.5 % quantile.
    pub exceeds_seeds: usize,
    /// Per seed (runs with this kind, in order).
    pub per_seed: Vec<SeedNull>,
}

/// One seed's PC1 fraction against its null.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SeedNull {
    /// The run's training seed.
    pub seed: u64,
    /// The data's PC1 fraction.
    pub pc1_fraction: f64,
    /// The null over its walks (`mean`, `lo` = 2.5 %, `hi` = 97.5 % quantile).
    pub null: NullSummary,
    /// Whether the data's PC1 fraction exceeds the null's 97.5 % quantile.
    pub exceeds_null: bool,
}

impl WalkNull {
    /// The null of the runs `seeds[i]` with data PC1 fractions `data[i]` and nulls `nulls[i]`.
    pub(crate) fn of(seeds: &[u64], data: &[f64], nulls: &[NullSummary]) -> WalkNull {
        let per_seed: Vec<SeedNull> = seeds
            .iter()
            .zip(data)
            .zip(nulls)
            .map(|((&seed, &d), n)| SeedNull {
                seed,
                pc1_fraction: d,
                null: *n,
                exceeds_null: d > n.hi,
            })
            .collect();
        let means: Vec<f64> = nulls.iter().map(|n| n.mean).collect();
        WalkNull {
            reps: nulls.first().map_or(0, |n| n.reps),
            pc1_fraction: Stat::of(&means),
            pc1_hi: Stat::of(&nulls.iter().map(|n| n.hi).collect::<Vec<_>>()),
            data_minus_null: Stat::paired(data, &means),
            exceeds_seeds: per_seed.iter().filter(|s| s.exceeds_null).count(),
            per_seed,
        }
    }
}

/// The synaptic PCA (an [`super::AnalysisFn`]); see the module docs.
///
/// Summary keys: `history`, `epochs` (recorded per run), `dims` (features per kind), and per
/// kind `{pc1_fraction, k80, k85, pc1_displacement_fraction, pc3_cumulative}` (over seeds)
/// and `null` ([`WalkNull`]); `pc1_share_m`, `pc1_share_pi`, `pc1_share_xi` (kinds' shares of
/// the joint PC1 axis).
pub fn run(runs: &[RunData], _work: &Path, _opts: &AnalysisOptions) -> Result<AnalysisResult> {
    super::start(runs, NAME)?;
    let mut results = Vec::new();
    for r in runs {
        if let Some(res) = analyse(r)? {
            results.push((r, res));
        }
    }
    let mut files = Vec::new();
    if results.is_empty() {
        let summary = Summary {
            history: false,
            note: Some(
                "the synaptic PCA needs the per-epoch parameter history of at least 3 epochs \
                 (train with train.history = true)"
                    .into(),
            ),
            measured: None,
        };
        let title = "Low-dimensional projection: synaptic dynamics";
        return Ok(AnalysisResult::with(
            NAME,
            title,
            files,
            Vec::new(),
            super::Summary::SynapticPca(summary),
        ));
    }

    // Spectra per kind, mean ± std over runs.
    let mut spec_rows: Vec<Vec<f64>> = (0..SHOWN).map(|c| vec![(c + 1) as f64]).collect();
    let mut spec_series = Vec::new();
    let mut kinds = Vec::new();
    let mut dims = Vec::new();
    for (k, _) in KINDS.iter().enumerate() {
        let ps: Vec<&TrajectoryPca> = results.iter().filter_map(|(_, r)| r.pcas[k].as_ref()).collect();
        let with: Vec<&(&RunData, RunResult)> = results.iter().filter(|(_, r)| r.pcas[k].is_some()).collect();
        let nulls: Vec<NullSummary> = with.iter().filter_map(|(_, r)| r.nulls[k]).collect();
        let seeds: Vec<u64> = with.iter().map(|(run, _)| run.cfg.seed).collect();
        dims.push(ps.first().map_or(0, |p| p.dim));
        let ex: Vec<Vec<f64>> = ps.iter().map(|p| explained(&p.variances)).collect();
        let (m, s) = mean_std(&ex);
        let h = mean_ci(&ex).1;
        for (c, row) in spec_rows.iter_mut().enumerate() {
            row.push(m.get(c).copied().unwrap_or(f64::NAN));
            row.push(s.get(c).copied().unwrap_or(f64::NAN));
        }
        let pc1: Vec<f64> = ex.iter().map(|e| e[0]).collect();
        let cf = |f: f64| -> Vec<f64> {
            ps.iter()
                .map(|p| components_for(&p.variances, f).map_or(f64::NAN, |c| c as f64))
                .collect()
        };
        let disp: Vec<f64> = results.iter().map(|(_, r)| r.displacement[k]).collect();
        kinds.push(KindSummary {
            pc1_fraction: Stat::of(&pc1),
            k80: Stat::of(&cf(0.8)),
            k85: Stat::of(&cf(0.85)),
            pc1_displacement_fraction: Stat::of(&disp),
            pc3_cumulative: Stat::of(
                &ex.iter()
                    .map(|e| cumulative(e).get(2).copied().unwrap_or(f64::NAN))
                    .collect::<Vec<_>>(),
            ),
            null: WalkNull::of(&seeds, &pc1, &nulls),
        });
        if !ps.is_empty() {
            let n = SHOWN.min(m.len());
            spec_series.push(Series {
                label: kind_label(k).into(),
                x: (1..=n).map(|c| c as f64).collect(),
                y: m[..n].to_vec(),
                band: (ps.len() > 1).then(|| {
                    (
                        (0..n).map(|c| m[c] - h[c]).collect(),
                        (0..n).map(|c| m[c] + h[c]).collect(),
                    )
                }),
                markers: true,
            });
        }
    }
    // The joint trajectory's null as a band across the spectrum: the mean over seeds of the
    // null's mean, 2.5 % and 97.5 % quantiles.
    let jn = &kinds[0].null.per_seed;
    let null_level = (!jn.is_empty()).then(|| {
        let avg = |f: &dyn Fn(&SeedNull) -> f64| jn.iter().map(f).sum::<f64>() / jn.len() as f64;
        (avg(&|s| s.null.mean), avg(&|s| s.null.lo), avg(&|s| s.null.hi))
    });
    if let Some((m, lo, hi)) = null_level {
        let n = spec_series.first().map_or(2, |s| s.x.len().max(2)) as f64;
        spec_series.push(Series {
            label: "random-walk null of the joint PC1 (mean, 2.5–97.5 %)".into(),
            x: vec![1.0, n],
            y: vec![m, m],
            band: Some((vec![lo, lo], vec![hi, hi])),
            markers: false,
        });
    }
    let share = |k: usize| Stat::of(&results.iter().map(|(_, r)| r.shares[k]).collect::<Vec<_>>());
    let [joint, m, pi, xi]: [KindSummary; 4] = kinds
        .try_into()
        .unwrap_or_else(|_| unreachable!("one summary per kind"));
    let summary = Summary {
        history: true,
        note: None,
        measured: Some(Box::new(Measured {
            epochs: results.iter().map(|(_, r)| r.epochs.len()).collect(),
            dims: Dims {
                joint: dims[0],
                m: dims[1],
                pi: dims[2],
                xi: dims[3],
            },
            joint,
            m,
            pi,
            xi,
            pc1_share_m: share(0),
            pc1_share_pi: share(1),
            pc1_share_xi: share(2),
        })),
    };
    let mut header = vec!["component".to_string()];
    for kind in KINDS {
        header.extend([format!("{kind}_explained_mean"), format!("{kind}_explained_std")]);
    }
    let h: Vec<&str> = header.iter().map(String::as_str).collect();
    files.push(csv("spectrum.csv", &h, &spec_rows)?);

    // Per-epoch trajectory rows.
    let mut trows = Vec::new();
    let mut drift: Vec<Vec<Vec<(usize, f64)>>> = vec![Vec::new(); KINDS.len()];
    for (ri, (r, res)) in results.iter().enumerate() {
        for (i, &ep) in res.epochs.iter().enumerate() {
            let mut row = vec![ri as f64, r.cfg.seed as f64, ep as f64];
            let j = res.pcas[0].as_ref();
            row.extend((0..3).map(|k| j.map_or(f64::NAN, |p| p.score(i, k))));
            for k in 1..KINDS.len() {
                row.push(res.pcas[k].as_ref().map_or(f64::NAN, |p| p.score(i, 0)));
            }
            let de = if i > 0 {
                (ep - res.epochs[i - 1]).max(1) as f64
            } else {
                f64::NAN
            };
            row.push(j.map_or(f64::NAN, |p| p.steps[i] / de));
            for p in &res.pcas {
                row.push(p.as_ref().map_or(f64::NAN, |p| {
                    if i > 0 {
                        (p.score(i, 0) - p.score(i - 1, 0)) / de
                    } else {
                        f64::NAN
                    }
                }));
            }
            trows.push(row);
        }
        for (k, p) in res.pcas.iter().enumerate() {
            if let Some(p) = p {
                drift[k].push(drift_series(&res.epochs, p));
            }
        }
    }
    let mut th = vec![
        "run",
        "seed",
        "epoch",
        "joint_pc1",
        "joint_pc2",
        "joint_pc3",
        "m_pc1",
        "pi_pc1",
        "xi_pc1",
        "joint_step",
    ];
    th.extend(["joint_v1", "m_v1", "pi_v1", "xi_v1"]);
    files.push(csv("trajectory.csv", &th, &trows)?);

    // Figures.
    let desc = describe_runs(runs);
    let null_note = match null_level {
        Some((m, lo, hi)) => format!(
            " The horizontal band is the matched null of the joint PC1: random walks with the \
             same dimension, number of recorded epochs and step lengths as each seed's \
             trajectory ({WALK_REPS} walks per seed; line: mean {}, band: 2.5–97.5 % quantiles \
             {}–{}, averaged over seeds) — an unstructured walk already puts most of its \
             variance on PC1, so the data are low-dimensional only above it.",
            crate::output::num(m),
            crate::output::num(lo),
            crate::output::num(hi),
        ),
        None => String::new(),
    };
    let mut figures = vec![line_figure(
        "spectrum",
        "Synaptic trajectory: variance per principal component",
        "principal component",
        "fraction of variance over epochs",
        format!(
            "Fraction of the variance of the per-epoch parameter vectors (epoch 0 = \
             initialization) along each principal component, for the joint vector of all trained \
             groups and for the m, π and Ξ groups alone (each in its own units; first {SHOWN} \
             components); {desc}.{null_note}"
        ),
        spec_series,
    )];
    let (r0, res0) = &results[0];
    if let Some(j) = &res0.pcas[0] {
        let ep: Vec<f64> = res0.epochs.iter().map(|&e| e as f64).collect();
        let emax = ep.last().copied().unwrap_or(1.0);
        for (a, b) in [(0usize, 1usize), (0, 2)] {
            figures.push(Figure {
                name: format!("trajectory_pc{}{}", a + 1, b + 1),
                title: format!("Synaptic trajectory in PC{}–PC{}", a + 1, b + 1),
                x_label: format!("PC{} (joint)", a + 1),
                y_label: format!("PC{} (joint)", b + 1),
                log_y: false,
                caption: format!(
                    "The joint parameter vector of seed {} over training projected on its PC{} and \
                     PC{} (explained fractions {} and {}), coloured by epoch; the dot marks the \
                     initialization.",
                    r0.cfg.seed,
                    a + 1,
                    b + 1,
                    crate::output::num(explained(&j.variances)[a]),
                    crate::output::num(explained(&j.variances)[b]),
                ),
                plot: Plot::Paths(Paths {
                    paths: vec![FigPath {
                        label: format!("seed {}", r0.cfg.seed),
                        x: (0..ep.len()).map(|i| j.score(i, a)).collect(),
                        y: (0..ep.len()).map(|i| j.score(i, b)).collect(),
                        c: Some(ep.clone()),
                    }],
                    scale: Some(ColorScale {
                        label: "epoch".into(),
                        range: (0.0, emax),
                    }),
                }),
            });
        }
        // PC1 progress of each kind: (s(e) − s(0)) / (s(E) − s(0)).
        let mut prog = Vec::new();
        for (k, p) in res0.pcas.iter().enumerate() {
            let Some(p) = p else { continue };
            let e = ep.len();
            let (s0, s1) = (p.score(0, 0), p.score(e - 1, 0));
            let span = if (s1 - s0).abs() > 0.0 { s1 - s0 } else { f64::NAN };
            prog.push(Series {
                label: kind_label(k).into(),
                x: ep.clone(),
                y: (0..e).map(|i| (p.score(i, 0) - s0) / span).collect(),
                band: None,
                markers: false,
            });
        }
        figures.push(line_figure(
            "pc1_progress",
            "Drift along the synaptic PC1",
            "epoch",
            "PC1 score, 0 = initialization, 1 = end",
            format!(
                "Progress of each trajectory along its own PC1 (score relative to the \
                 initialization, divided by the total change), seed {}: how early in training \
                 each kind of parameter covers its main direction of change.",
                r0.cfg.seed
            ),
            prog,
        ));
    }
    let vel: Vec<Series> = drift
        .iter()
        .enumerate()
        .filter(|(_, v)| v.iter().any(|s| !s.is_empty()))
        .map(|(k, v)| by_epoch(v).series(kind_label(k)))
        .map(|mut s| {
            s.markers = false;
            s
        })
        .collect();
    let window = results
        .iter()
        .map(|(_, r)| smoothing_window(r.epochs.len()))
        .max()
        .unwrap_or(1);
    let vf = line_figure(
        "pc1_velocity",
        "Drift velocity along the synaptic PC1",
        "epoch",
        "PC1 change per epoch / total PC1 change",
        format!(
            "Drift velocity of each trajectory along its own PC1: the change of the PC1 score per \
             epoch divided by the total change from the initialization to the end (so the kinds \
             compare; the area under each curve is 1), moving average over {window} epochs, mean \
             over seeds; {desc}."
        ),
        vel,
    );
    figures.push(vf);
    let title = "Low-dimensional projection: synaptic dynamics";
    Ok(AnalysisResult::with(
        NAME,
        title,
        files,
        figures,
        super::Summary::SynapticPca(summary),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Dims;
    use serde_json::json;

    #[test]
    fn straight_line_trajectory_by_hand() {
        // θ(e) = e · w for e = 0, 1, 2, 3 with w = (3, 4) in the recurrent m of a 1×2 layer:
        // all variance on PC1 (Σ|θ_c|² / 3 = 25·(2.25+0.25+0.25+2.25)/3 = 125/3), PC1 scores
        // 5·(e − 1.5), steps of length 5, the whole displacement along PC1.
        let d = Dims { n: 2, i: 1, k: 1 };
        let nets: Vec<SasNet<f32>> = (0..4)
            .map(|e| {
                let mut n = SasNet::zeros(d, [false, true, false]);
                n.rec.m = vec![3.0 * e as f32, 4.0 * e as f32, 0.0, 0.0];
                n
            })
            .collect();
        let refs: Vec<&SasNet<f32>> = nets.iter().collect();
        let (g, dim) = centred_gram(&refs, &[(1, 0), (1, 1)]);
        assert_eq!(dim, 8);
        let p = TrajectoryPca::from_gram(&g, 4, dim).unwrap();
        assert!((p.variances[0] - 125.0 / 3.0).abs() < 1e-9, "{:?}", p.variances);
        assert!(p.variances[1].abs() < 1e-9);
        for e in 0..4 {
            assert!((p.score(e, 0) - 5.0 * (e as f64 - 1.5)).abs() < 1e-9);
        }
        assert!((p.steps[2] - 5.0).abs() < 1e-9 && p.steps[0].is_nan());
        assert!((p.pc1_displacement_fraction(&g) - 1.0).abs() < 1e-12);
        assert_eq!(components_for(&p.variances, 0.85), Some(1));
    }

    #[test]
    fn walk_null_over_seeds_by_hand() {
        // Data 0.9, 0.7, 0.8 against nulls of mean 0.6 and 97.5 % quantile 0.75: seeds 1 and
        // 3 exceed; data − null 0.3, 0.1, 0.2: mean 0.2, s = 0.1, half-width 4.3027 · 0.1 / √3.
        let n = NullSummary {
            reps: 200,
            mean: 0.6,
            lo: 0.5,
            hi: 0.75,
        };
        let w = WalkNull::of(&[1, 2, 3], &[0.9, 0.7, 0.8], &[n; 3]);
        assert_eq!(w.reps, 200);
        assert_eq!(w.exceeds_seeds, 2);
        let flags: Vec<bool> = w.per_seed.iter().map(|s| s.exceeds_null).collect();
        assert_eq!(flags, [true, false, true]);
        assert!((w.data_minus_null.mean - 0.2).abs() < 1e-12);
        assert!((w.data_minus_null.ci95 - 4.3027 * 0.1 / 3f64.sqrt()).abs() < 1e-9);
        assert_eq!((w.pc1_fraction.n, w.pc1_hi.mean), (3, 0.75));
    }

    #[test]
    fn run_on_a_tiny_training_run() {
        let (o, out) = crate::analysis::accuracy::fixture::analyze(run, NAME);
        assert_eq!(o.summary_json()["history"], true);
        assert_eq!(o.summary_json()["epochs"], json!([4, 4]));
        let f = o.summary_json()["joint"]["pc1_fraction"]["mean"]
            .as_f64()
            .unwrap();
        assert!(f > 1.0 / 3.0 && f <= 1.0, "{f}");
        let s: f64 = ["m", "pi", "xi"]
            .iter()
            .map(|k| {
                o.summary_json()[format!("pc1_share_{k}")]["mean"]
                    .as_f64()
                    .unwrap()
            })
            .sum();
        assert!((s - 1.0).abs() < 1e-9, "shares sum to {s}");
        let names: Vec<&str> = o.figures.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "spectrum",
                "trajectory_pc12",
                "trajectory_pc13",
                "pc1_progress",
                "pc1_velocity"
            ]
        );
        let text = std::fs::read_to_string(out.join("trajectory.csv")).unwrap();
        assert_eq!(text.lines().count(), 1 + 2 * 4);
        // The matched random walk of every seed, beside the data.
        let null = &o.summary_json()["joint"]["null"];
        assert_eq!(null["reps"], WALK_REPS);
        assert_eq!(null["pc1_fraction"]["n"], 2);
        for p in null["per_seed"].as_array().unwrap() {
            let (lo, m, hi) = (
                p["null"]["lo"].as_f64().unwrap(),
                p["null"]["mean"].as_f64().unwrap(),
                p["null"]["hi"].as_f64().unwrap(),
            );
            // Four positions: PC1 carries at least a third of any walk's variance.
            assert!(1.0 / 3.0 <= lo && lo <= m && m <= hi && hi <= 1.0, "{p}");
            let d = p["pc1_fraction"].as_f64().unwrap();
            assert_eq!(p["exceeds_null"], d > hi);
        }
        assert!(
            o.figures[0].caption.contains("matched null") && o.figures[0].caption.contains("200 walks"),
            "{}",
            o.figures[0].caption
        );

        let r = crate::analysis::accuracy::fixture::without_history();
        let out = crate::analysis::accuracy::fixture::out("synaptic-nohistory");
        let o = run(&[r], &out, &AnalysisOptions::default())
            .unwrap()
            .written(&out)
            .unwrap();
        assert_eq!(o.summary_json()["history"], false);
        assert!(o.figures.is_empty());
    }
}
