//! Evaluation modes of a trained ensemble (docs/MODEL.md §4): the mean-field network with fresh ε,
//! with ε = 0, the mean network (`w = μ`), and sampled concrete networks `w ~ P(w)`
//! resampled every `k` steps.

use crate::config::{Config, TaskKind};
use crate::data::source::TestSet;
use crate::engine::noise::{EpsZeroNoise, NoiseSource, RandomNoise};
use crate::engine::{Batch, Engine, EngineConfig, NetMoments, RunOptions, Targets};
use crate::error::{Result, SasError};
use crate::linalg::{Op, gemm};
use crate::net::SasNet;
use crate::rng::{NormalStream, derive_seed, splitmix64};
use crate::task::msi::{self, Modality};
use crate::task::{TargetData, TrialBatch};
use rayon::prelude::*;
use serde::Serialize;
use std::str::FromStr;

/// How the ensemble is turned into outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Gaussian-layer forward with fresh ε (what training optimizes).
    MeanField,
    /// Gaussian-layer forward with ε = 0.
    Eps0,
    /// Concrete weights `w = μ`.
    Mean,
    /// Concrete weights `w ~ P(w)`, resampled every `every` steps (`every ≥ T`: one network).
    Sampled {
        /// Resampling interval in steps.
        every: usize,
    },
}

impl Mode {
    /// Name used in files and on the command line.
    pub fn name(&self) -> String {
        match self {
            Mode::MeanField => "mean-field".into(),
            Mode::Eps0 => "eps0".into(),
            Mode::Mean => "mean".into(),
            Mode::Sampled { every } => format!("sampled-k{every}"),
        }
    }

    /// The name without the resampling interval: `mean-field`, `eps0`, `mean` or `sampled`
    /// (what [`FromStr`] parses and what an [`EvalReport`] holds).
    pub fn base_name(&self) -> &'static str {
        match self {
            Mode::MeanField => "mean-field",
            Mode::Eps0 => "eps0",
            Mode::Mean => "mean",
            Mode::Sampled { .. } => "sampled",
        }
    }
}

/// Writes [`Mode::name`] (`sampled-k<every>` for sampled networks).
impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(&self.name())
    }
}

/// Serializes a mode as its [`Mode::base_name`] (the interval is a field of its own).
fn serialize_base_name<S: serde::Serializer>(mode: &Mode, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(mode.base_name())
}

impl FromStr for Mode {
    type Err = SasError;
    fn from_str(s: &str) -> Result<Mode> {
        Ok(match s {
            "mean-field" => Mode::MeanField,
            "eps0" => Mode::Eps0,
            "mean" => Mode::Mean,
            "sampled" => Mode::Sampled { every: usize::MAX },
            other => {
                return Err(SasError::UnknownName {
                    what: "evaluation mode",
                    name: other.into(),
                    known: "mean-field, eps0, mean, sampled".into(),
                });
            }
        })
    }
}

/// Result of evaluating one mode.
#[derive(Clone, Debug, Serialize)]
pub struct EvalReport {
    /// The task (serialized as its name).
    pub task: TaskKind,
    /// The mode (serialized as its [`Mode::base_name`]; a sampled mode holds the interval
    /// reported in `resample_every`).
    #[serde(serialize_with = "serialize_base_name")]
    pub mode: Mode,
    /// Resampling interval (sampled mode).
    pub resample_every: Option<usize>,
    /// Mean accuracy over repeats / sampled networks, a fraction in [0, 1].
    pub accuracy: f64,
    /// Standard deviation of the accuracy over repeats / sampled networks.
    pub accuracy_std: f64,
    /// Accuracy of each repeat / sampled network.
    pub accuracies: Vec<f64>,
    /// Mean loss over the test set (first repeat; mean-field modes only, else NaN → null).
    pub loss: Option<f64>,
    /// Scored test trials per repeat.
    pub trials: usize,
    /// MSI: accuracy per modality (`visual`, `auditory`, `both`), mean over repeats.
    pub by_modality: Vec<(String, f64)>,
}

