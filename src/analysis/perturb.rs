//! Targeted perturbation (docs/MODEL.md §5.6, paper Figs. 7 and 17): how much of the accuracy rests on
//! the few very important (VIP) connections?
//!
//! For the recurrent layer and, separately, the readout, a fraction `p` of the layer's VIP
//! connections is **removed** — `π` set to 1, i.e. the connection is certainly absent
//! (`μ = v = 0`; `m` and `Ξ` are kept but no longer matter) — and the trained ensemble is
//! evaluated in mean-field mode. Every targeted removal is set against three **controls** that
//! remove the same number of connections at every `p` ([`CONTROLS`], [`control_orders`]):
//!
//! - `uniform` — drawn uniformly from the layer's whole population: every connection that is
//!   not structurally masked (the recurrent and readout layers have no structural mask, so all
//!   `N²` resp. `K·N` entries, the recurrent diagonal, VIP connections and connections that
//!   training already drove to `π = 1` included; the paper's "random weights from the entire
//!   population").
//! - `magnitude` — matched on `|μ|`, `μ = (1−π)m`: the layer's non-masked connections are
//!   ranked by `|μ|` (ties by index) and cut into [`MAGNITUDE_BINS`] equal-count quantile bins;
//!   the `k`-th VIP connection of the repeat's random VIP order is paired with a non-VIP
//!   connection drawn uniformly, without replacement, from the same bin. When a bin has no
//!   non-VIP connection left, the draw comes from the nearest bin that has (the lower one on
//!   a tie) and is counted as a *spill* (reported in `perturb.json` and the caption).
//! - `diagonal` (square recurrent layer only) — matched on the diagonal / off-diagonal split:
//!   the `k`-th VIP connection is paired with a non-VIP connection drawn uniformly, without
//!   replacement, from the same part (self-connections `i → i` or the rest), so at every `p`
//!   the control removes exactly as many self-connections as the VIP removal (spills, when a
//!   part runs out, as above).
//!
//! The matched controls never draw a VIP or a masked connection. Draws are truly random
//! ([`choose`]: a seeded partial Fisher–Yates shuffle). Within one repeat the removed sets are
//! **nested** across `p`: the VIP removal at `p` is the first `round(p·n)` entries of one
//! random VIP order, each control the first `round(p·n)` entries of its own order (for the
//! matched controls, the partners of those VIP entries); repeats use independent orders. The
//! mean-field noise of every evaluation of a run uses the same seed (common random numbers),
//! so differences between points come from the removed connections, not from the noise.
//!
//! Two VIP sets are perturbed, each against its own controls: the set of the task's rule (or
//! the user's, [`AnalysisOptions::thresholds`]: MNIST the exact rule `π = 0, Ξ = 0, m ≠ 0`,
//! MSI and user tasks the Fig. 17 caption's relaxed rule `π < 0.1, |m| > 0.05`; see
//! [`super::weights`] for the rules and their sources) and, where that rule is not the exact
//! one, the **exact** set — the connections whose distribution collapsed onto one nonzero
//! value, the paper's "π = 0 and m ≠ 0". `classes` and `perturb` use the same classifier, so
//! they always count the same connections. The VIP set's self-connections are counted and
//! reported (`n_<set>_self`).
//!
//! **Over seeds.** The training seed is the unit of replication: each seed's accuracies are
//! first averaged over its repeats, and every mean and 95 % t-interval is over those per-seed
//! values (`n` = seeds). The extra accuracy drop of a targeted removal over a control,
//! `(acc₀ − acc_VIP) − (acc₀ − acc_control) = acc_control − acc_VIP`, is a paired difference
//! per seed (same network, same noise, same count removed; repeats averaged first)
//! summarized over seeds ([`Stat::paired`], summary keys `<set>_drop_minus_<control>_p<p>`).
//!
//! Outputs (in `out`): `perturb_rec.csv`, `perturb_out.csv` (per fraction: mean, sample std and
//! 95 % t-interval over seeds of the accuracy after the VIP removal and after each control,
//! `<set>_…` and `<set>_<control>_…` columns, and `n` = seeds), `perturb_raw.csv` (every
//! evaluation), `perturb.json` (settings, per-run VIP counts, self-connections and spills),
//! `summary.json`.

use super::weights::{band_series, self_connections};
use super::{AnalysisOptions, RunData};
use crate::analysis::AnalysisResult;
use crate::analysis::result::Stat;
use crate::data::source::TaskData;
use crate::error::Result;
use crate::infer::{Mode, evaluate};
use crate::net::SasNet;
use crate::output::figure::{Figure, Plot};
use crate::output::{csv, json_data};
use crate::rng::{derive_seed, splitmix64};
use crate::sas::SasLayer;
use crate::sas::classes::{Thresholds, VipRule};
use crate::stats::{SeedStats, SeriesBand, mean_over_repeats};
use serde_json::json;
use std::path::Path;

/// Name of the analysis (command line, output folder).
pub const NAME: &str = "perturb";

/// Section title of the analysis in reports.
const TITLE: &str = "Targeted perturbation of VIP connections";

/// The perturbed layers, by name (`rec` = recurrent `N × N`, `out` = readout `K × N`).
pub const LAYERS: [&str; 2] = ["rec", "out"];

/// The controls of every targeted removal (module docs); `diagonal` only for square layers.
pub const CONTROLS: [&str; 3] = ["uniform", "magnitude", "diagonal"];

/// Equal-count `|μ|` quantile bins of the `magnitude` control.
pub const MAGNITUDE_BINS: usize = 10;

/// Stream keys of this analysis' draws (see [`derive_seed`]).
const KEY_EVAL: u64 = 0x5045_0001;
const KEY_VIP: u64 = 0x5045_0002;
const KEY_RANDOM: u64 = 0x5045_0003;
const KEY_DET: u64 = 0x5045_0004;
const KEY_MAGNITUDE: u64 = 0x5045_0005;
const KEY_DIAGONAL: u64 = 0x5045_0006;

