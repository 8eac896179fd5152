//! Targeted perturbation (DESIGN §5.6, paper Figs. 7 and 17): how much of the accuracy rests on
//! the few very important (VIP) connections?
//!
//! For the recurrent layer and, separately, the readout, a fraction `p` of the layer's VIP
//! connections is **removed** — `π` set to 1, i.e. the connection is certainly absent
//! (`μ = v = 0`; `m` and `Ξ` are kept but no longer matter) — and the trained ensemble is
//! evaluated in mean-field mode. The control removes the **same number** of connections drawn
//! uniformly at random from the layer's whole population: every connection that is not
//! structurally masked (the recurrent and readout layers have no structural mask, so all
//! `N²` resp. `K·N` entries, the recurrent **diagonal included**, and connections that training
//! already drove to `π = 1` included — removing those changes nothing, which is what "random
//! weights from the entire population" means). The VIP set includes the diagonal as well.
//!
//! Draws are truly random subsets ([`choose`]: a seeded partial Fisher–Yates shuffle). Within
//! one repeat the removed sets are **nested** across `p` (the first `count(p)` entries of one
//! random order), so each repeat traces one pruning path; repeats use independent orders, both
//! for the VIP subset and for the random control. The mean-field noise of every evaluation of
//! a run uses the same seed (common random numbers), so differences between points come from
//! the removed connections, not from the noise.
//!
//! Two VIP sets are perturbed, each against its own random control: the **thresholded** VIP
//! set (below) and the **deterministic** VIP set ([`deterministic`]: `π = 0` and `Ξ = 0`
//! exactly, `|m|` above the same threshold — the connections whose distribution collapsed onto
//! one nonzero value). Where the thresholds admit most of a layer (row-wise MNIST: about two
//! thirds of the recurrent weights pass `π ≤ 0.1, Ξ < 0.1, |m| > 0.05`), the deterministic set
//! is the minority the paper's "very important" refers to.
//!
//! VIP classification: the shared weight classes of [`super::weights`], i.e.
//! [`super::weights::Thresholds::for_task`] (MSI and user tasks `π ≤ 0.1, Ξ < 0.1, |m| > 0.08`,
//! the reference code; MNIST `π ≤ 0.1, Ξ < 0.1, |m| > 0.05`, the paper's relaxed criterion)
//! with the user's overrides ([`AnalysisOptions::thresholds`]), so `classes` and `perturb`
//! always count the same connections.
//!
//! Outputs (in `out`): `perturb_rec.csv`, `perturb_out.csv` (per fraction: mean and std of the
//! accuracy after VIP and random removal; `det_…` columns for the deterministic set),
//! `perturb_raw.csv` (every evaluation),
//! `perturb.json` (settings and per-run VIP counts), `summary.json`.

use super::weights::Thresholds;
use super::{AnalysisOptions, AnalysisOutput, RunData, mean_std, write_csv, write_json};
use crate::error::{Result, SasError};
use crate::net::SasNet;
use crate::report::figure::{Figure, Plot, Series};
use crate::rng::{derive_seed, splitmix64};
use crate::sas::SasLayer;
use crate::train::eval::{Mode, evaluate};
use crate::train::source::TaskData;
use serde_json::json;
use std::path::Path;

/// Name of the analysis (command line, output folder).
pub const NAME: &str = "perturb";

/// The perturbed layers, by name (`rec` = recurrent `N × N`, `out` = readout `K × N`).
pub const LAYERS: [&str; 2] = ["rec", "out"];

/// Stream keys of this analysis' draws (see [`derive_seed`]).
const KEY_EVAL: u64 = 0x5045_0001;
const KEY_VIP: u64 = 0x5045_0002;
const KEY_RANDOM: u64 = 0x5045_0003;
const KEY_DET: u64 = 0x5045_0004;

/// One set of candidate VIP connections of the experiment.
struct VipSet {
    /// Column prefix in the outputs.
    key: &'static str,
    /// Name in captions.
    label: &'static str,
    /// Name in legends.
    short: &'static str,
    /// The rule as text.
    rule_text: String,
    /// The classification.
    rule: Thresholds,
}