/// Scored correct/total counts of a batch from its readout `z`: the outputs of the last `S`
/// steps, `[S, B, K]` (`S = z.len() / (B·K)`; `S = 1` is the last step only). MSI: the
/// choice of each scored trial at the last step, with per-modality counts added to `by_mod`
/// in the order visual, auditory, both; labels and series targets: the argmax at the last
/// step against the label or target; per-step labels (which need `S = T`, see
/// [`TrialBatch::scores_every_step`]): the argmax at each trial's last scored step against
/// that step's label, trials without a scored step (or whose step `z` does not hold)
/// not counted.
pub fn score(
    batch: &TrialBatch,
    z: &[f32],
    info: Option<&[msi::TrialInfo]>,
    by_mod: &mut [(u64, u64); 3],
) -> (u64, u64) {
    let k = batch.outputs;
    let (mut ok, mut n) = (0, 0);
    let width = batch.size * k;
    let z_last = &z[z.len().saturating_sub(width)..];
    if let Some(info) = info {
        let ch = msi::choices(z_last);
        for (c, inf) in ch.iter().zip(info) {
            if let Some(cond) = inf.condition {
                let hit = (*c == cond.correct_choice()) as u64;
                ok += hit;
                n += 1;
                let mi = match cond.modality {
                    Modality::Visual => 0,
                    Modality::Auditory => 1,
                    Modality::Both => 2,
                };
                by_mod[mi].0 += hit;
                by_mod[mi].1 += 1;
            }
        }
        return (ok, n);
    }
    match &batch.target {
        TargetData::Labels(l) => {
            for (b, &lab) in l.iter().enumerate() {
                ok += (argmax(&z_last[b * k..(b + 1) * k]) == lab) as u64;
                n += 1;
            }
        }
        TargetData::Series { y, mask } => {
            let t = batch.steps - 1;
            for b in 0..batch.size {
                let o = (t * batch.size + b) * k;
                if mask[o..o + k].iter().any(|&m| m > 0.0) {
                    ok += (argmax(&z_last[b * k..(b + 1) * k]) == argmax(&y[o..o + k])) as u64;
                    n += 1;
                }
            }
        }
        TargetData::StepLabels { labels, .. } => {
            let held = z.len() / width.max(1);
            let first = batch.steps.saturating_sub(held);
            for (b, t) in batch.last_scored_steps().into_iter().enumerate() {
                let Some(t) = t.filter(|&t| t >= first) else {
                    continue;
                };
                let o = ((t - first) * batch.size + b) * k;
                ok += (argmax(&z[o..o + k]) == labels[t * batch.size + b]) as u64;
                n += 1;
            }
        }
    }
    (ok, n)
}

fn targets<'a>(b: &'a TrialBatch, one_hot: &'a [f32]) -> Targets<'a, f32> {
    match &b.target {
        TargetData::Labels(_) => Targets::CrossEntropyLast(one_hot),
        TargetData::Series { y, mask } => Targets::MaskedMse { y, mask },
        TargetData::StepLabels { labels, mask } => Targets::CrossEntropySteps { labels, mask },
    }
}

