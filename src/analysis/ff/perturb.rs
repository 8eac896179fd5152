//! Targeted perturbation (docs/MODEL.md §5.6, §7; the authors' "target weight perturbation"):
//! mean-field test accuracy after perturbing a fraction `p` of one class of connections,
//! in one layer (`l0`, `l1`, …; the paper's figure perturbs the first layer) or in every
//! layer at once (`all`):
//!
//! - `vip` — remove (`π ← 1`) a fraction `p` of the VIP connections (the shared classifier of
//!   [`crate::analysis::weights`]; default the exact rule `π = 0, Ξ = 0, m ≠ 0`, the paper's
//!   "π = 0 and m ≠ 0"; `--vip-rule` chooses another named rule);
//! - `random` — remove as many uniformly random connections of the same layers (`p` times
//!   the layer's VIP count; docs/MODEL.md §5.6's control);
//! - `uip` — reconnect a fraction `p` of the UIP connections with a random deterministic
//!   weight `w ~ N(0, σ²)` (`π ← 0`, `Ξ ← 0`, `m ← w`; σ = [`PerturbSettings::uip_std`],
//!   1 as in the authors' code). *Removing* UIP connections changes nothing by construction
//!   (`π = 1` already means absent: the accuracy stays exactly the baseline), so the
//!   non-trivial test of "unimportant" is that giving them weights does not hurt either;
//! - `near_vip` — remove a fraction `p` of the *near-VIP* connections, `π ≤ τ_π` and
//!   `Ξ < τ_Ξ` (default `τ = 1e-3`, [`crate::sas::classes::FF_NEAR_VIP`]; set with
//!   `--vip-pi-max`, `--vip-xi-max`, `--vip-m-min`): VIP up to rounding in the third decimal.
//!   The exact classes are what docs/MODEL.md §7 defines, but Adam's last steps leave many
//!   connections that are deterministic for all practical purposes just off `π = Ξ = 0`;
//!   this set shows where the credit actually sits;
//! - `near_random` — as many uniformly random connections as `near_vip` removes (its control);
//! - `vip_magnitude`, `near_magnitude` — the `|μ|`-matched controls of `vip` and `near_vip`:
//!   each removed connection paired with a non-member of the set from the same `|μ|` quantile
//!   bin of its layer ([`crate::analysis::perturb::control_orders`], the recurrent analysis's
//!   procedure; feed-forward layers have no self-connections, so no diagonal control).
//!
//! Each repeat draws one seeded random order of each candidate set and perturbs its first
//! `round(p·n)` entries (so subsets grow with `p`; a matched control removes the partners of
//! those entries), and evaluates every `p` with the same `ε` draws. The training seed is the
//! unit of replication: each seed's accuracies are first averaged over its repeats, and points
//! are the mean and 95 % t-interval over seeds ([`SeedStats`], `n` = seeds). The extra drop of
//! a targeted removal over its control at `p = 1`, `acc_control − acc_targeted`, is a paired
//! difference per seed summarized over seeds ([`Stat::paired`]).

use crate::analysis::AnalysisOptions;
use crate::analysis::AnalysisResult;
use crate::analysis::perturb::control_orders;
use crate::analysis::result::{MeanCi, Stat};
use crate::analysis::{RunData, describe_runs};
use crate::error::{Result, SasError};
use crate::family::FeedForward;
use crate::ff::eval::{EvalMode, evaluate};
use crate::ff::{FfData, FfNet, layer_name};
use crate::output::figure::{Figure, Plot, Series};
use crate::output::{csv, json_data};
use crate::rng::{NormalStream, derive_seed, splitmix64};
use crate::sas::SasLayer;
use crate::sas::classes::{Thresholds, VipRule};
use crate::sas::classes::{WeightClass, class_indices};
use crate::stats::SeedStats;
use serde::Serialize;
use std::path::Path;

/// Name of the analysis (output folder and report section).
pub const NAME: &str = "perturb";

/// Section title of the analysis in reports.
const TITLE: &str = "Targeted perturbation: removing VIP vs random weights, reconnecting UIP";