/// The deterministic-VIP rule derived from `t`: `π = 0` and `Ξ = 0` exactly (training's
/// clipping creates both exact values), `|m| > t.m_min` — the weights whose spike-and-slab
/// distribution has collapsed onto one nonzero value (zero entropy; the paper's "π = 0 and
/// m ≠ 0", the feed-forward paper's VIP definition).
pub fn deterministic(t: &Thresholds) -> Thresholds {
    Thresholds {
        pi_max: 0.0,
        xi_max: f64::MIN_POSITIVE,
        ..*t
    }
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
pub fn test_size(quick: bool) -> (usize, usize) {
    if quick { (200, 4) } else { (1000, 10) }
}

/// `k` distinct indices drawn uniformly from `0..n_candidates` (every `k`-subset equally
/// likely, returned in draw order): a partial Fisher–Yates shuffle driven by
/// [`splitmix64`] seeded with `seed`. `k` is clamped to `n_candidates`.
///
/// The first `j` entries of `choose(n, k, s)` equal `choose(n, j, s)` for `j ≤ k`, so one call
/// with `k = n` gives a random order whose prefixes are nested random subsets.
pub fn choose(n_candidates: usize, k: usize, seed: u64) -> Vec<usize> {
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

/// Removes the connections `idx` (row-major indices) of `l`: `π = 1`, so `μ = v = 0`.
pub fn remove(l: &mut SasLayer<f32>, idx: &[usize]) {
    for &i in idx {
        l.pi[i] = 1.0;
    }
}

/// Number of connections removed at fraction `p` of `n_vip` VIP connections: `round(p · n_vip)`.
pub fn removed_count(p: f64, n_vip: usize) -> usize {
    ((p * n_vip as f64).round() as usize).min(n_vip)
}

fn layer_mut<'a>(net: &'a mut SasNet<f32>, name: &str) -> &'a mut SasLayer<f32> {
    match name {
        "rec" => &mut net.rec,
        _ => &mut net.out,
    }
}