/// Evaluates `net` on `test` in `mode`; `repeats` independent repeats (sampled networks or
/// noise draws); `seed` keys every draw.
pub fn evaluate(
    net: &SasNet<f32>,
    cfg: &Config,
    task: TaskKind,
    test: &TestSet,
    mode: Mode,
    repeats: usize,
    seed: u64,
) -> Result<EvalReport> {
    let repeats = repeats.max(1);
    /// (accuracy, loss, scored trials, per-modality (correct, total)).
    type Repeat = (f64, f64, u64, [(u64, u64); 3]);
    let run_one = |rep: usize| -> Result<Repeat> {
        let (mut ok, mut n, mut loss, mut lw) = (0u64, 0u64, 0.0f64, 0u64);
        let mut by_mod = [(0u64, 0u64); 3];
        let rseed = derive_seed(seed, &[rep as u64]);
        let mut engine = Engine::<f32>::new(EngineConfig {
            alpha: cfg.test_alpha(),
            sigma: cfg.model.sigma,
            chunks: if matches!(mode, Mode::Sampled { .. }) {
                1
            } else {
                cfg.train.chunks
            },
        })?;
        let moments: Option<NetMoments<f32>> = match mode {
            Mode::Mean => Some(net.mean_network()),
            Mode::Sampled { .. } => None,
            _ => Some(net.moments()),
        };
        for (bi, b) in test.batches.iter().enumerate() {
            let bseed = derive_seed(rseed, &[bi as u64]);
            let h0 = vec![cfg.model.h0 as f32; b.size * net.dims().n];
            let z_last = match (&moments, mode) {
                (Some(m), _) => {
                    let one_hot = b.one_hot();
                    let batch = engine_batch(b, &h0, targets(b, &one_hot));
                    let noise: Box<dyn NoiseSource<f32>> = match mode {
                        Mode::Eps0 => Box::new(EpsZeroNoise { seed: bseed }),
                        _ => Box::new(RandomNoise { seed: bseed }),
                    };
                    let out = engine.run(m, &batch, noise.as_ref(), RunOptions::default())?;
                    loss += out.loss * b.size as f64;
                    lw += b.size as u64;
                    let k = net.dims().k;
                    let last = out.out_steps.len() - 1;
                    if b.scores_every_step() {
                        out.z
                    } else {
                        out.z[last * b.size * k..].to_vec()
                    }
                }
                (None, Mode::Sampled { every }) => sampled_forward(
                    net,
                    b,
                    &h0,
                    cfg.test_alpha(),
                    cfg.model.sigma,
                    every,
                    rseed,
                    bseed,
                ),
                _ => unreachable!("moments exist for every mode but sampled"),
            };
            let info = test.msi_info.get(bi).map(|v| v.as_slice());
            let (o, c) = score(b, &z_last, info, &mut by_mod);
            ok += o;
            n += c;
        }
        let acc = if n > 0 { ok as f64 / n as f64 } else { f64::NAN };
        Ok((acc, if lw > 0 { loss / lw as f64 } else { f64::NAN }, n, by_mod))
    };
    let results: Vec<_> = if matches!(mode, Mode::Sampled { .. }) {
        (0..repeats)
            .into_par_iter()
            .map(run_one)
            .collect::<Result<Vec<_>>>()?
    } else {
        (0..repeats).map(run_one).collect::<Result<Vec<_>>>()?
    };
    let accs: Vec<f64> = results.iter().map(|r| r.0).collect();
    let mean = accs.iter().sum::<f64>() / accs.len() as f64;
    let std = (accs.iter().map(|a| (a - mean) * (a - mean)).sum::<f64>() / accs.len() as f64).sqrt();
    let mut by_modality = Vec::new();
    if !test.msi_info.is_empty() {
        for (mi, name) in ["visual", "auditory", "both"].into_iter().enumerate() {
            let (o, c) = results
                .iter()
                .fold((0, 0), |a, r| (a.0 + r.3[mi].0, a.1 + r.3[mi].1));
            by_modality.push((name.to_string(), o as f64 / c.max(1) as f64));
        }
    }
    let loss = results[0].1;
    // `every ≥ T` means one network per trial: reported as T.
    let mode = match mode {
        Mode::Sampled { every } => Mode::Sampled {
            every: every.min(test.batches.first().map_or(every, |b| b.steps)),
        },
        m => m,
    };
    Ok(EvalReport {
        task,
        mode,
        resample_every: match mode {
            Mode::Sampled { every } => Some(every),
            _ => None,
        },
        accuracy: mean,
        accuracy_std: std,
        accuracies: accs,
        loss: loss.is_finite().then_some(loss),
        trials: results[0].2 as usize,
        by_modality,
    })
}

/// An engine with the test protocol's settings of `cfg` (its `α`, `σ` and chunks).
pub(crate) fn test_engine(cfg: &Config) -> Result<Engine<f32>> {
    Engine::new(EngineConfig {
        alpha: cfg.test_alpha(),
        sigma: cfg.model.sigma,
        chunks: cfg.train.chunks,
    })
}

/// The engine's view of trial batch `b` with initial state `h0` (`[B, N]`) and targets
/// `targets`.
pub(crate) fn engine_batch<'a>(
    b: &'a TrialBatch,
    h0: &'a [f32],
    targets: Targets<'a, f32>,
) -> Batch<'a, f32> {
    Batch {
        steps: b.steps,
        size: b.size,
        x: &b.x,
        h0,
        targets,
    }
}

/// Index of the largest entry of `r` (ties go to the first).
pub(crate) fn argmax(r: &[f32]) -> usize {
    r.iter()
        .enumerate()
        .fold(
            (0, f32::NEG_INFINITY),
            |a, (i, &v)| if v > a.1 { (i, v) } else { a },
        )
        .0
}