/// The perturbed classes, in file order (class column 0, 1, …): the `…_magnitude` classes are
/// the `|μ|`-matched controls of `vip` and `near_vip` ([`control_orders`]).
pub const CLASSES: [&str; 7] = [
    "vip",
    "random",
    "uip",
    "near_vip",
    "near_random",
    "vip_magnitude",
    "near_magnitude",
];

/// Test images evaluated by the quick variant.
pub const QUICK_TEST_LIMIT: usize = 2000;

/// Settings of the perturbation analysis.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PerturbSettings {
    /// Fractions `p` of the class perturbed (in `[0, 1]`).
    pub fractions: Vec<f64>,
    /// Seeded repeats per point.
    pub repeats: usize,
    /// Perturb each layer alone (besides all layers at once).
    pub per_layer: bool,
    /// Standard deviation σ of the weights given to reconnected UIP connections.
    pub uip_std: f64,
    /// Chunks per batch of the evaluation.
    pub chunks: usize,
    /// Seed of the subsets, the UIP weights and the evaluation noise.
    pub seed: u64,
    /// The VIP and UIP rule (default exact, [`Thresholds::for_task`]).
    pub vip: Thresholds,
    /// The rule of the near-VIP set (its `uip_pi` is unused).
    pub near: Thresholds,
}

impl PerturbSettings {
    /// Standard settings: `p = 0, 0.1, …, 1`, 5 repeats; `quick`: `p = 0, 0.25, …, 1`,
    /// 2 repeats. Both perturb every layer alone and all layers at once; σ = 1.
    pub fn standard(quick: bool, seed: u64) -> PerturbSettings {
        let steps = if quick { 4 } else { 10 };
        PerturbSettings {
            fractions: (0..=steps).map(|i| i as f64 / steps as f64).collect(),
            repeats: if quick { 2 } else { 5 },
            per_layer: true,
            uip_std: 1.0,
            chunks: 4,
            seed,
            vip: Thresholds::for_task("ff"),
            near: Thresholds {
                uip_pi: 1.0,
                ..Thresholds::named(VipRule::Near)
            },
        }
    }
}

/// One point of the perturbation curves of one network.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PerturbPoint {
    /// Perturbed layers: `all` or a layer name.
    pub target: String,
    /// Class: `vip`, `random`, `uip`, `near_vip` or `near_random` ([`CLASSES`]).
    pub class: String,
    /// Fraction `p`.
    pub fraction: f64,
    /// Connections perturbed (summed over the perturbed layers).
    pub perturbed: usize,
    /// Mean-field test accuracy of each repeat.
    pub accuracies: Vec<f64>,
}

/// The first `k` entries of a seeded uniformly random order of `cand` (partial Fisher–Yates).
fn choose_first(cand: &[usize], k: usize, seed: u64) -> Vec<usize> {
    let mut v = cand.to_vec();
    let mut s = seed;
    let k = k.min(v.len());
    for i in 0..k {
        let j = i + ((splitmix64(&mut s) as u128 * (v.len() - i) as u128) >> 64) as usize;
        v.swap(i, j);
    }
    v.truncate(k);
    v
}

/// Removes connections `idx` of `layer`: `π = 1` (so `μ = v = 0`).
pub fn remove(layer: &mut SasLayer<f32>, idx: &[usize]) {
    for &i in idx {
        layer.pi[i] = 1.0;
    }
}

/// Reconnects connections `idx` of `layer` with deterministic weights `w ~ N(0, std²)`
/// (`π = 0`, `Ξ = 0`, `m = w`), drawn from the stream `seed`.
pub(crate) fn reconnect(layer: &mut SasLayer<f32>, idx: &[usize], std: f64, seed: u64) {
    let mut z = vec![0f32; idx.len()];
    NormalStream::new(seed).fill(&mut z);
    for (&i, &zi) in idx.iter().zip(&z) {
        layer.pi[i] = 0.0;
        layer.xi[i] = 0.0;
        layer.m[i] = (std * zi as f64) as f32;
    }
}

/// The perturbation targets of a network with `nl` layers: `(name, layers)`.
fn targets(nl: usize, per_layer: bool) -> Vec<(String, Vec<usize>)> {
    let mut t: Vec<(String, Vec<usize>)> = vec![("all".into(), (0..nl).collect())];
    if per_layer {
        t.extend((0..nl).map(|l| (layer_name(l), vec![l])));
    }
    t
}