/// One control's accuracy curves, `(name, acc[run·repeat][p])`.
type Curves = (&'static str, Vec<Vec<f64>>);

/// One set of candidate VIP connections of the experiment.
struct VipSet {
    /// Column prefix in the outputs.
    key: &'static str,
    /// Name in legends.
    short: &'static str,
    /// The classification.
    rule: Thresholds,
}

/// Fractions `p` of the VIP connections removed: `0, 0.1, …, 1` (quick: `0, 0.25, …, 1`).
pub fn fractions(quick: bool) -> Vec<f64> {
    if quick {
        (0..=4).map(|i| i as f64 / 4.0).collect()
    } else {
        (0..=10).map(|i| i as f64 / 10.0).collect()
    }
}

/// Repeats (independent random draws) per fraction: 5 (quick: 2).
pub fn repeats(quick: bool) -> usize {
    if quick { 2 } else { 5 }
}

/// Test set per evaluation: `(limit, trials_per_condition)` — MNIST and user tasks the first
/// 1000 test trials (quick 200); MSI the test protocol with 10 trials per condition, 240
/// trials (quick 4 per condition, 96 trials).
pub(crate) fn test_size(quick: bool) -> (usize, usize) {
    if quick { (200, 4) } else { (1000, 10) }
}

/// `k` distinct indices drawn uniformly from `0..n_candidates` (every `k`-subset equally
/// likely, returned in draw order): a partial Fisher–Yates shuffle driven by
/// [`splitmix64`] seeded with `seed`. `k` is clamped to `n_candidates`.
///
/// The first `j` entries of `choose(n, k, s)` equal `choose(n, j, s)` for `j ≤ k`, so one call
/// with `k = n` gives a random order whose prefixes are nested random subsets.
pub(crate) fn choose(n_candidates: usize, k: usize, seed: u64) -> Vec<usize> {
    let k = k.min(n_candidates);
    let mut idx: Vec<usize> = (0..n_candidates).collect();
    let mut s = seed;
    for i in 0..k {
        let j = i + uniform_below(&mut s, n_candidates - i);
        idx.swap(i, j);
    }
    idx.truncate(k);
    idx
}

/// A uniform integer in `0..n` (`n ≥ 1`) by Lemire's multiply-shift (bias < `n / 2⁶⁴`).
fn uniform_below(state: &mut u64, n: usize) -> usize {
    ((u128::from(splitmix64(state)) * n as u128) >> 64) as usize
}

/// Stratified matched draw: for each target in order (its stratum `strata[k]`), one entry of
/// `pools[strata[k]]` drawn uniformly without replacement (each pool in a seeded random order,
/// stream `derive_seed(seed, [stratum])`). When the target's pool is used up, the next entry of
/// the nearest pool that has any left (lower index first on a tie), counted as a spill.
/// Returns `(draws, spills)`; fewer draws than targets only when every pool is used up.
pub(crate) fn matched_draw(strata: &[usize], pools: &[Vec<usize>], seed: u64) -> (Vec<usize>, usize) {
    let orders: Vec<Vec<usize>> = pools
        .iter()
        .enumerate()
        .map(|(s, p)| {
            choose(p.len(), p.len(), derive_seed(seed, &[s as u64]))
                .into_iter()
                .map(|j| p[j])
                .collect()
        })
        .collect();
    let mut next = vec![0usize; pools.len()];
    let (mut out, mut spills) = (Vec::with_capacity(strata.len()), 0);
    for &s in strata {
        let left = |b: usize| next[b] < orders[b].len();
        let b = if s < pools.len() && left(s) {
            Some(s)
        } else {
            (1..pools.len())
                .flat_map(|d| [s.checked_sub(d), Some(s + d)])
                .flatten()
                .find(|&b| b < pools.len() && left(b))
        };
        let Some(b) = b else { break };
        if b != s {
            spills += 1;
        }
        out.push(orders[b][next[b]]);
        next[b] += 1;
    }
    (out, spills)
}

/// The `|μ|` quantile bin of each of `candidates` (parallel to it): the candidates ranked by
/// `|μ|`, `μ = (1−π)m`, ties by index, rank `r` of `n` in bin `⌊r · bins / n⌋`.
pub(crate) fn magnitude_bins(l: &SasLayer<f32>, candidates: &[usize], bins: usize) -> Vec<usize> {
    let mut mu = vec![0f32; l.m.len()];
    l.mean_into(&mut mu);
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    order.sort_by(|&a, &b| {
        mu[candidates[a]]
            .abs()
            .total_cmp(&mu[candidates[b]].abs())
            .then(candidates[a].cmp(&candidates[b]))
    });
    let n = candidates.len().max(1);
    let mut bin = vec![0usize; candidates.len()];
    for (r, &i) in order.iter().enumerate() {
        bin[i] = r * bins / n;
    }
    bin
}

/// One control's removal order in a repeat: the removed set at count `c` is `order[..c]`.
pub struct ControlOrder {
    /// The control ([`CONTROLS`]).
    pub name: &'static str,
    /// Row-major indices, in removal order.
    pub order: Vec<usize>,
    /// Draws that fell back to another stratum ([`matched_draw`]; 0 for `uniform`).
    pub spills: usize,
}

/// The control orders of one repeat for the VIP connections `vip_order` (in the repeat's
/// removal order) of `l` (`mask`: structurally allowed entries), seeds `[uniform, magnitude,
/// diagonal]` (see the module docs). `diagonal` only when `diagonal` is set and `l` is square
/// (a recurrent layer; a square feed-forward layer has no self-connections).
pub(crate) fn control_orders(
    l: &SasLayer<f32>,
    mask: Option<&[bool]>,
    vip_order: &[usize],
    seeds: [u64; 3],
    diagonal: bool,
) -> Vec<ControlOrder> {
    let candidates: Vec<usize> = (0..l.m.len()).filter(|&i| mask.is_none_or(|m| m[i])).collect();
    let mut is_vip = vec![false; l.m.len()];
    vip_order.iter().for_each(|&k| is_vip[k] = true);
    let n_vip = vip_order.len();
    let uniform: Vec<usize> = choose(candidates.len(), n_vip, seeds[0])
        .into_iter()
        .map(|j| candidates[j])
        .collect();
    let mut out = vec![ControlOrder {
        name: CONTROLS[0],
        order: uniform,
        spills: 0,
    }];
    // |μ| bins over all candidates; pools and target strata per bin.
    let bins = magnitude_bins(l, &candidates, MAGNITUDE_BINS);
    let mut bin_of = vec![usize::MAX; l.m.len()];
    let mut pools = vec![Vec::new(); MAGNITUDE_BINS];
    for (&k, &b) in candidates.iter().zip(&bins) {
        bin_of[k] = b;
        if !is_vip[k] {
            pools[b].push(k);
        }
    }
    let strata: Vec<usize> = vip_order.iter().map(|&k| bin_of[k]).collect();
    let (order, spills) = matched_draw(&strata, &pools, seeds[1]);
    out.push(ControlOrder {
        name: CONTROLS[1],
        order,
        spills,
    });
    if diagonal && l.rows == l.cols {
        let diag = |k: usize| k / l.cols == k % l.cols;
        let mut pools = vec![Vec::new(), Vec::new()];
        for &k in candidates.iter().filter(|&&k| !is_vip[k]) {
            pools[usize::from(!diag(k))].push(k);
        }
        let strata: Vec<usize> = vip_order.iter().map(|&k| usize::from(!diag(k))).collect();
        let (order, spills) = matched_draw(&strata, &pools, seeds[2]);
        out.push(ControlOrder {
            name: CONTROLS[2],
            order,
            spills,
        });
    }
    out
}

/// Removes the connections `idx` (row-major indices) of `l`: `π = 1`, so `μ = v = 0`.
pub fn remove(l: &mut SasLayer<f32>, idx: &[usize]) {
    for &i in idx {
        l.pi[i] = 1.0;
    }
}

/// Number of connections removed at fraction `p` of `n_vip` VIP connections: `round(p · n_vip)`.
pub(crate) fn removed_count(p: f64, n_vip: usize) -> usize {
    ((p * n_vip as f64).round() as usize).min(n_vip)
}

fn layer_mut<'a>(net: &'a mut SasNet<f32>, name: &str) -> &'a mut SasLayer<f32> {
    match name {
        "rec" => &mut net.rec,
        _ => &mut net.out,
    }
}