/// Records the hidden states of the mean-field network on one batch of trials: the rates
/// `r = relu(h)` of every step, with fresh ε and recurrent noise keyed by `seed` and no loss.
/// Run `engine` from [`test_engine`] for the test protocol.
///
/// Returns `(rates, z_last)`: `rates` is `[T+1, B, N]` (index 0 = `relu(h(0))`, index `t` =
/// after step `t`; dimensionless rates), `z_last` the readout at the last step `[B, K]`.
/// Memory: `(T+1)·B·N` floats, so long trials want small batches.
pub(crate) fn mean_field_rates(
    engine: &mut Engine<f32>,
    net: &SasNet<f32>,
    cfg: &Config,
    b: &TrialBatch,
    seed: u64,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let h0 = vec![cfg.model.h0 as f32; b.size * net.dims().n];
    let batch = engine_batch(b, &h0, Targets::None);
    let out = engine.run(
        &net.moments(),
        &batch,
        &RandomNoise { seed },
        RunOptions {
            rates: true,
            ..Default::default()
        },
    )?;
    let rates = out.rates.ok_or_else(|| SasError::Numerical {
        name: "rates".into(),
        reason: "the engine returned no rates".into(),
    })?;
    Ok((rates, out.z))
}

/// A test set of `task` for recording rates: batches small enough that one batch's rates
/// (`(T+1)·B·N` floats) stay below `budget` bytes, at most `limit` examples (0: the task's
/// default); returns it with the steps `T` of a trial. `what` names the caller in errors.
pub(crate) fn rate_test_set(
    task: &crate::data::source::TaskData,
    cfg: &Config,
    n: usize,
    budget: usize,
    limit: usize,
    what: &str,
) -> Result<(TestSet, usize)> {
    let steps = task
        .test_set(cfg, 1, 1, 1)
        .batches
        .first()
        .map(|b| b.steps)
        .ok_or_else(|| SasError::InvalidValue {
            name: what.into(),
            reason: "the test set is empty".into(),
        })?;
    let bsz = (budget / ((steps + 1) * n * 4).max(1)).clamp(1, cfg.eval.batch.max(1));
    Ok((task.test_set(cfg, bsz, limit, 1), steps))
}

/// Records mean-field rates of one trained network under the test protocol
/// ([`mean_field_rates`] on an engine from [`test_engine`]).
pub struct RateProbe<'a> {
    engine: Engine<f32>,
    net: &'a SasNet<f32>,
    cfg: &'a Config,
}

impl<'a> RateProbe<'a> {
    /// A probe of network `net` trained with configuration `cfg`.
    pub fn new(net: &'a SasNet<f32>, cfg: &'a Config) -> Result<Self> {
        Ok(RateProbe {
            engine: test_engine(cfg)?,
            net,
            cfg,
        })
    }

    /// `trials` MSI test trials of condition `cond`, drawn with `trial_seed`, with noise keyed
    /// by `noise_seed`: the batch, its rates `[T+1, B, N]` and the last readout `[B, K]`.
    pub fn condition(
        &mut self,
        test: &crate::task::msi::Msi,
        cond: crate::task::msi::Condition,
        trials: usize,
        (trial_seed, noise_seed): (u64, u64),
    ) -> Result<(TrialBatch, Vec<f32>, Vec<f32>)> {
        let (b, _) = test.test_batch(&[cond], trials, trial_seed);
        let (rates, z) = mean_field_rates(&mut self.engine, self.net, self.cfg, &b, noise_seed)?;
        Ok((b, rates, z))
    }

    /// Runs every batch of `test` (noise of batch `bi` keyed by `seed(bi)`) and calls
    /// `each(rates, batch_size, trial, label)` for every trial whose label is below the
    /// network's outputs; returns the trials seen. With per-step labels a trial's label is
    /// the one at its last scored step (trials with no scored step are skipped). Tasks
    /// without class labels are an error naming `what`.
    pub fn labelled(
        &mut self,
        test: &TestSet,
        what: &str,
        seed: impl Fn(usize) -> u64,
        mut each: impl FnMut(&[f32], usize, usize, usize),
    ) -> Result<usize> {
        let classes = self.net.dims().k;
        let mut trials = 0;
        for (bi, b) in test.batches.iter().enumerate() {
            let labels: Vec<usize> = match &b.target {
                TargetData::Labels(l) => l.clone(),
                TargetData::StepLabels { labels, .. } => b
                    .last_scored_steps()
                    .into_iter()
                    .enumerate()
                    .map(|(tr, t)| t.map_or(usize::MAX, |t| labels[t * b.size + tr]))
                    .collect(),
                TargetData::Series { .. } => {
                    return Err(SasError::InvalidValue {
                        name: what.into(),
                        reason: format!("{what} needs MSI or a task with class labels"),
                    });
                }
            };
            let (rates, _) = mean_field_rates(&mut self.engine, self.net, self.cfg, b, seed(bi))?;
            for (t, &l) in labels.iter().enumerate() {
                if l < classes {
                    each(&rates, b.size, t, l);
                    trials += 1;
                }
            }
        }
        Ok(trials)
    }
}