/// Mean-field test accuracy on `test` vs perturbed fraction, for every target, class and
/// fraction of `s`.
pub fn perturbation(net: &FfNet<f32>, test: &FfData, s: &PerturbSettings) -> Result<Vec<PerturbPoint>> {
    if let Some(&p) = s.fractions.iter().find(|p| !(0.0..=1.0).contains(*p)) {
        return Err(SasError::InvalidArgument {
            name: "perturbation fractions".into(),
            reason: format!("{p} is not in [0, 1]"),
        });
    }
    if !(s.uip_std >= 0.0 && s.uip_std.is_finite()) {
        return Err(SasError::InvalidArgument {
            name: "uip_std".into(),
            reason: format!("{} is not a finite value ≥ 0", s.uip_std),
        });
    }
    let nl = net.layers.len();
    let repeats = s.repeats.max(1);
    let eps_seed = |rep: usize| derive_seed(s.seed, &[0, rep as u64]);
    let of = |c: WeightClass| -> Vec<Vec<usize>> {
        net.layers.iter().map(|l| class_indices(l, &s.vip, c)).collect()
    };
    let (vip, uip) = (of(WeightClass::Vip), of(WeightClass::Uip));
    let near: Vec<Vec<usize>> = net.layers.iter().map(|l| s.near.vip_indices(l, None)).collect();
    let all: Vec<Vec<usize>> = net.layers.iter().map(|l| (0..l.pi.len()).collect()).collect();
    let mut base = Vec::with_capacity(repeats);
    for rep in 0..repeats {
        base.push(evaluate(net, test, EvalMode::MeanField, 1, s.chunks, eps_seed(rep))?.accuracy);
    }
    let mut points = Vec::new();
    for (ti, (tname, layers)) in targets(nl, s.per_layer).iter().enumerate() {
        for (ci, cname) in CLASSES.into_iter().enumerate() {
            for &p in &s.fractions {
                let mut accs = Vec::with_capacity(repeats);
                let mut perturbed = 0;
                for (rep, &base_acc) in base.iter().enumerate() {
                    let mut pert = net.clone();
                    perturbed = 0;
                    for &l in layers {
                        let (cand, n_ref) = match cname {
                            "vip" | "vip_magnitude" => (&vip[l], vip[l].len()),
                            "uip" => (&uip[l], uip[l].len()),
                            "near_vip" | "near_magnitude" => (&near[l], near[l].len()),
                            "near_random" => (&all[l], near[l].len()),
                            _ => (&all[l], vip[l].len()),
                        };
                        let k = (p * n_ref as f64).round() as usize;
                        let key =
                            |ci: usize| derive_seed(s.seed, &[1, ti as u64, ci as u64, rep as u64, l as u64]);
                        let idx = if let Some(of) = cname.strip_suffix("_magnitude") {
                            // Partners of the targeted removal's own order (same seed as its
                            // class), drawn from the same |μ| bins.
                            let target_ci = if of == "vip" { 0 } else { 3 };
                            let order = choose_first(cand, cand.len(), key(target_ci));
                            let seeds = [0, key(ci), 0];
                            let c = control_orders(&net.layers[l], None, &order, seeds, false);
                            c[1].order[..k.min(c[1].order.len())].to_vec()
                        } else {
                            choose_first(cand, k, key(ci))
                        };
                        perturbed += idx.len();
                        if cname == "uip" {
                            let wkey = [2, ti as u64, rep as u64, l as u64];
                            reconnect(&mut pert.layers[l], &idx, s.uip_std, derive_seed(s.seed, &wkey));
                        } else {
                            remove(&mut pert.layers[l], &idx);
                        }
                    }
                    accs.push(if perturbed == 0 {
                        base_acc
                    } else {
                        evaluate(&pert, test, EvalMode::MeanField, 1, s.chunks, eps_seed(rep))?.accuracy
                    });
                }
                points.push(PerturbPoint {
                    target: tname.clone(),
                    class: cname.into(),
                    fraction: p,
                    perturbed,
                    accuracies: accs,
                });
            }
        }
    }
    Ok(points)
}