/// Accuracies of one run and layer: `vip[rep][p]` and `controls[c] = (name, acc[rep][p],
/// spills summed over repeats)`, plus `n_vip`, its self-connections and the number of candidate
/// connections.
struct LayerResult {
    vip: Vec<Vec<f64>>,
    controls: Vec<(&'static str, Vec<Vec<f64>>, usize)>,
    removed: Vec<usize>,
    n_vip: usize,
    n_self: Option<usize>,
    n_candidates: usize,
}

/// Runs the perturbation experiment on one network.
///
/// `acc` evaluates a network (fraction correct). Returns one [`LayerResult`] per entry of
/// [`LAYERS`]. `masks` are the structural masks `[in, rec, out]`.
#[allow(clippy::too_many_arguments)]
fn perturb_network(
    net: &SasNet<f32>,
    rule: &Thresholds,
    masks: &[Option<Vec<bool>>; 3],
    fracs: &[f64],
    reps: usize,
    seed: u64,
    baseline: f64,
    acc: &dyn Fn(&SasNet<f32>) -> Result<f64>,
) -> Result<Vec<LayerResult>> {
    let mut results = Vec::new();
    for (li, &name) in LAYERS.iter().enumerate() {
        let mask = masks[li + 1].as_deref();
        let layer = match name {
            "rec" => &net.rec,
            _ => &net.out,
        };
        let vip = rule.vip_indices(layer, mask);
        let n_vip = vip.len();
        let removed: Vec<usize> = fracs.iter().map(|&p| removed_count(p, n_vip)).collect();
        let mut res = LayerResult {
            vip: Vec::new(),
            controls: Vec::new(),
            removed: removed.clone(),
            n_vip,
            n_self: (layer.rows == layer.cols).then(|| self_connections(&vip, layer.cols)),
            n_candidates: (0..layer.m.len()).filter(|&i| mask.is_none_or(|m| m[i])).count(),
        };
        // Accuracy after removing each prefix `order[..c]` (the baseline for c = 0).
        let curve = |order: &[usize]| -> Result<Vec<f64>> {
            removed
                .iter()
                .map(|&c| {
                    if c == 0 {
                        return Ok(baseline);
                    }
                    let mut n = net.clone();
                    remove(layer_mut(&mut n, name), &order[..c.min(order.len())]);
                    acc(&n)
                })
                .collect()
        };
        for rep in 0..reps {
            let key = |k: u64| derive_seed(seed, &[k, li as u64, rep as u64]);
            let vip_order: Vec<usize> = choose(n_vip, n_vip, key(KEY_VIP))
                .into_iter()
                .map(|j| vip[j])
                .collect();
            res.vip.push(curve(&vip_order)?);
            let ctl = control_orders(
                layer,
                mask,
                &vip_order,
                [key(KEY_RANDOM), key(KEY_MAGNITUDE), key(KEY_DIAGONAL)],
                name == "rec",
            );
            for (ci, c) in ctl.into_iter().enumerate() {
                let a = curve(&c.order)?;
                if res.controls.len() <= ci {
                    res.controls.push((c.name, Vec::new(), 0));
                }
                res.controls[ci].1.push(a);
                res.controls[ci].2 += c.spills;
            }
        }
        results.push(res);
    }
    Ok(results)
}

fn layer_title(name: &str) -> &'static str {
    if name == "rec" {
        "recurrent layer"
    } else {
        "readout"
    }
}

/// Legend and caption text of a control.
fn control_label(name: &str) -> &'static str {
    match name {
        "uniform" => "uniform random",
        "magnitude" => "random, |μ|-matched",
        _ => "random, diagonal-matched",
    }
}