/// Accuracies of one run and layer: `(vip[rep][p], random[rep][p])`, plus `n_vip` and the
/// number of candidate connections.
struct LayerResult {
    vip: Vec<Vec<f64>>,
    random: Vec<Vec<f64>>,
    removed: Vec<usize>,
    n_vip: usize,
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
        let candidates: Vec<usize> = (0..layer.m.len())
            .filter(|&i| mask.is_none_or(|m| m[i]))
            .collect();
        let n_vip = vip.len();
        let removed: Vec<usize> = fracs.iter().map(|&p| removed_count(p, n_vip)).collect();
        let mut res = LayerResult {
            vip: Vec::new(),
            random: Vec::new(),
            removed: removed.clone(),
            n_vip,
            n_candidates: candidates.len(),
        };
        for rep in 0..reps {
            let key = [li as u64, rep as u64];
            let vip_order = choose(n_vip, n_vip, derive_seed(seed, &[KEY_VIP, key[0], key[1]]));
            let rand_order = choose(
                candidates.len(),
                n_vip,
                derive_seed(seed, &[KEY_RANDOM, key[0], key[1]]),
            );
            let (mut av, mut ar) = (Vec::new(), Vec::new());
            for &c in &removed {
                if c == 0 {
                    av.push(baseline);
                    ar.push(baseline);
                    continue;
                }
                let mut nv = net.clone();
                let sel: Vec<usize> = vip_order[..c].iter().map(|&j| vip[j]).collect();
                remove(layer_mut(&mut nv, name), &sel);
                av.push(acc(&nv)?);
                let mut nr = net.clone();
                let sel: Vec<usize> = rand_order[..c].iter().map(|&j| candidates[j]).collect();
                remove(layer_mut(&mut nr, name), &sel);
                ar.push(acc(&nr)?);
            }
            res.vip.push(av);
            res.random.push(ar);
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

/// Runs the analysis on the runs (seeds) of one configuration; see the module docs.
pub fn run(runs: &[RunData], out: &Path, opts: &AnalysisOptions) -> Result<AnalysisOutput> {
    if runs.is_empty() {
        return Err(SasError::InvalidValue {
            name: NAME.into(),
            reason: "no runs given".into(),
        });
    }
    std::fs::create_dir_all(out).map_err(|source| SasError::Io {
        action: "creating",
        path: out.to_path_buf(),
        source,
    })?;
    let fracs = fractions(opts.quick);
    let reps = repeats(opts.quick);
    let (limit, tpc) = test_size(opts.quick);
    let rule = opts.thresholds(&runs[0].cfg.task.kind)?;
    // The VIP sets: the thresholded one, and (unless the thresholds already demand it) the
    // deterministic one, each against its own random control of the same size.
    let mut sets = vec![VipSet {
        key: "vip",
        label: "VIP",
        short: "VIP",
        rule_text: rule.vip_rule(),
        rule,
    }];
    let det = deterministic(&rule);
    if det != rule {
        sets.push(VipSet {
            key: "det",
            label: "deterministic VIP",
            short: "π = Ξ = 0 VIP",
            rule_text: format!("π = 0, Ξ = 0, |m| > {}", rule.m_min),
            rule: det,
        });
    }

    // series[set][li] = (vip series, random series) pooled over (run, repeat).
    let mut vip_series: Vec<Vec<Vec<Vec<f64>>>> = vec![vec![Vec::new(); LAYERS.len()]; sets.len()];
    let mut rand_series: Vec<Vec<Vec<Vec<f64>>>> = vec![vec![Vec::new(); LAYERS.len()]; sets.len()];
    let mut baselines = Vec::new();
    let mut n_vip: Vec<Vec<Vec<usize>>> = vec![vec![Vec::new(); LAYERS.len()]; sets.len()];
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
            evaluate(n, cfg, task.name(), &test, Mode::MeanField, 1, eval_seed).map(|r| r.accuracy)
        };
        let base = evaluate(&run.net, cfg, task.name(), &test, Mode::MeanField, 1, eval_seed)?;
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
                        raw.push(vec![
                            ri as f64,
                            si as f64,
                            li as f64,
                            rep as f64,
                            p,
                            r.removed[pi] as f64,
                            r.vip[rep][pi],
                            r.random[rep][pi],
                        ]);
                    }
                }
                set_json.insert(
                    LAYERS[li].into(),
                    json!({ "n_vip": r.n_vip, "n_candidates": r.n_candidates, "removed": r.removed }),
                );
                n_vip[si][li].push(r.n_vip);
                n_cand[li] = r.n_candidates;
                vip_series[si][li].extend(r.vip);
                rand_series[si][li].extend(r.random);
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
    let base_mean = baselines.iter().sum::<f64>() / baselines.len() as f64;
    let seeds = runs.len();
    let band = |m: &[f64], s: &[f64]| {
        Some((
            m.iter().zip(s).map(|(a, b)| a - b).collect(),
            m.iter().zip(s).map(|(a, b)| a + b).collect(),
        ))
    };
    let at = |v: &[f64], p: f64| {
        fracs
            .iter()
            .position(|&f| (f - p).abs() < 1e-9)
            .map_or(f64::NAN, |i| v[i])
    };
    for (li, &name) in LAYERS.iter().enumerate() {
        let mut header: Vec<String> = vec!["p".into()];
        let mut cols: Vec<Vec<f64>> = Vec::new();
        let mut series = Vec::new();
        let mut described = Vec::new();
        let mut layer_summary = serde_json::Map::new();
        layer_summary.insert("n_connections".into(), json!(n_cand[li]));
        for (si, set) in sets.iter().enumerate() {
            let (vm, vs) = mean_std(&vip_series[si][li]);
            let (rm, rs) = mean_std(&rand_series[si][li]);
            let (kv, kr) = if si == 0 {
                ("vip".to_string(), "random".to_string())
            } else {
                (set.key.to_string(), format!("{}_random", set.key))
            };
            for (k, v) in [
                (format!("{kv}_acc_mean"), &vm),
                (format!("{kv}_acc_std"), &vs),
                (format!("{kr}_acc_mean"), &rm),
                (format!("{kr}_acc_std"), &rs),
            ] {
                header.push(k);
                cols.push(v.clone());
            }
            let nv_mean = n_vip[si][li].iter().sum::<usize>() as f64 / seeds as f64;
            let size = format!("{nv_mean:.1} of {}", n_cand[li]);
            series.push(Series {
                label: format!("{}, n = {nv_mean:.0}", set.short),
                x: fracs.clone(),
                y: vm.clone(),
                band: band(&vm, &vs),
                markers: true,
            });
            series.push(Series {
                label: format!("random, n = {nv_mean:.0}"),
                x: fracs.clone(),
                y: rm.clone(),
                band: band(&rm, &rs),
                markers: true,
            });
            described.push(format!(
                "{}: {} ({size} connections on average)",
                set.label, set.rule_text
            ));
            for (k, v) in [
                (format!("n_{kv}"), json!(nv_mean)),
                (
                    format!("{kv}_fraction"),
                    json!(nv_mean / n_cand[li].max(1) as f64),
                ),
                (format!("{kv}_p0.5"), json!(at(&vm, 0.5))),
                (format!("{kv}_p0.5_std"), json!(at(&vs, 0.5))),
                (format!("{kr}_p0.5"), json!(at(&rm, 0.5))),
                (format!("{kr}_p0.5_std"), json!(at(&rs, 0.5))),
                (format!("{kv}_p1"), json!(at(&vm, 1.0))),
                (format!("{kv}_p1_std"), json!(at(&vs, 1.0))),
                (format!("{kr}_p1"), json!(at(&rm, 1.0))),
                (format!("{kr}_p1_std"), json!(at(&rs, 1.0))),
            ] {
                layer_summary.insert(k, v);
            }
        }
        let rows: Vec<Vec<f64>> = (0..fracs.len())
            .map(|i| {
                std::iter::once(fracs[i])
                    .chain(cols.iter().map(|c| c[i]))
                    .collect()
            })
            .collect();
        let header_refs: Vec<&str> = header.iter().map(String::as_str).collect();
        files.push(write_csv(
            &out.join(format!("perturb_{name}.csv")),
            &header_refs,
            &rows,
        )?);
        figures.push(Figure {
            name: format!("perturb_{name}"),
            title: format!("Targeted perturbation of the {}", layer_title(name)),
            x_label: "fraction p of the VIP connections removed (π := 1)".into(),
            y_label: "test accuracy, mean-field (fraction correct)".into(),
            log_y: false,
            caption: format!(
                "Mean-field test accuracy after removing (π := 1) a fraction p of the VIP \
                 connections of the {layer} versus the same number of connections drawn \
                 uniformly at random from all {nc} connections of the layer (diagonal \
                 included). {sets}. Mean ± std over {reps} random draws × {seeds} seed(s); \
                 {trials} test trials per evaluation; intact accuracy {base_mean:.3}.",
                layer = layer_title(name),
                sets = described.join("; "),
                nc = n_cand[li],
            ),
            plot: Plot::Lines(series),
        });
        summary.insert(name.into(), serde_json::Value::Object(layer_summary));
    }
    files.push(write_csv(
        &out.join("perturb_raw.csv"),
        &[
            "run",
            "set",
            "layer",
            "repeat",
            "p",
            "removed",
            "vip_acc",
            "random_acc",
        ],
        &raw,
    )?);
    files.push(write_json(
        &out.join("perturb.json"),
        &json!({
            "layers": LAYERS,
            "layer_index": "0 = rec, 1 = out",
            "sets": sets.iter().map(|s| json!({"key": s.key, "rule": s.rule_text})).collect::<Vec<_>>(),
            "set_index": "0 = vip (thresholds), 1 = det (deterministic: π = Ξ = 0), if present",
            "fractions": fracs,
            "repeats": reps,
            "test_trials": trials,
            "vip_rule": rule.vip_rule(),
            "thresholds": rule,
            "mode": "mean-field",
            "runs": per_run,
        }),
    )?);
    summary.insert("accuracy_intact".into(), json!(base_mean));
    summary.insert("repeats".into(), json!(reps));
    summary.insert("test_trials".into(), json!(trials));
    summary.insert("seeds".into(), json!(seeds));
    let summary = serde_json::Value::Object(summary);
    files.push(write_json(&out.join("summary.json"), &summary)?);
    Ok(AnalysisOutput {
        name: NAME.into(),
        title: "Targeted perturbation of VIP connections".into(),
        files,
        figures,
        summary,
    })
}

