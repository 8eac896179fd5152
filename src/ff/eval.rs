//! Evaluation modes of a feed-forward ensemble (docs/MODEL.md §4):
//!
//! - **mean-field**: the Gaussian-layer forward with fresh `ε` (what training optimizes);
//!   repeats draw new `ε`;
//! - **mean network**: concrete weights `w = μ` (for a feed-forward network this is also the
//!   mean-field forward with `ε = 0`);
//! - **sampled networks**: concrete weights `w ~ P(w)` (Bernoulli(1-π) × N(m, Ξ)), one network
//!   per repeat for the whole test set; mean and standard deviation of the accuracy.

use super::engine::{FfEngine, LayerNoise};
use super::{FfData, FfNet, accuracy, load_run};
use crate::engine::Gaussian;
use crate::error::{Result, SasError};
use crate::infer::sample_layer;
use crate::rng::derive_seed;
use crate::task::mnist::Mnist;
use serde::Serialize;
use std::path::Path;
use std::str::FromStr;

/// Test examples per engine call.
pub const EVAL_BATCH: usize = 2000;

/// How the ensemble is turned into outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvalMode {
    /// Gaussian-layer forward with fresh `ε`.
    MeanField,
    /// Concrete weights `w = μ`.
    Mean,
    /// Concrete weights `w ~ P(w)`, one network per repeat.
    Sampled,
}

impl EvalMode {
    /// Name in files and on the command line: `mean-field`, `mean`, `sampled`.
    pub fn name(&self) -> &'static str {
        match self {
            EvalMode::MeanField => "mean-field",
            EvalMode::Mean => "mean",
            EvalMode::Sampled => "sampled",
        }
    }
}

/// Writes [`EvalMode::name`].
impl std::fmt::Display for EvalMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

/// Serialized as [`EvalMode::name`].
impl Serialize for EvalMode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// A mode equals its [`EvalMode::name`].
impl PartialEq<&str> for EvalMode {
    fn eq(&self, other: &&str) -> bool {
        self.name() == *other
    }
}

/// Parses `mean-field`, `mean` or `sampled`; `eps0` (the recurrent mode "mean-field with
/// ε = 0") is the mean network here.
impl FromStr for EvalMode {
    type Err = SasError;
    fn from_str(s: &str) -> Result<EvalMode> {
        match s {
            "mean-field" => Ok(EvalMode::MeanField),
            // For a feed-forward network the mean-field forward with ε = 0 is the mean network.
            "mean" | "eps0" => Ok(EvalMode::Mean),
            "sampled" => Ok(EvalMode::Sampled),
            other => Err(SasError::UnknownName {
                what: "evaluation mode",
                name: other.into(),
                known: "mean-field, mean (= eps0), sampled".into(),
            }),
        }
    }
}

/// Result of evaluating one mode.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct AccuracyReport {
    /// The mode (serialized as its name).
    pub mode: EvalMode,
    /// Mean accuracy over repeats (fraction in [0, 1]).
    pub accuracy: f64,
    /// Standard deviation of the accuracy over repeats.
    pub accuracy_std: f64,
    /// Accuracy of each repeat (noise draw or sampled network).
    pub accuracies: Vec<f64>,
    /// Mean cross-entropy over the test set (first repeat).
    pub loss: f64,
    /// Test examples.
    pub examples: usize,
}

/// Logits `[count, n_L]` and mean loss of the moment network `net` on all of `data`, in
/// batches of [`EVAL_BATCH`]; batch `i` uses noise seed `derive_seed(seed, [i])`.
pub(crate) fn forward_all(
    engine: &mut FfEngine<f32>,
    net: &[Gaussian<f32>],
    data: &FfData,
    noise_seed: Option<u64>,
) -> Result<(Vec<f32>, f64)> {
    let k = net.last().map_or(0, |g| g.rows);
    let mut z = Vec::with_capacity(data.count * k);
    let mut loss = 0.0;
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for (bi, start) in (0..data.count).step_by(EVAL_BATCH).enumerate() {
        let idx: Vec<usize> = (start..(start + EVAL_BATCH).min(data.count)).collect();
        data.gather(&idx, k, &mut x, &mut y);
        let noise = match noise_seed {
            Some(s) => LayerNoise::Random {
                seed: derive_seed(s, &[bi as u64]),
            },
            None => LayerNoise::Zero,
        };
        let out = engine.run(net, &x, idx.len(), Some(&y), noise, false)?;
        loss += out.loss * idx.len() as f64;
        z.extend_from_slice(&out.z);
    }
    Ok((z, loss / data.count.max(1) as f64))
}