/// Concrete weights `w ~ P(w)` of one layer: 0 with probability π, else `m + sqrt(Ξ)·N(0,1)`;
/// a deterministic layer gives `w = (1-π) m`.
pub(crate) fn sample_layer(l: &crate::sas::SasLayer<f32>, stochastic: bool, seed: u64, out: &mut [f32]) {
    let mut g = NormalStream::new(derive_seed(seed, &[0]));
    let mut s = derive_seed(seed, &[1]);
    let mut z = vec![0f32; out.len()];
    g.fill(&mut z);
    for i in 0..out.len() {
        out[i] = if !stochastic {
            (1.0 - l.pi[i]) * l.m[i]
        } else {
            let u = (splitmix64(&mut s) >> 40) as f32 / (1u64 << 24) as f32;
            if u < l.pi[i] {
                0.0
            } else {
                l.m[i] + l.xi[i].sqrt() * z[i]
            }
        };
    }
}

/// The concrete weights of one network: `w_in` `N × I`, `w_rec` `N × N`, `w_out` `K × N`,
/// row-major (row = receiving unit).
#[derive(Clone, Debug, PartialEq)]
pub struct ConcreteNet {
    /// Input weights, `N × I`.
    pub w_in: Vec<f32>,
    /// Recurrent weights, `N × N`.
    pub w_rec: Vec<f32>,
    /// Readout weights, `K × N`.
    pub w_out: Vec<f32>,
}

impl ConcreteNet {
    /// All-zero weights of sizes `d`.
    pub fn zeros(d: crate::engine::Dims) -> Self {
        ConcreteNet {
            w_in: vec![0.0; d.n * d.i],
            w_rec: vec![0.0; d.n * d.n],
            w_out: vec![0.0; d.k * d.n],
        }
    }

    /// The mean network `w = μ = (1 − π) m` of `net`.
    pub fn mean(net: &SasNet<f32>) -> Self {
        let mut c = ConcreteNet::zeros(net.dims());
        net.inp.mean_into(&mut c.w_in);
        net.rec.mean_into(&mut c.w_rec);
        net.out.mean_into(&mut c.w_out);
        c
    }

    /// Draws every layer of `net` as [`sampled_forward`] draws window `window` under
    /// `net_seed` (layer `l` from the stream `(net_seed, window, l)`).
    pub fn sample(&mut self, net: &SasNet<f32>, net_seed: u64, window: usize) {
        let s = |l| layer_seed(net_seed, window, l);
        sample_layer(&net.inp, net.stochastic[0], s(0), &mut self.w_in);
        sample_layer(&net.rec, net.stochastic[1], s(1), &mut self.w_rec);
        sample_layer(&net.out, net.stochastic[2], s(2), &mut self.w_out);
    }
}

/// The seed [`ConcreteNet::sample`] draws layer `layer` (0 input, 1 recurrent, 2 readout) of
/// window `window` from, for the networks keyed by `net_seed`.
pub(crate) fn layer_seed(net_seed: u64, window: usize, layer: u64) -> u64 {
    derive_seed(derive_seed(net_seed, &[window as u64]), &[layer])
}

/// Forward pass of sampled concrete networks: a new network every `every` steps (the same
/// for every trial of the batch), keyed by `net_seed` and the window index; recurrent noise
/// keyed by `noise_seed`. Returns the last-step outputs `[B, K]`, or for a batch that
/// [`TrialBatch::scores_every_step`] the outputs of every step `[T, B, K]`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn sampled_forward(
    net: &SasNet<f32>,
    b: &TrialBatch,
    h0: &[f32],
    alpha: f64,
    sigma: f64,
    every: usize,
    net_seed: u64,
    noise_seed: u64,
) -> Vec<f32> {
    let draw = |window: usize, w: &mut ConcreteNet| w.sample(net, net_seed, window);
    concrete_forward(
        net.dims(),
        b,
        h0,
        alpha,
        sigma,
        every,
        draw,
        noise_seed,
        Record::None,
    )
}