/// One point aggregated over seeds.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PerturbStat {
    /// Perturbed layers: `all` or a layer name.
    pub target: String,
    /// Class: `vip`, `random`, `uip`, `near_vip` or `near_random`.
    pub class: String,
    /// Fraction `p`.
    pub fraction: f64,
    /// Connections perturbed, mean over seeds.
    pub perturbed: f64,
    /// Accuracy, mean over seeds of each seed's mean over its repeats.
    pub accuracy: f64,
    /// Its sample standard deviation over seeds.
    pub accuracy_std: f64,
    /// Half-width of the 95 % t-interval of the mean over seeds.
    pub accuracy_ci95: f64,
    /// Seeds behind the point.
    pub n: usize,
}

/// Each seed's accuracy at point `i` (the mean over its repeats).
fn seed_means(per_seed: &[Vec<PerturbPoint>], i: usize) -> Vec<f64> {
    per_seed
        .iter()
        .map(|s| SeedStats::of(&s[i].accuracies).mean)
        .collect()
}

fn aggregate(per_seed: &[Vec<PerturbPoint>]) -> Vec<PerturbStat> {
    let Some(first) = per_seed.first() else {
        return Vec::new();
    };
    (0..first.len())
        .map(|i| {
            let p0 = &first[i];
            let a = SeedStats::of(&seed_means(per_seed, i));
            let n: Vec<f64> = per_seed.iter().map(|s| s[i].perturbed as f64).collect();
            PerturbStat {
                target: p0.target.clone(),
                class: p0.class.clone(),
                fraction: p0.fraction,
                perturbed: SeedStats::of(&n).mean,
                accuracy: a.mean,
                accuracy_std: a.sd,
                accuracy_ci95: a.ci95,
                n: a.n,
            }
        })
        .collect()
}

/// The key numbers of the feed-forward perturbation analysis (`summary.json`; `targets` is
/// written as an object keyed by the target names). Accuracies at a point without data are
/// `None` (`null`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Summary {
    /// Seeds.
    pub seeds: usize,
    /// Test images per evaluation.
    pub test_images: usize,
    /// Accuracy of the unperturbed networks over seeds (each seed's repeats averaged first).
    pub baseline: Option<MeanCi>,
    /// Per target (all layers, then each layer): its classes removed whole.
    #[serde(serialize_with = "by_target")]
    pub targets: Vec<TargetSummary>,
    /// The VIP rule, described.
    pub vip_rule: String,
    /// The near-VIP rule.
    pub near_vip_rule: String,
    /// The near-VIP set's label.
    pub near_vip_label: String,
    /// The settings.
    pub settings: PerturbSettings,
}

fn by_target<S: serde::Serializer>(v: &[TargetSummary], s: S) -> std::result::Result<S::Ok, S::Error> {
    crate::analysis::result::keyed(s, v, |_, t| t.target.clone())
}

/// The accuracies of one target with every connection of a class perturbed (`p = 1`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct TargetSummary {
    /// The target (`all` or a layer; the key in the JSON).
    #[serde(skip)]
    pub target: String,
    /// VIP connections.
    pub vip_count: f64,
    /// All VIP connections removed.
    pub vip_removed: Option<MeanCi>,
    /// As many random connections removed.
    pub random_removed: Option<MeanCi>,
    /// As many largest-|m| connections removed.
    pub magnitude_removed: Option<MeanCi>,
    /// UIP connections given random weights.
    pub uip_reconnected: Option<MeanCi>,
    /// Near-VIP connections.
    pub near_vip_count: f64,
    /// All near-VIP connections removed.
    pub near_vip_removed: Option<MeanCi>,
    /// As many random connections removed.
    pub near_random_removed: Option<MeanCi>,
    /// As many largest-|m| connections removed.
    pub near_magnitude_removed: Option<MeanCi>,
    /// Extra drop of removing every VIP connection over as many random ones
    /// (`acc_random − acc_vip`), paired per seed, over seeds.
    pub vip_drop_minus_random: Option<Stat>,
    /// The same against the `|μ|`-matched control.
    pub vip_drop_minus_magnitude: Option<Stat>,
    /// Extra drop of removing every near-VIP connection over as many random ones.
    pub near_vip_drop_minus_random: Option<Stat>,
    /// The same against the `|μ|`-matched control.
    pub near_vip_drop_minus_magnitude: Option<Stat>,
}