/// Runs the analysis on the runs (seeds) of one configuration; see the module docs.
pub fn run(runs: &[RunData], _work: &Path, opts: &AnalysisOptions) -> Result<AnalysisResult> {
    super::start(runs, NAME)?;
    let fracs = fractions(opts.quick);
    let reps = repeats(opts.quick);
    let (limit, tpc) = test_size(opts.quick);
    let rule = opts.thresholds(runs[0].cfg.task.kind.as_str())?;
    // The VIP sets: the rule's, and (unless it is the exact rule) the exact one, each against
    // its own controls of the same size.
    let mut sets = vec![VipSet {
        key: "vip",
        short: "VIP",
        rule,
    }];
    let exact = Thresholds {
        uip_pi: rule.uip_pi,
        ..Thresholds::named(VipRule::Exact)
    };
    if exact != rule {
        sets.push(VipSet {
            key: "exact",
            short: "exact VIP",
            rule: exact,
        });
    }

    // One curve per run (seed), the mean over its repeats: vip[set][layer][run] = [p];
    // ctl[set][layer][control] = (name, [run][p]).
    let mut vip_series: Vec<Vec<Vec<Vec<f64>>>> = vec![vec![Vec::new(); LAYERS.len()]; sets.len()];
    let mut ctl_series: Vec<Vec<Vec<Curves>>> = vec![vec![Vec::new(); LAYERS.len()]; sets.len()];
    let mut n_vip: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); LAYERS.len()]; sets.len()];
    let mut n_self: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); LAYERS.len()]; sets.len()];
    let mut spills: Vec<Vec<Vec<(&'static str, usize)>>> = vec![vec![Vec::new(); LAYERS.len()]; sets.len()];
    let mut baselines = Vec::new();
    let mut n_cand = [0usize; 2];
    let mut raw = Vec::new();
    let mut trials = 0usize;
    let mut per_run = Vec::new();
    for (ri, run) in runs.iter().enumerate() {
        let cfg = &run.cfg;
        let task = TaskData::load(cfg, opts.data_dir.as_deref())?;
        let test = task.test_set(cfg, cfg.eval.batch, limit, tpc);
        let eval_seed = derive_seed(opts.seed, &[KEY_EVAL, ri as u64]);
        let acc = |n: &SasNet<f32>| -> Result<f64> {
            evaluate(n, cfg, task.kind(), &test, Mode::MeanField, 1, eval_seed).map(|r| r.accuracy)
        };
        let base = evaluate(&run.net, cfg, task.kind(), &test, Mode::MeanField, 1, eval_seed)?;
        trials = base.trials;
        baselines.push(base.accuracy);
        let masks = crate::train::init::masks(cfg, run.net.dims());
        let mut run_json = serde_json::Map::new();
        for (si, set) in sets.iter().enumerate() {
            // The first set keeps the seed path of earlier versions (same draws).
            let seed = if si == 0 {
                derive_seed(opts.seed, &[ri as u64])
            } else {
                derive_seed(opts.seed, &[KEY_DET, ri as u64])
            };
            let res = perturb_network(
                &run.net,
                &set.rule,
                &masks,
                &fracs,
                reps,
                seed,
                base.accuracy,
                &acc,
            )?;
            let mut set_json = serde_json::Map::new();
            for (li, r) in res.into_iter().enumerate() {
                for rep in 0..reps {
                    for (pi, &p) in fracs.iter().enumerate() {
                        let mut row = vec![
                            ri as f64,
                            si as f64,
                            li as f64,
                            rep as f64,
                            p,
                            r.removed[pi] as f64,
                            r.vip[rep][pi],
                        ];
                        row.extend(
                            (0..CONTROLS.len()).map(|c| r.controls.get(c).map_or(f64::NAN, |c| c.1[rep][pi])),
                        );
                        raw.push(row);
                    }
                }
                let sp: serde_json::Map<String, serde_json::Value> =
                    r.controls.iter().map(|c| (c.0.to_string(), json!(c.2))).collect();
                set_json.insert(
                    LAYERS[li].into(),
                    json!({
                        "n_vip": r.n_vip,
                        "n_self": r.n_self,
                        "n_candidates": r.n_candidates,
                        "removed": r.removed,
                        "spills": sp,
                    }),
                );
                n_vip[si][li].push(r.n_vip as f64);
                n_self[si][li].push(r.n_self.map_or(f64::NAN, |s| s as f64));
                n_cand[li] = r.n_candidates;
                vip_series[si][li].push(mean_over_repeats(&r.vip));
                for (ci, (name, a, s)) in r.controls.into_iter().enumerate() {
                    if ctl_series[si][li].len() <= ci {
                        ctl_series[si][li].push((name, Vec::new()));
                        spills[si][li].push((name, 0));
                    }
                    ctl_series[si][li][ci].1.push(mean_over_repeats(&a));
                    spills[si][li][ci].1 += s;
                }
            }
            run_json.insert(set.key.into(), serde_json::Value::Object(set_json));
        }
        run_json.insert("run".into(), json!(run.dir.display().to_string()));
        run_json.insert("accuracy_intact".into(), json!(base.accuracy));
        per_run.push(serde_json::Value::Object(run_json));
    }

    let mut files = Vec::new();
    let mut figures = Vec::new();
    let mut summary = serde_json::Map::new();
    let base = SeedStats::of(&baselines);
    let seeds = runs.len();
    let n_eval = seeds * reps;
    let at = |v: &[f64], p: f64| {
        fracs
            .iter()
            .position(|&f| (f - p).abs() < 1e-9)
            .map_or(f64::NAN, |i| v[i])
    };
    for (li, &name) in LAYERS.iter().enumerate() {
        let mut header: Vec<String> = vec!["p".into()];
        let mut cols: Vec<Vec<f64>> = Vec::new();
        let mut layer_summary = serde_json::Map::new();
        layer_summary.insert("n_connections".into(), json!(n_cand[li]));
        for (si, set) in sets.iter().enumerate() {
            let kv = set.key;
            let mut curves = vec![(kv.to_string(), SeriesBand::of(&vip_series[si][li]))];
            for (c, s) in &ctl_series[si][li] {
                curves.push((format!("{kv}_{c}"), SeriesBand::of(s)));
                // The extra drop of the targeted removal over this control, paired per seed.
                for p in [0.5, 1.0] {
                    if let Some(d) = drop_minus_control(&vip_series[si][li], s, &fracs, p) {
                        layer_summary.insert(format!("{kv}_drop_minus_{c}_p{p}"), json!(d));
                    }
                }
            }
            for (k, b) in &curves {
                for (suffix, v) in [("mean", &b.mean), ("sd", &b.sd), ("lo95", &b.lo), ("hi95", &b.hi)] {
                    header.push(format!("{k}_acc_{suffix}"));
                    cols.push(v.clone());
                }
                for p in [0.5, 1.0] {
                    let key = format!("{k}_p{p}");
                    // The interval's half-width; undefined (null) below two seeds.
                    let half: Vec<f64> = (0..fracs.len())
                        .map(|i| {
                            if b.n[i] >= 2 {
                                b.hi[i] - b.mean[i]
                            } else {
                                f64::NAN
                            }
                        })
                        .collect();
                    layer_summary.insert(key.clone(), json!(at(&b.mean, p)));
                    layer_summary.insert(format!("{key}_ci95"), json!(at(&half, p)));
                }
            }
            let nv = SeedStats::of(&n_vip[si][li]);
            let ns = SeedStats::of(&n_self[si][li]);
            layer_summary.insert(format!("n_{kv}"), json!(nv.mean));
            layer_summary.insert(
                format!("{kv}_fraction"),
                json!(nv.mean / n_cand[li].max(1) as f64),
            );
            if ns.n > 0 {
                layer_summary.insert(format!("n_{kv}_self"), json!(ns.mean));
            }
            layer_summary.insert(format!("{kv}_rule"), json!(set.rule.label()));
            let sp: serde_json::Map<String, serde_json::Value> = spills[si][li]
                .iter()
                .map(|(c, s)| (c.to_string(), json!(s)))
                .collect();
            layer_summary.insert(format!("{kv}_spills"), serde_json::Value::Object(sp));

            let mut series = vec![band_series(
                &format!("{}, n = {:.0}", set.short, nv.mean),
                fracs.clone(),
                &curves[0].1,
            )];
            for ((c, _), (_, b)) in ctl_series[si][li].iter().zip(&curves[1..]) {
                series.push(band_series(control_label(c), fracs.clone(), b));
            }
            let self_note = if ns.n > 0 {
                format!(", {:.1} of them self-connections (i → i)", ns.mean)
            } else {
                String::new()
            };
            let spill_note: Vec<String> = spills[si][li]
                .iter()
                .filter(|(_, s)| *s > 0)
                .map(|(c, s)| format!("{c} {s}"))
                .collect();
            let spill_note = if spill_note.is_empty() {
                "every matched draw came from its own stratum".to_string()
            } else {
                format!(
                    "matched draws that fell back to a neighbouring stratum, over all runs and \
                     repeats: {}",
                    spill_note.join(", ")
                )
            };
            let diag = if ctl_series[si][li].len() > 2 {
                "; diagonal-matched: as many self-connections and other connections as the \
                 VIP removal at every p, each drawn uniformly among the non-VIP ones of its part"
            } else {
                ""
            };
            let fig_name = if si == 0 {
                format!("perturb_{name}")
            } else {
                format!("perturb_{name}_{kv}")
            };
            figures.push(Figure {
                name: fig_name,
                title: format!(
                    "Targeted perturbation of the {}: {}",
                    layer_title(name),
                    set.short
                ),
                x_label: "fraction p of the VIP connections removed (π := 1)".into(),
                y_label: "test accuracy, mean-field (fraction correct)".into(),
                log_y: false,
                caption: format!(
                    "Mean-field test accuracy after removing (π := 1) a fraction p of the VIP \
                     connections of the {layer} — {label}; {nv:.1} of {nc} connections on \
                     average{self_note} — versus the same number of connections drawn at random \
                     at every p: uniform — from all {nc} connections of the layer (diagonal and \
                     VIP included, the paper's control); |μ|-matched — each removed VIP connection \
                     paired with a non-VIP connection from the same of {bins} equal-count |μ| \
                     quantile bins of the layer (μ = (1−π)m){diag} ({spill_note}). Mean and \
                     95 % t-interval over seeds, each seed's accuracy first averaged over its \
                     repeats (n = {seeds} seed(s) × {reps} repeats = {n_eval} evaluations; one \
                     seed: no interval); {trials} test trials per evaluation; intact accuracy \
                     {base}.",
                    layer = layer_title(name),
                    label = set.rule.label(),
                    nv = nv.mean,
                    nc = n_cand[li],
                    bins = MAGNITUDE_BINS,
                    base = base.pm(3, 1.0),
                ),
                plot: Plot::Lines(series),
            });
        }
        header.push("n".into());
        let rows: Vec<Vec<f64>> = (0..fracs.len())
            .map(|i| {
                std::iter::once(fracs[i])
                    .chain(cols.iter().map(|c| c[i]))
                    .chain(std::iter::once(seeds as f64))
                    .collect()
            })
            .collect();
        let header_refs: Vec<&str> = header.iter().map(String::as_str).collect();
        files.push(csv(&format!("perturb_{name}.csv"), &header_refs, &rows)?);
        summary.insert(name.into(), serde_json::Value::Object(layer_summary));
    }
    let mut raw_header = vec!["run", "set", "layer", "repeat", "p", "removed", "vip_acc"];
    raw_header.extend(["uniform_acc", "magnitude_acc", "diagonal_acc"]);
    files.push(csv("perturb_raw.csv", &raw_header, &raw)?);
    let set_json: Vec<serde_json::Value> = sets
        .iter()
        .map(|s| json!({"key": s.key, "rule": s.rule, "label": s.rule.label()}))
        .collect();
    files.push(json_data(
        "perturb.json",
        &json!({
            "layers": LAYERS,
            "layer_index": "0 = rec, 1 = out",
            "sets": set_json,
            "set_index": "0 = vip (the task's or the user's rule), 1 = exact (π = 0, Ξ = 0, m ≠ 0), if different",
            "controls": CONTROLS,
            "magnitude_bins": MAGNITUDE_BINS,
            "fractions": fracs,
            "repeats": reps,
            "test_trials": trials,
            "mode": "mean-field",
            "runs": per_run,
        }),
    )?);
    summary.insert("vip_rule".into(), json!(rule.label()));
    summary.insert("thresholds".into(), json!(rule));
    summary.insert("accuracy_intact".into(), json!(base.mean));
    summary.insert("accuracy_intact_stats".into(), json!(base));
    summary.insert("repeats".into(), json!(reps));
    summary.insert("test_trials".into(), json!(trials));
    summary.insert("seeds".into(), json!(seeds));
    summary.insert("n_evaluations".into(), json!(n_eval));
    summary.insert(
        "intervals".into(),
        json!("95 % t-interval over seeds of each seed's mean over its repeats"),
    );
    let summary = serde_json::Value::Object(summary);
    Ok(AnalysisResult::with(NAME, TITLE, files, figures, summary))
}