/// One concrete network `w ~ P(w)` drawn with `seed` (layer `l` from `derive_seed(seed, [l])`).
pub(crate) fn sample_network(net: &FfNet<f32>, seed: u64) -> Vec<Gaussian<f32>> {
    net.layers
        .iter()
        .enumerate()
        .map(|(l, layer)| {
            let mut w = vec![0.0; layer.rows * layer.cols];
            sample_layer(layer, true, derive_seed(seed, &[l as u64]), &mut w);
            Gaussian {
                rows: layer.rows,
                cols: layer.cols,
                mu: w,
                var: None,
            }
        })
        .collect()
}

/// Evaluates `net` on `data` in `mode` with `repeats` repeats (noise draws or sampled
/// networks; the mean network has one), `chunks` chunks per batch, all draws keyed by `seed`.
pub fn evaluate(
    net: &FfNet<f32>,
    data: &FfData,
    mode: EvalMode,
    repeats: usize,
    chunks: usize,
    seed: u64,
) -> Result<AccuracyReport> {
    net.validate()?;
    let sizes = net.sizes();
    if data.dim != sizes[0] {
        return Err(SasError::Shape {
            name: "test inputs".into(),
            got: vec![data.count, data.dim],
            expected: vec![data.count, sizes[0]],
        });
    }
    let k = sizes[sizes.len() - 1];
    if let Some(&bad) = data.labels.iter().find(|&&l| l as usize >= k) {
        return Err(SasError::InvalidTensor {
            name: "labels".into(),
            reason: format!("label {bad} is not below the network's {k} outputs"),
        });
    }
    let mut engine = FfEngine::<f32>::new(chunks)?;
    let repeats = if mode == EvalMode::Mean { 1 } else { repeats.max(1) };
    let moments = match mode {
        EvalMode::MeanField => Some(net.moments()),
        EvalMode::Mean => Some(net.mean_network()),
        EvalMode::Sampled => None,
    };
    let mut accs = Vec::with_capacity(repeats);
    let mut first_loss = f64::NAN;
    for r in 0..repeats {
        let rseed = derive_seed(seed, &[r as u64]);
        let (z, loss) = match (&moments, mode) {
            (Some(m), EvalMode::MeanField) => forward_all(&mut engine, m, data, Some(rseed))?,
            (Some(m), _) => forward_all(&mut engine, m, data, None)?,
            (None, _) => forward_all(&mut engine, &sample_network(net, rseed), data, None)?,
        };
        if r == 0 {
            first_loss = loss;
        }
        accs.push(accuracy(&z, k, &data.labels));
    }
    let mean = accs.iter().sum::<f64>() / accs.len() as f64;
    let std = (accs.iter().map(|a| (a - mean) * (a - mean)).sum::<f64>() / accs.len() as f64).sqrt();
    Ok(AccuracyReport {
        mode,
        accuracy: mean,
        accuracy_std: std,
        accuracies: accs,
        loss: first_loss,
        examples: data.count,
    })
}

/// Evaluates the checkpoint of feed-forward run `run_dir` on the first `limit` MNIST test
/// images (0 = the run's `eval.test_limit`, i.e. all by default) from `data_dir`, in `mode`
/// with `repeats` repeats (noise draws or sampled networks) keyed by `seed`: the command
/// `sasnet eval RUN` on a feed-forward run. Returns the report and the checkpoint's epoch.
pub(crate) fn evaluate_dir(
    run_dir: &Path,
    data_dir: Option<&Path>,
    mode: EvalMode,
    repeats: usize,
    limit: usize,
    seed: u64,
) -> Result<(AccuracyReport, usize)> {
    let (cfg, net, epoch) = load_run(run_dir)?;
    let data = super::load_mnist(data_dir)?;
    let n = if limit > 0 { limit } else { cfg.eval.test_limit };
    let test = FfData::mnist_test(&data, n)?;
    let r = evaluate(&net, &test, mode, repeats, cfg.train.chunks, seed)?;
    Ok((r, epoch))
}

/// Evaluates the checkpoint of feed-forward run `run_dir` on the MNIST test set (the first
/// `eval.test_limit` images of its configuration) in each `(mode, repeats)`.
pub fn evaluate_run(
    run_dir: &Path,
    data: &Mnist,
    modes: &[(EvalMode, usize)],
    seed: u64,
) -> Result<Vec<AccuracyReport>> {
    let (cfg, net, _) = load_run(run_dir)?;
    let test = FfData::mnist_test(data, cfg.eval.test_limit)?;
    modes
        .iter()
        .map(|&(m, r)| evaluate(&net, &test, m, r, cfg.train.chunks, seed))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mode_is_written_and_compared_as_its_name() {
        for m in [EvalMode::MeanField, EvalMode::Mean, EvalMode::Sampled] {
            assert_eq!(m.to_string(), m.name());
            assert_eq!(serde_json::to_value(m).unwrap(), m.name());
            assert_eq!(m.name().parse::<EvalMode>().unwrap(), m);
            assert!(m == m.name() && m != "eps0");
        }
    }
}