/// The extra accuracy drop of class `targeted` over class `control` with the whole class
/// perturbed (`p = 1`) in `target`: `acc_control − acc_targeted` per seed (each the mean over
/// its repeats), over seeds. `None` when either point is missing.
fn drop_minus(per_seed: &[Vec<PerturbPoint>], target: &str, targeted: &str, control: &str) -> Option<Stat> {
    let first = per_seed.first()?;
    let at = |c: &str| {
        first
            .iter()
            .position(|q| q.target == target && q.class == c && q.fraction == 1.0)
    };
    let (t, c) = (at(targeted)?, at(control)?);
    Some(Stat::paired(&seed_means(per_seed, c), &seed_means(per_seed, t)))
}

/// The perturbation analysis (an `AnalysisFn<FeedForward>`) on the MNIST test set
/// (`opts.data_dir`; quick: the first [`QUICK_TEST_LIMIT`] images, 2 repeats, 5 fractions):
/// `perturb.csv` (target (-1 = all layers, else the layer index), class (0 = vip,
/// 1 = random, 2 = uip, 3 = near_vip, 4 = near_random), fraction, perturbed connections,
/// accuracy mean and std), `perturb.json`, `summary.json`, and one figure per target. The
/// near-VIP rule comes from `opts.classes` (defaults `π ≤ 1e-3, Ξ < 1e-3`).
///
/// Summary: `baseline` accuracy, `near_vip_rule`, and per target the VIP and near-VIP
/// counts and the accuracy with every VIP removed (`vip_removed`), as many random
/// connections removed (`random_removed`), every UIP reconnected (`uip_reconnected`), every
/// near-VIP removed (`near_vip_removed`) and as many random ones (`near_random_removed`), and
/// the `|μ|`-matched controls (`magnitude_removed`, `near_magnitude_removed`), each `{mean,
/// std (sample), ci95, n}`; `vip_rule` (the rule with its source).
pub fn run(runs: &[RunData<FeedForward>], _work: &Path, opts: &AnalysisOptions) -> Result<AnalysisResult> {
    let limit = if opts.quick { QUICK_TEST_LIMIT } else { 0 };
    let mut per_seed = Vec::new();
    // Run `ri` uses the seed `derive_seed(opts.seed, [ri])`; `ps` records the analysis seed.
    let ps = PerturbSettings {
        vip: opts.thresholds("ff")?,
        near: opts.ff_near()?,
        ..PerturbSettings::standard(opts.quick, opts.seed)
    };
    let mut examples = 0;
    for (ri, r) in runs.iter().enumerate() {
        let test = r.test_set(opts, limit)?;
        examples = test.count;
        let s = PerturbSettings {
            chunks: r.cfg.train.chunks,
            seed: derive_seed(opts.seed, &[ri as u64]),
            ..ps.clone()
        };
        per_seed.push(perturbation(&r.net, &test, &s)?);
    }
    let stats = aggregate(&per_seed);
    let nl = runs.first().map_or(0, |r| r.net.layers.len());
    let names: Vec<String> = targets(nl, true).into_iter().map(|t| t.0).collect();
    let tcol = |t: &str| {
        if t == "all" {
            -1.0
        } else {
            t[1..].parse::<f64>().unwrap_or(f64::NAN)
        }
    };
    let rows: Vec<Vec<f64>> = stats
        .iter()
        .map(|p| {
            vec![
                tcol(&p.target),
                CLASSES.iter().position(|c| *c == p.class).unwrap_or(0) as f64,
                p.fraction,
                p.perturbed,
                p.accuracy,
                p.accuracy_std,
                p.accuracy_ci95,
                p.n as f64,
            ]
        })
        .collect();
    let files = vec![
        csv(
            "perturb.csv",
            &[
                "target",
                "class",
                "fraction",
                "perturbed",
                "accuracy",
                "accuracy_std",
                "accuracy_ci95",
                "n",
            ],
            &rows,
        )?,
        json_data("perturb.json", &stats)?,
    ];
    let who = describe_runs(runs, "");
    let reps = ps.repeats * runs.len();
    let mut figures = Vec::new();
    for t in &names {
        let lines: Vec<Series> = [
            ("vip", "VIP removed"),
            ("random", "random removed (as many as VIP)"),
            ("uip", "UIP reconnected, w ~ N(0, σ²)"),
            ("near_vip", "near-VIP removed"),
            ("near_random", "random removed (as many as near-VIP)"),
            ("vip_magnitude", "random removed, |μ|-matched to VIP"),
            ("near_magnitude", "random removed, |μ|-matched to near-VIP"),
        ]
        .iter()
        .filter_map(|&(c, label)| {
            let pts: Vec<&PerturbStat> = stats.iter().filter(|p| &p.target == t && p.class == c).collect();
            if pts.is_empty() {
                return None;
            }
            Some(Series {
                label: label.into(),
                x: pts.iter().map(|p| p.fraction).collect(),
                y: pts.iter().map(|p| p.accuracy).collect(),
                band: pts.iter().all(|p| p.accuracy_ci95.is_finite()).then(|| {
                    (
                        pts.iter().map(|p| p.accuracy - p.accuracy_ci95).collect(),
                        pts.iter().map(|p| p.accuracy + p.accuracy_ci95).collect(),
                    )
                }),
                markers: true,
            })
        })
        .collect();
        if lines.is_empty() {
            continue;
        }
        let which = if t == "all" {
            "every layer at once".to_string()
        } else {
            format!("layer {t} only")
        };
        figures.push(Figure {
            name: format!("perturb-{t}"),
            title: format!("Perturbing connections in {which}"),
            x_label: "fraction p of the class perturbed".into(),
            y_label: "test accuracy (mean-field)".into(),
            log_y: false,
            caption: format!(
                "Mean-field test accuracy ({examples} test images) after removing (π = 1) a \
                 fraction p of the VIP connections, or as many random connections — uniform over \
                 the layer, or |μ|-matched (each removed VIP connection paired with a non-VIP \
                 connection of the same of {bins} equal-count |μ| quantile bins of its layer, \
                 μ = (1−π)m) — or reconnecting a fraction p of the UIP connections with \
                 deterministic weights w ~ N(0, σ²), σ = {}, in {which} (removing UIP connections \
                 is the identity: they are absent already). {}; UIP π = 1; second, separate set \
                 {} (VIP up to the third decimal), with its own uniform and |μ|-matched \
                 controls. Mean and 95 % t-interval over seeds, each seed's accuracy first \
                 averaged over its repeats (n = {} seed(s) × {} repeats = {reps} evaluations; \
                 one seed: no interval); {who}.",
                ps.uip_std,
                ps.vip.label(),
                ps.near.label().replacen("VIP", "near-VIP", 1),
                runs.len(),
                ps.repeats,
                bins = crate::analysis::perturb::MAGNITUDE_BINS,
            ),
            plot: Plot::Lines(lines),
        });
    }

    let at = |t: &str, c: &str, p: f64| {
        stats
            .iter()
            .find(|q| q.target == t && q.class == c && q.fraction == p)
            .map(|q| MeanCi {
                mean: q.accuracy,
                std: q.accuracy_std,
                ci95: q.accuracy_ci95,
                n: q.n,
            })
    };
    let mut tsum = Vec::new();
    for t in &names {
        let count = |c: &str| {
            stats
                .iter()
                .find(|q| &q.target == t && q.class == c && q.fraction == 1.0)
                .map_or(f64::NAN, |q| q.perturbed)
        };
        tsum.push(TargetSummary {
            target: t.clone(),
            vip_count: count("vip"),
            vip_removed: at(t, "vip", 1.0),
            random_removed: at(t, "random", 1.0),
            magnitude_removed: at(t, "vip_magnitude", 1.0),
            uip_reconnected: at(t, "uip", 1.0),
            near_vip_count: count("near_vip"),
            near_vip_removed: at(t, "near_vip", 1.0),
            near_random_removed: at(t, "near_random", 1.0),
            near_magnitude_removed: at(t, "near_magnitude", 1.0),
            vip_drop_minus_random: drop_minus(&per_seed, t, "vip", "random"),
            vip_drop_minus_magnitude: drop_minus(&per_seed, t, "vip", "vip_magnitude"),
            near_vip_drop_minus_random: drop_minus(&per_seed, t, "near_vip", "near_random"),
            near_vip_drop_minus_magnitude: drop_minus(&per_seed, t, "near_vip", "near_magnitude"),
        });
    }
    let summary = Summary {
        seeds: runs.len(),
        test_images: examples,
        baseline: at("all", "vip", 0.0),
        targets: tsum,
        vip_rule: ps.vip.label(),
        near_vip_rule: ps.near.vip_rule(),
        near_vip_label: ps.near.label(),
        settings: ps,
    };
    Ok(AnalysisResult::with(
        NAME,
        TITLE,
        files,
        figures,
        crate::analysis::Summary::FfPerturb(summary),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsets_are_nested_and_seeded() {
        let c: Vec<usize> = (10..30).collect();
        let a = choose_first(&c, 5, 7);
        let b = choose_first(&c, 9, 7);
        assert_eq!(&b[..5], &a[..]);
        assert_eq!(a, choose_first(&c, 5, 7));
        assert_ne!(a, choose_first(&c, 5, 8));
        assert_eq!(choose_first(&c, 50, 1).len(), 20);
    }

    #[test]
    fn points_and_drops_are_over_seeds_after_averaging_repeats() {
        // Two seeds × two repeats. VIP removed: 0.2, 0.4 (mean 0.3) | 0.5, 0.5 (0.5); random:
        // 0.9, 0.9 | 0.8, 1.0 (0.9 both). Points over n = 2 seeds: VIP 0.4 ± 12.7062 · √0.02 /
        // √2; extra drops 0.6 and 0.4: mean 0.5, s = √0.02.
        let pt = |class: &str, accs: [f64; 2]| PerturbPoint {
            target: "all".into(),
            class: class.into(),
            fraction: 1.0,
            perturbed: 10,
            accuracies: accs.to_vec(),
        };
        let per_seed = vec![
            vec![pt("vip", [0.2, 0.4]), pt("random", [0.9, 0.9])],
            vec![pt("vip", [0.5, 0.5]), pt("random", [0.8, 1.0])],
        ];
        let a = aggregate(&per_seed);
        assert_eq!(a[0].n, 2, "seeds, not seeds × repeats");
        assert!((a[0].accuracy - 0.4).abs() < 1e-12);
        let half = 12.7062 * 0.02f64.sqrt() / 2f64.sqrt();
        assert!((a[0].accuracy_ci95 - half).abs() < 1e-9, "{}", a[0].accuracy_ci95);
        let d = drop_minus(&per_seed, "all", "vip", "random").unwrap();
        assert_eq!(d.n, 2);
        assert!((d.values[0] - 0.6).abs() < 1e-12 && (d.values[1] - 0.4).abs() < 1e-12);
        assert!((d.mean - 0.5).abs() < 1e-12 && (d.ci95 - half).abs() < 1e-9);
        assert!(drop_minus(&per_seed, "all", "vip", "uip").is_none());
    }

    #[test]
    fn reconnect_makes_deterministic_weights() {
        let mut l = SasLayer::<f32>::zeros(1, 3);
        l.pi = vec![1.0, 1.0, 0.5];
        l.xi = vec![0.3, 0.3, 0.3];
        reconnect(&mut l, &[0, 1], 2.0, 9);
        assert_eq!(&l.pi[..2], &[0.0, 0.0]);
        assert_eq!(&l.xi[..2], &[0.0, 0.0]);
        assert!(l.m[0] != 0.0 && l.m[0] != l.m[1]);
        assert_eq!((l.pi[2], l.xi[2], l.m[2]), (0.5, 0.3, 0.0));
        remove(&mut l, &[2]);
        assert_eq!(l.pi[2], 1.0);
    }
}