/// Tiny trained runs shared by the tests of the analysis modules.
#[cfg(test)]
pub(crate) mod testutil {
    use crate::analysis::RunData;
    use crate::config::Config;
    use crate::train::source::TaskData;
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
            let mut cfg = Config::preset("msi").unwrap();
            cfg.model.n = 12;
            cfg.eval.every = 0;
            cfg.eval.during_trials_per_condition = 1;
            cfg.task.msi.test_dt_ms = 20.0;
            cfg.train.epochs = 3;
            cfg.train.history = false;
            let data = TaskData::load(&cfg, None).unwrap();
            train(&cfg, &data, &d, &TrainOptions::default()).unwrap();
            d
        });
        RunData::load(dir).unwrap()
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
        let msi = Thresholds::for_task("msi");
        let mnist = Thresholds::for_task("pixel-mnist");
        // MSI: π ≤ 0.1 compared in f64 (the stored 0.1f32 lies above 0.1: not VIP),
        // |m| > 0.08 (0.06 does not), Ξ < 0.1
        assert_eq!(msi.vip_indices(&l, None), vec![1, 3]);
        // MNIST: |m| > 0.05 (0.06 counts)
        assert_eq!(mnist.vip_indices(&l, None), vec![1, 2, 3]);
        // masked entries never count
        let mask = [true, false, true, true, true, true];
        assert_eq!(msi.vip_indices(&l, Some(&mask)), vec![3]);
        // deterministic VIP: π = 0 and Ξ = 0 exactly (entry 3 has π = 0.05, entry 5 Ξ = 0.2)
        assert_eq!(deterministic(&msi).vip_indices(&l, None), vec![1]);
        assert_eq!(deterministic(&mnist).vip_indices(&l, None), vec![1, 2]);
        let mut tiny = l.clone();
        tiny.xi[1] = f32::from_bits(1); // the smallest subnormal is not 0
        assert_eq!(deterministic(&msi).vip_indices(&tiny, None), Vec::<usize>::new());
        // user overrides: |m| > 0.1 drops m = 0.09; π ≤ 0.2 admits the π = 0.1 entry
        let opts = |c: crate::analysis::ClassOverrides| AnalysisOptions {
            classes: c,
            ..Default::default()
        };
        let strict = opts(crate::analysis::ClassOverrides {
            m_min: Some(0.1),
            pi_max: Some(0.2),
            ..Default::default()
        });
        assert_eq!(
            strict.thresholds("msi").unwrap().vip_indices(&l, None),
            vec![0, 3]
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

    #[test]
    fn perturbation_removes_the_right_connections() {
        // A fake accuracy: the fraction of the recurrent layer's |μ| mass left, so VIP removal
        // must hurt more than random removal, and p = 0 gives the baseline.
        let mut net = SasNet::<f32>::zeros(crate::engine::Dims { n: 10, i: 1, k: 2 }, [false, true, true]);
        for i in 0..100 {
            net.rec.m[i] = if i % 10 == 0 { 1.0 } else { 0.01 };
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
            &Thresholds::for_task("msi"),
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
        assert_eq!(rec.n_candidates, 100);
        assert_eq!(rec.removed, vec![0, 3, 5, 8, 10]); // round half away from zero
        for rep in 0..3 {
            assert_eq!(rec.vip[rep][0], 1.0);
            // all VIP removed: only the 0.9 of small weights are left
            assert!((rec.vip[rep][4] - 0.9 / 10.9).abs() < 1e-6);
            assert!(rec.random[rep][4] > 0.5, "{:?}", rec.random[rep]);
            // monotone (nested draws)
            assert!(rec.vip[rep].windows(2).all(|w| w[1] <= w[0]));
        }
        // the readout: all 20 weights are VIP
        assert_eq!(res[1].n_vip, 20);
    }

    #[test]
    fn run_on_a_tiny_msi_network() {
        let run = testutil::tiny_msi_run();
        let out = testutil::out_dir("perturb");
        let opts = AnalysisOptions {
            quick: true,
            seed: 3,
            ..Default::default()
        };
        let o = super::run(std::slice::from_ref(&run), &out, &opts).unwrap();
        assert_eq!(o.name, NAME);
        assert_eq!(o.figures.len(), 2);
        for f in &o.files {
            assert!(f.exists(), "{}", f.display());
        }
        let text = std::fs::read_to_string(out.join("perturb_rec.csv")).unwrap();
        assert_eq!(text.lines().count(), 1 + fractions(true).len());
        for layer in LAYERS {
            for key in ["vip_p0.5", "random_p0.5", "vip_p1", "random_p1"] {
                let v = o.summary[layer][key].as_f64().unwrap();
                assert!((0.0..=1.0).contains(&v), "{layer}.{key} = {v}");
            }
        }
        let a = o.summary["accuracy_intact"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&a));
    }
}