/// What [`concrete_forward`] records besides the last-step outputs.
pub(crate) enum Record<'a> {
    /// Nothing.
    None,
    /// The Euclidean norm of the rates `‖r(t)‖` of every trial and step, `[T+1, B]` (index 0 =
    /// `relu(h(0))`; computed in f64, `+∞`/NaN where the f32 state overflowed).
    Norms(&'a mut Vec<f64>),
    /// The readout `z_t = W_out r_t` (`[T, B, K]`, with the weights of the step's window) and
    /// the rates `r_t` (`[T, B, N]`) after every step.
    Trace {
        /// Readout `[T, B, K]`.
        z: &'a mut Vec<f32>,
        /// Rates `[T, B, N]`.
        rates: &'a mut Vec<f32>,
    },
    /// Calls `f(t, r_t, w)` after every step `t = 1..=T` with the rates `r_t` (`[B, N]`) and
    /// the weights `w` that step `t` used; nothing is kept (for measurements along the trial
    /// without its `T·B·N` memory).
    Each(&'a mut dyn FnMut(usize, &[f32], &ConcreteNet)),
}

/// The readout and rates of every step of `net` on the trials `x` (`[T, B, I]`) under the
/// test protocol of `cfg` in `mode`, draws keyed by `seed`: `(z [T, B, K], rates [T, B, N])`.
/// Mean-field modes run the engine (fresh ε, or ε = 0 for `Eps0`); `Mean` the engine on the
/// mean network; `Sampled { every }` concrete networks redrawn every `every` steps.
pub(crate) fn forward_all(
    net: &SasNet<f32>,
    cfg: &Config,
    x: &[f32],
    steps: usize,
    trials: usize,
    mode: Mode,
    seed: u64,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let d = net.dims();
    let b = TrialBatch {
        steps,
        size: trials,
        inputs: d.i,
        outputs: d.k,
        x: x.to_vec(),
        target: TargetData::Labels(Vec::new()),
    };
    let h0 = vec![cfg.model.h0 as f32; trials * d.n];
    let noise_seed = derive_seed(seed, &[2]);
    if let Mode::Sampled { every } = mode {
        let (mut z, mut rates) = (Vec::new(), Vec::new());
        let net_seed = derive_seed(seed, &[1]);
        let draw = |window: usize, w: &mut ConcreteNet| w.sample(net, net_seed, window);
        let record = Record::Trace {
            z: &mut z,
            rates: &mut rates,
        };
        let alpha = cfg.test_alpha();
        concrete_forward(
            d,
            &b,
            &h0,
            alpha,
            cfg.model.sigma,
            every,
            draw,
            noise_seed,
            record,
        );
        return Ok((z, rates));
    }
    let moments = match mode {
        Mode::Mean => net.mean_network(),
        _ => net.moments(),
    };
    let noise: Box<dyn NoiseSource<f32>> = match mode {
        Mode::Eps0 => Box::new(EpsZeroNoise { seed: noise_seed }),
        _ => Box::new(RandomNoise { seed: noise_seed }),
    };
    let batch = engine_batch(&b, &h0, Targets::None);
    let out = test_engine(cfg)?.run(
        &moments,
        &batch,
        noise.as_ref(),
        RunOptions {
            all_outputs: true,
            rates: true,
            ..Default::default()
        },
    )?;
    let mut rates = out.rates.unwrap_or_default();
    // Drop index 0 (`relu(h(0))`): one row per step, as the readout.
    rates.drain(..trials * d.n);
    Ok((out.z, rates))
}

/// Forward pass of concrete networks over one batch: `draw(window, w)` writes the weights of
/// window `window` (steps `window·every .. (window+1)·every`) into `w`, which is held for
/// those steps (`every ≥ T`: one network for the whole trial). Dynamics as in the engine with
/// `V = 0`: `h_t = (1−α) h_{t−1} + α (W_rec r_{t−1} + W_in x_t) + sqrt(2ασ²) n_t`,
/// `r = relu(h)`, recurrent noise keyed by `noise_seed`.
///
/// Returns the last-step outputs `z = W_out r_T`, `[B, K]`, or for a batch that
/// [`TrialBatch::scores_every_step`] the outputs of every step `z_t = W_out r_t`,
/// `[T, B, K]` (with the weights of that step's window). `record` keeps more: see
/// [`Record`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn concrete_forward(
    d: crate::engine::Dims,
    b: &TrialBatch,
    h0: &[f32],
    alpha: f64,
    sigma: f64,
    every: usize,
    mut draw: impl FnMut(usize, &mut ConcreteNet),
    noise_seed: u64,
    mut record: Record<'_>,
) -> Vec<f32> {
    let (n, ni, k, bs) = (d.n, d.i, d.k, b.size);
    let every = every.max(1);
    let mut w = ConcreteNet::zeros(d);
    let mut h = h0.to_vec();
    let mut r: Vec<f32> = h.iter().map(|&v| v.max(0.0)).collect();
    let mut g = vec![0f32; bs * n];
    let mut nz = vec![0f32; bs * n];
    let mut noise = NormalStream::new(derive_seed(noise_seed, &[2, 0]));
    let (a, leak, ns) = (
        alpha as f32,
        (1.0 - alpha) as f32,
        (2.0 * alpha * sigma * sigma).sqrt() as f32,
    );
    let norms_of = |record: &mut Record<'_>, r: &[f32]| {
        if let Record::Norms(out) = record {
            out.extend(
                r.chunks_exact(n)
                    .map(|row| row.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>().sqrt()),
            );
        }
    };
    match &mut record {
        Record::Norms(out) => {
            out.clear();
            out.reserve((b.steps + 1) * bs);
        }
        Record::Trace { z, rates } => {
            z.clear();
            z.reserve(b.steps * bs * k);
            rates.clear();
            rates.reserve(b.steps * bs * n);
        }
        Record::None | Record::Each(_) => {}
    }
    norms_of(&mut record, &r);
    let every_step = b.scores_every_step();
    let mut z_all = Vec::new();
    for t in 0..b.steps {
        if t % every == 0 {
            draw(t / every, &mut w);
        }
        gemm(&mut g, bs, n, Op::new(&r, bs, n), Op::t(&w.w_rec, n, n), false);
        let xt = &b.x[t * bs * ni..(t + 1) * bs * ni];
        gemm(&mut g, bs, n, Op::new(xt, bs, ni), Op::t(&w.w_in, n, ni), true);
        if sigma > 0.0 {
            noise.fill(&mut nz);
        }
        for e in 0..bs * n {
            h[e] = leak * h[e] + a * g[e] + ns * nz[e];
            r[e] = h[e].max(0.0);
        }
        norms_of(&mut record, &r);
        if let Record::Each(f) = &mut record {
            f(t + 1, &r, &w);
        }
        if let Record::Trace { z, rates } = &mut record {
            rates.extend_from_slice(&r);
            let at = z.len();
            z.resize(at + bs * k, 0.0);
            gemm(
                &mut z[at..],
                bs,
                k,
                Op::new(&r, bs, n),
                Op::t(&w.w_out, k, n),
                false,
            );
        }
        if every_step && t + 1 < b.steps {
            let mut z = vec![0f32; bs * k];
            gemm(&mut z, bs, k, Op::new(&r, bs, n), Op::t(&w.w_out, k, n), false);
            z_all.extend_from_slice(&z);
        }
    }
    let mut z = vec![0f32; bs * k];
    gemm(&mut z, bs, k, Op::new(&r, bs, n), Op::t(&w.w_out, k, n), false);
    if every_step {
        z_all.extend_from_slice(&z);
        return z_all;
    }
    z
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_print_their_name_and_reports_their_base_name() {
        let k5 = Mode::Sampled { every: 5 };
        assert_eq!((k5.to_string(), k5.base_name()), ("sampled-k5".into(), "sampled"));
        assert_eq!(Mode::MeanField.to_string(), "mean-field");
        for m in [Mode::MeanField, Mode::Eps0, Mode::Mean, k5] {
            assert_eq!(m.base_name().parse::<Mode>().unwrap().base_name(), m.base_name());
        }
        let r = EvalReport {
            task: TaskKind::RowMnist,
            mode: k5,
            resample_every: Some(5),
            accuracy: 0.5,
            accuracy_std: 0.0,
            accuracies: vec![0.5],
            loss: None,
            trials: 2,
            by_modality: Vec::new(),
        };
        let j = serde_json::to_value(&r).unwrap();
        assert_eq!(
            (&j["task"], &j["mode"], &j["resample_every"]),
            (&"row-mnist".into(), &"sampled".into(), &5.into())
        );
    }

    #[test]
    fn score_per_step_labels_at_each_trials_last_scored_step() {
        // T = 3, B = 3, K = 2. Trial 0 last scored at step 1 (label 1), trial 1 never
        // scored, trial 2 at step 2 (label 0).
        let b = TrialBatch {
            steps: 3,
            size: 3,
            inputs: 1,
            outputs: 2,
            x: vec![0.0; 9],
            target: TargetData::StepLabels {
                labels: vec![0, 0, 0, 1, 1, 1, 0, 1, 0],
                mask: vec![1., 0., 0., 1., 0., 0., 0., 0., 1.],
            },
        };
        // z [T, B, K]: trial 0 right at step 1 (wrong at step 2, which is not scored),
        // trial 2 wrong at step 2.
        let z = [
            0., 1., 0., 0., 0., 0., //
            0., 1., 0., 0., 0., 0., //
            1., 0., 0., 0., 0., 1.,
        ];
        let mut by_mod = [(0, 0); 3];
        assert_eq!(score(&b, &z, None, &mut by_mod), (1, 2));
        // Trial 2 right at step 2.
        let mut z2 = z;
        z2[16] = 2.0;
        assert_eq!(score(&b, &z2, None, &mut by_mod), (2, 2));
        // With only the last step, trial 0's scored step is not held: only trial 2 counts.
        assert_eq!(score(&b, &z2[12..], None, &mut by_mod), (1, 1));
        assert_eq!(by_mod, [(0, 0); 3]);
    }

    #[test]
    fn labelled_trials_of_per_step_labels() {
        let mut cfg = Config::preset("msi").unwrap();
        cfg.model.n = 4;
        cfg.task.kind = crate::config::TaskKind::User;
        let net = crate::train::init::init_network(&cfg, 1, 3);
        // T = 2, B = 3: trial 0 last scored at step 1 (label 2), trial 1 at step 0
        // (label 1), trial 2 never scored.
        let b = TrialBatch {
            steps: 2,
            size: 3,
            inputs: 1,
            outputs: 3,
            x: vec![0.5; 6],
            target: TargetData::StepLabels {
                labels: vec![0, 1, 0, 2, 0, 0],
                mask: vec![1., 1., 0., 1., 0., 0.],
            },
        };
        let test = TestSet {
            batches: vec![b],
            msi_info: Vec::new(),
        };
        let mut probe = RateProbe::new(&net, &cfg).unwrap();
        let mut seen = Vec::new();
        let n = probe
            .labelled(
                &test,
                "probe",
                |_| 1,
                |r, size, t, l| {
                    assert_eq!((r.len(), size), (3 * 3 * 4, 3));
                    seen.push((t, l));
                },
            )
            .unwrap();
        assert_eq!((n, seen), (2, vec![(0, 2), (1, 1)]));
    }

    #[test]
    fn sampled_forward_returns_every_step_for_per_step_labels() {
        use crate::sas::SasLayer;
        let layer = |rows: usize, cols: usize, m: f32| SasLayer {
            rows,
            cols,
            m: vec![m; rows * cols],
            pi: vec![0.0; rows * cols],
            xi: vec![0.0; rows * cols],
        };
        let net = SasNet {
            inp: layer(2, 1, 1.0),
            rec: layer(2, 2, 0.1),
            out: layer(2, 2, 0.5),
            stochastic: [false, true, true],
        };
        let mut b = TrialBatch {
            steps: 3,
            size: 2,
            inputs: 1,
            outputs: 2,
            x: vec![1.0, 2.0, 0.5, 0.0, 1.0, 1.0],
            target: TargetData::StepLabels {
                labels: vec![0; 6],
                mask: vec![1.0; 6],
            },
        };
        let h0 = vec![0.0; 4];
        let all = sampled_forward(&net, &b, &h0, 0.5, 0.0, 1, 7, 8);
        assert_eq!(all.len(), 3 * 2 * 2);
        b.target = TargetData::Labels(vec![0, 1]);
        let last = sampled_forward(&net, &b, &h0, 0.5, 0.0, 1, 7, 8);
        assert_eq!(last.len(), 2 * 2);
        assert_eq!(&all[8..], &last[..]);
        // Step 0 differs from the last step (the state moves).
        assert_ne!(&all[..4], &last[..]);
    }
}