/// The extra accuracy drop of the targeted removal over a control at fraction `p`,
/// `acc_control − acc_targeted`, paired per seed: `targeted[s]` and `control[s]` are seed `s`'s
/// curves over `fracs`, each already the mean over its repeats. `None` when `p` is not among
/// `fracs`.
pub(crate) fn drop_minus_control(
    targeted: &[Vec<f64>],
    control: &[Vec<f64>],
    fracs: &[f64],
    p: f64,
) -> Option<Stat> {
    let i = fracs.iter().position(|&f| (f - p).abs() < 1e-9)?;
    let at = |c: &[Vec<f64>]| {
        c.iter()
            .map(|v| v.get(i).copied().unwrap_or(f64::NAN))
            .collect::<Vec<_>>()
    };
    Some(Stat::paired(&at(control), &at(targeted)))
}

/// Tiny trained runs shared by the tests of the analysis modules.
#[cfg(test)]
pub(crate) mod testutil {
    use crate::analysis::RunData;

    use crate::data::source::TaskData;
    use crate::train::{TrainOptions, train};
    use std::path::PathBuf;
    use std::sync::OnceLock;

    /// A 12-unit MSI network trained for 3 epochs (coarse test Δt = 20 ms, 90 test steps),
    /// trained once per test process in a temporary directory.
    pub(crate) fn tiny_msi_run() -> RunData {
        static DIR: OnceLock<PathBuf> = OnceLock::new();
        let dir = DIR.get_or_init(|| {
            let d = std::env::temp_dir().join(format!("sasnet-analysis-tiny-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d).unwrap();
            let cfg = crate::config::tests::tiny_msi(3, false);
            let data = TaskData::load(&cfg, None).unwrap();
            train(&cfg, &data, &d, &TrainOptions::default()).unwrap();
            d
        });
        RunData::load(dir).unwrap()
    }

    /// Runs analysis `run` on [`tiny_msi_run`] with the quick settings and seed `seed` into
    /// a fresh folder `dir`; checks the output's name (`name`) and that every file it lists
    /// exists. Returns the output and the folder.
    pub(crate) fn quick_run(
        run: crate::analysis::AnalysisFn,
        name: &str,
        dir: &str,
        seed: u64,
    ) -> (crate::analysis::AnalysisResult, PathBuf) {
        let r = tiny_msi_run();
        let out = out_dir(dir);
        let opts = crate::analysis::AnalysisOptions {
            quick: true,
            seed,
            ..Default::default()
        };
        let o = run(std::slice::from_ref(&r), &out, &opts)
            .unwrap()
            .written(&out)
            .unwrap();
        assert_eq!(o.name, name);
        for f in &o.files {
            assert!(f.exists(), "{}", f.display());
        }
        (o, out)
    }

    /// A fresh output directory for a test.
    pub(crate) fn out_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sasnet-analysis-out-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choose_gives_distinct_indices_in_range() {
        for seed in 0..50 {
            let c = choose(20, 7, seed);
            assert_eq!(c.len(), 7);
            let mut s = c.clone();
            s.sort_unstable();
            s.dedup();
            assert_eq!(s.len(), 7);
            assert!(c.iter().all(|&i| i < 20));
        }
        assert_eq!(choose(5, 9, 1).len(), 5);
        assert!(choose(0, 3, 1).is_empty());
        assert!(choose(10, 0, 1).is_empty());
        // deterministic, and prefixes are nested subsets
        assert_eq!(choose(30, 10, 42), choose(30, 10, 42));
        assert_eq!(&choose(30, 30, 42)[..10], &choose(30, 10, 42)[..]);
    }

    /// Fails for a "first k" (or any biased) implementation: over many seeds every index is
    /// chosen with frequency ≈ k/n, and the chosen set is usually not the prefix.
    #[test]
    fn choose_is_uniform_not_a_prefix() {
        let (n, k, trials) = (10usize, 3usize, 20_000u64);
        let mut freq = vec![0u64; n];
        let mut prefix = 0;
        let mut first_pos = vec![0u64; n];
        for seed in 0..trials {
            let c = choose(n, k, seed);
            for &i in &c {
                freq[i] += 1;
            }
            first_pos[c[0]] += 1;
            let mut s = c.clone();
            s.sort_unstable();
            if s == (0..k).collect::<Vec<_>>() {
                prefix += 1;
            }
        }
        let expect = trials as f64 * k as f64 / n as f64; // 6000, sd ≈ 65
        for (i, &f) in freq.iter().enumerate() {
            assert!(
                (f as f64 - expect).abs() < 5.0 * 65.0,
                "index {i} chosen {f} times, expected ≈ {expect}"
            );
        }
        // P(prefix) = 1 / C(10,3) = 1/120 → ≈ 167 of 20000
        assert!(prefix < 400, "the prefix set came {prefix} times");
        // the first drawn element is uniform too
        for &f in &first_pos {
            assert!((f as f64 - 2000.0).abs() < 5.0 * 43.0, "{first_pos:?}");
        }
    }

    #[test]
    fn vip_rule_and_removal() {
        let l = SasLayer {
            rows: 2,
            cols: 3,
            m: vec![0.5, 0.09, 0.06, -0.5, 0.5, 0.5],
            pi: vec![0.1, 0.0, 0.0, 0.05, 0.5, 0.0],
            xi: vec![0.0, 0.0, 0.0, 0.0, 0.0, 0.2],
        };
        let relaxed = Thresholds::for_task("msi");
        let authors = Thresholds::named(VipRule::Authors);
        let exact = Thresholds::for_task("pixel-mnist");
        // relaxed: π < 0.1 (the stored 0.1 fails), |m| > 0.05, Ξ untested (entry 5 counts)
        assert_eq!(relaxed.vip_indices(&l, None), vec![1, 2, 3, 5]);
        // authors: π ≤ 0.1 (the stored 0.1 passes), |m| > 0.08, Ξ < 0.1
        assert_eq!(authors.vip_indices(&l, None), vec![0, 1, 3]);
        // exact: π = 0 and Ξ = 0 and m ≠ 0
        assert_eq!(exact.vip_indices(&l, None), vec![1, 2]);
        // masked entries never count
        let mask = [true, false, true, true, true, true];
        assert_eq!(authors.vip_indices(&l, Some(&mask)), vec![0, 3]);
        let mut tiny = l.clone();
        tiny.xi[1] = f32::from_bits(1); // the smallest subnormal is not 0
        assert_eq!(exact.vip_indices(&tiny, None), vec![2]);
        // user bounds: |m| > 0.1 drops m = 0.09; π ≤ 0.2 admits the π = 0.1 entry
        let strict = AnalysisOptions {
            classes: crate::analysis::ClassOverrides {
                m_min: Some(0.1),
                pi_max: Some(0.2),
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(
            strict.thresholds("msi").unwrap().vip_indices(&l, None),
            vec![0, 3, 5]
        );
        let bad = AnalysisOptions {
            classes: crate::analysis::ClassOverrides {
                pi_max: Some(1.5),
                ..Default::default()
            },
            ..Default::default()
        };
        assert!(
            bad.thresholds("msi")
                .unwrap_err()
                .to_string()
                .contains("vip-pi-max")
        );
        let mut r = l.clone();
        remove(&mut r, &[0, 5]);
        assert_eq!(r.pi, vec![1.0, 0.0, 0.0, 0.05, 0.5, 1.0]);
        let mut mu = [0f32; 6];
        r.mean_into(&mut mu);
        assert_eq!((mu[0], mu[5]), (0.0, 0.0));
        assert_eq!(removed_count(0.5, 7), 4);
        assert_eq!(removed_count(1.0, 7), 7);
        assert_eq!(removed_count(0.0, 7), 0);
    }

    /// A 20 × 20 layer: VIP = 30 connections (8 of them on the diagonal) less the masked ones,
    /// random `m` everywhere; a mask forbids 10 entries (some of them VIP).
    fn control_fixture() -> (SasLayer<f32>, Vec<bool>, Vec<usize>) {
        let n = 20;
        let mut l = SasLayer::<f32>::zeros(n, n);
        let mut s = 11u64;
        for k in 0..n * n {
            l.m[k] = (splitmix64(&mut s) >> 40) as f32 / (1u64 << 24) as f32;
            l.pi[k] = 0.3;
            l.xi[k] = 0.01;
        }
        let mut vip: Vec<usize> = (0..8).map(|i| i * (n + 1)).collect(); // diagonal
        vip.extend((0..22).map(|j| 3 + j * 17)); // off-diagonal (3 + 17 j is never i·21)
        for &k in &vip {
            l.pi[k] = 0.0;
            l.xi[k] = 0.0;
        }
        let mut mask = vec![true; n * n];
        for k in [1usize, 2, 5, 7, 42, 63, 105, 210, 399, 20] {
            mask[k] = false;
        }
        vip.retain(|&k| mask[k]);
        vip.sort_unstable();
        vip.dedup();
        (l, mask, vip)
    }

    #[test]
    fn matched_controls_by_construction() {
        let (l, mask, vip) = control_fixture();
        let n = l.cols;
        let rule = Thresholds::for_task("pixel-mnist");
        assert_eq!(rule.vip_indices(&l, Some(&mask)), vip);
        // Diagonal VIP entries 0, 21, 84, 126, 147 (42, 63, 105 masked).
        assert_eq!(self_connections(&vip, n), 5);
        for seed in 0..20u64 {
            let order: Vec<usize> = choose(vip.len(), vip.len(), seed)
                .into_iter()
                .map(|j| vip[j])
                .collect();
            let c = control_orders(&l, Some(&mask), &order, [seed, seed + 100, seed + 200], true);
            assert_eq!(c.iter().map(|c| c.name).collect::<Vec<_>>(), CONTROLS);
            for ctl in &c {
                assert_eq!(ctl.order.len(), vip.len(), "{}", ctl.name);
                let mut d = ctl.order.clone();
                d.sort_unstable();
                d.dedup();
                assert_eq!(d.len(), vip.len(), "{}: distinct", ctl.name);
                assert!(ctl.order.iter().all(|&k| mask[k]), "{}: a masked entry", ctl.name);
                if ctl.name != "uniform" {
                    assert!(
                        ctl.order.iter().all(|k| !vip.contains(k)),
                        "{}: a VIP entry",
                        ctl.name
                    );
                    assert_eq!(ctl.spills, 0, "{}", ctl.name);
                }
            }
            // Diagonal: at every prefix exactly as many self-connections as the VIP prefix.
            for k in 0..=vip.len() {
                assert_eq!(
                    self_connections(&c[2].order[..k], n),
                    self_connections(&order[..k], n)
                );
            }
            // Magnitude: each partner in the same |μ| bin as its VIP connection.
            let cand: Vec<usize> = (0..n * n).filter(|&k| mask[k]).collect();
            let bins = magnitude_bins(&l, &cand, MAGNITUDE_BINS);
            let bin = |k: usize| bins[cand.iter().position(|&c| c == k).unwrap()];
            for (v, m) in order.iter().zip(&c[1].order) {
                assert_eq!(bin(*v), bin(*m));
            }
        }
        // Not square or not recurrent: no diagonal control.
        let order = vip.clone();
        assert_eq!(control_orders(&l, Some(&mask), &order, [1, 2, 3], false).len(), 2);
    }

    #[test]
    fn magnitude_control_matches_the_mu_distribution() {
        // VIP = the 40 strongest of 400 connections spread uniformly in |μ|: a matched draw has
        // the VIP |μ| distribution (to within a bin), a uniform draw does not.
        // Every |μ| = v in 0.0025, 0.005, …, 1 once; VIP: v > 0.3 and k divisible by 3 (π = 0,
        // m = v), the rest π = 0.5, m = 2v.
        let n = 20;
        let mut l = SasLayer::<f32>::zeros(n, n);
        for k in 0..n * n {
            let v = ((k * 7919) % 400 + 1) as f32 / 400.0;
            let vip = v > 0.3 && k % 3 == 0;
            (l.pi[k], l.m[k]) = if vip { (0.0, v) } else { (0.5, 2.0 * v) };
        }
        let rule = Thresholds::named(VipRule::Exact);
        let vip = rule.vip_indices(&l, None);
        assert!(vip.len() > 50, "{}", vip.len());
        let mut mu = vec![0f32; n * n];
        l.mean_into(&mut mu);
        let c = control_orders(&l, None, &vip, [5, 6, 7], true);
        let sorted = |idx: &[usize]| {
            let mut v: Vec<f32> = idx.iter().map(|&k| mu[k].abs()).collect();
            v.sort_by(f32::total_cmp);
            v
        };
        let (v, m, u) = (sorted(&vip), sorted(&c[1].order), sorted(&c[0].order));
        let ks = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
        // Deciles of 400 values spaced 1/400: each bin 0.1 wide, with as many partners as VIP.
        assert_eq!(c[1].spills, 0);
        assert!(ks(&v, &m) < 0.1, "matched quantiles differ by {}", ks(&v, &m));
        assert!(ks(&v, &u) > 0.15, "uniform happens to match: {}", ks(&v, &u));
    }

    #[test]
    fn matched_draw_spills_to_the_nearest_stratum() {
        let pools = vec![vec![10, 11], vec![20], vec![30, 31, 32]];
        let (d, spills) = matched_draw(&[1, 1, 1, 0], &pools, 4);
        assert_eq!(d[0], 20);
        // stratum 1 exhausted: the next draws come from 0 (lower on the tie) until it runs out
        assert!(pools[0].contains(&d[1]) && pools[0].contains(&d[2]));
        assert!(pools[2].contains(&d[3]), "{d:?}");
        assert_eq!(spills, 3);
        let (d, _) = matched_draw(&[0; 9], &pools, 4);
        assert_eq!(d.len(), 6, "stops when every pool is used up");
    }

    #[test]
    fn perturbation_removes_the_right_connections() {
        // A fake accuracy: the fraction of the recurrent layer's |μ| mass left, so VIP removal
        // must hurt more than random removal, and p = 0 gives the baseline.
        let mut net = SasNet::<f32>::zeros(crate::engine::Dims { n: 10, i: 1, k: 2 }, [false, true, true]);
        for i in 0..100 {
            net.rec.m[i] = if i % 10 == 0 { 1.0 } else { 0.01 };
            net.rec.xi[i] = if i % 10 == 0 { 0.0 } else { 0.2 };
        }
        net.out.m.fill(0.5);
        let total: f64 = net.rec.m.iter().map(|&m| m as f64).sum();
        let acc = |n: &SasNet<f32>| -> Result<f64> {
            let mut mu = vec![0f32; 100];
            n.rec.mean_into(&mut mu);
            Ok(mu.iter().map(|&m| m as f64).sum::<f64>() / total)
        };
        let fr = fractions(true);
        let res = perturb_network(
            &net,
            &Thresholds::for_task("pixel-mnist"),
            &[None, None, None],
            &fr,
            3,
            7,
            1.0,
            &acc,
        )
        .unwrap();
        let rec = &res[0];
        assert_eq!(rec.n_vip, 10);
        assert_eq!(rec.n_self, Some(1)); // entry 0 = (0, 0)
        assert_eq!(rec.n_candidates, 100);
        assert_eq!(rec.removed, vec![0, 3, 5, 8, 10]); // round half away from zero
        let names: Vec<&str> = rec.controls.iter().map(|c| c.0).collect();
        assert_eq!(names, CONTROLS);
        for rep in 0..3 {
            assert_eq!(rec.vip[rep][0], 1.0);
            // all VIP removed: only the 0.9 of small weights are left
            assert!((rec.vip[rep][4] - 0.9 / 10.9).abs() < 1e-6);
            assert!(rec.controls[0].1[rep][4] > 0.5, "{:?}", rec.controls[0].1[rep]);
            // the matched controls never remove a VIP weight: 10 small ones
            for c in &rec.controls[1..] {
                assert!((c.1[rep][4] - (10.9 - 0.1) / 10.9).abs() < 1e-6, "{}", c.0);
            }
            // monotone (nested draws)
            assert!(rec.vip[rep].windows(2).all(|w| w[1] <= w[0]));
        }
        // The readout: all 20 weights are VIP, no diagonal control; the |μ| control has no
        // non-VIP connection to draw and removes nothing.
        assert_eq!(res[1].n_vip, 20);
        assert_eq!(res[1].n_self, None);
        assert_eq!(res[1].controls.len(), 2);
    }

    #[test]
    fn drops_are_paired_per_seed_after_averaging_repeats() {
        // Two seeds × three repeats at p = 0, 1. Seed 1: VIP 0.5, 0.6, 0.4 (mean 0.5), control
        // 0.9, 0.8, 1.0 (0.9); seed 2: VIP 0.2, 0.3, 0.1 (0.2), control 0.8, 0.8, 0.8 (0.8).
        // Extra drops 0.4 and 0.6: mean 0.5 over n = 2 seeds (not 6 evaluations), s = √0.02,
        // half-width 12.7062 · √0.02 / √2 = 1.27062.
        let fracs = [0.0, 1.0];
        let curves = |v: [f64; 3]| v.iter().map(|&a| vec![1.0, a]).collect::<Vec<_>>();
        let vip = vec![
            mean_over_repeats(&curves([0.5, 0.6, 0.4])),
            mean_over_repeats(&curves([0.2, 0.3, 0.1])),
        ];
        let ctl = vec![
            mean_over_repeats(&curves([0.9, 0.8, 1.0])),
            mean_over_repeats(&curves([0.8, 0.8, 0.8])),
        ];
        let d = drop_minus_control(&vip, &ctl, &fracs, 1.0).unwrap();
        assert_eq!(d.n, 2);
        assert!(
            (d.values[0] - 0.4).abs() < 1e-12 && (d.values[1] - 0.6).abs() < 1e-12,
            "{d:?}"
        );
        assert!((d.mean - 0.5).abs() < 1e-12);
        assert!((d.ci95 - 1.27062).abs() < 1e-6, "{}", d.ci95);
        let zero = drop_minus_control(&vip, &ctl, &fracs, 0.0).unwrap();
        assert_eq!(zero.mean, 0.0);
        assert!(drop_minus_control(&vip, &ctl, &fracs, 0.5).is_none());
        // The curves' band is over the two seeds too.
        assert_eq!(SeriesBand::of(&vip).n, vec![2, 2]);
    }

    #[test]
    fn run_on_a_tiny_msi_network() {
        let (o, out) = crate::analysis::perturb::testutil::quick_run(super::run, NAME, "perturb", 3);
        // The relaxed set and the exact set, per layer.
        assert_eq!(o.figures.len(), 4);
        let text = std::fs::read_to_string(out.join("perturb_rec.csv")).unwrap();
        assert_eq!(text.lines().count(), 1 + fractions(true).len());
        let header = text.lines().next().unwrap();
        for c in [
            "vip_uniform_acc_mean",
            "vip_magnitude_acc_lo95",
            "vip_diagonal_acc_hi95",
            "exact_acc_mean",
        ] {
            assert!(header.contains(c), "{header}");
        }
        assert!(
            !std::fs::read_to_string(out.join("perturb_out.csv"))
                .unwrap()
                .contains("diagonal")
        );
        for layer in LAYERS {
            for key in [
                "vip_p0.5",
                "vip_uniform_p0.5",
                "vip_p1",
                "vip_uniform_p1",
                "vip_magnitude_p1",
            ] {
                let v = o.summary_json()[layer][key].as_f64().unwrap();
                assert!((0.0..=1.0).contains(&v), "{layer}.{key} = {v}");
            }
        }
        assert!(o.summary_json()["rec"]["n_vip_self"].as_f64().is_some());
        assert!(
            o.summary_json()["vip_rule"]
                .as_str()
                .unwrap()
                .contains("Fig. 17 caption")
        );
        let cap = &o.figures[0].caption;
        assert!(
            cap.contains("self-connections") && cap.contains("n = 1 seed(s) × 2 repeats"),
            "{cap}"
        );
        let a = o.summary_json()["accuracy_intact"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&a));
        // One seed: the paired extra drop has n = 1 and no interval.
        let d = &o.summary_json()["rec"]["vip_drop_minus_uniform_p1"];
        assert_eq!(d["n"], 1);
        assert!(d["ci95"].is_null(), "{d}");
        let mean = d["mean"].as_f64().unwrap();
        let (v, u) = (
            o.summary_json()["rec"]["vip_p1"].as_f64().unwrap(),
            o.summary_json()["rec"]["vip_uniform_p1"].as_f64().unwrap(),
        );
        assert!((mean - (u - v)).abs() < 1e-12, "{mean} vs {u} − {v}");
    }
}
