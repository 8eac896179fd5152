//! Feed-forward spike-and-slab ensembles ("Learning credit assignment", docs/MODEL.md §7).
//!
//! A network of any depth, layer sizes `[n_0, n_1, …, n_L]` (e.g. `[784, 100, 100, 10]`),
//! every layer `l` a [`SasLayer`] of shape `n_{l+1} × n_l` (row = receiving unit) and
//! stochastic. With `a_0 = x` `[B, n_0]`, for `l = 0..L`:
//!
//! ```text
//! pre_l = (a_l M_lᵀ + ε_l ∘ sqrt((a_l∘a_l) V_lᵀ)) / sqrt(n_l)     ε_l ~ N(0,1) [B, n_{l+1}]
//! a_{l+1} = relu(pre_l)   (hidden layers)        z = pre_{L-1}   (logits)
//! L = -(1/B) Σ target · ln softmax(z)
//! ```
//!
//! with `M = μ = (1-π) m` and `V = v = (1-π) Ξ + π (1-π) m²` ([`crate::sas`]). Each layer is
//! the shared Gaussian-layer primitive [`crate::engine::layer::LayerWork`]; [`engine`] runs a
//! batch split into fixed chunks on rayon threads (results independent of the thread count),
//! [`model`] is the network as a model of the one training loop (`run::fit`), its checkpoint and
//! run directory, [`mod@eval`] the evaluation
//! modes, [`optim`] the shared optimizer's feed-forward settings. The analyses of feed-forward
//! runs are in `analysis::ff`, their reproduction in `pipeline::ff`.

pub mod config;
pub mod engine;
pub mod eval;
pub mod model;
pub mod optim;

pub use config::FfConfig;
pub use engine::{FfEngine, ForwardOutput, LayerNoise};
pub use eval::{AccuracyReport, EvalMode, evaluate, evaluate_run};
pub use model::{RunSummary, fit_data as train_data, fit_mnist as train_mnist, fit_new as train, load_run};

use crate::engine::{Gaussian, GaussianGrad};
use crate::error::{Result, SasError};
use crate::io::idx::Images;
use crate::real::Real;
use crate::sas::{SasGrad, SasLayer};
use crate::task::mnist::Mnist;

/// Loads MNIST from `dir` (the `--data` argument or `SASNET_DATA`); a clear error when none
/// is given.
pub(crate) fn load_mnist(dir: Option<&std::path::Path>) -> Result<Mnist> {
    let dir = dir.ok_or_else(|| SasError::DataDirRequired {
        what: "a feed-forward MNIST run".into(),
    })?;
    Mnist::load(dir)
}

/// Name of layer `l` in checkpoints and outputs: `l0`, `l1`, ….
pub(crate) fn layer_name(l: usize) -> String {
    format!("l{l}")
}

/// A feed-forward spike-and-slab network; layer `l` is `n_{l+1} × n_l`.
#[derive(Clone, Debug, PartialEq)]
pub struct FfNet<T> {
    /// The layers from input to output.
    pub layers: Vec<SasLayer<T>>,
}

impl<T: Real> FfNet<T> {
    /// A network of zeros with widths `sizes` (`[n_0, …, n_L]`).
    pub fn zeros(sizes: &[usize]) -> Self {
        FfNet {
            layers: sizes.windows(2).map(|w| SasLayer::zeros(w[1], w[0])).collect(),
        }
    }

    /// The widths `[n_0, …, n_L]` (empty for a network without layers).
    pub fn sizes(&self) -> Vec<usize> {
        let mut s: Vec<usize> = self.layers.first().map(|l| vec![l.cols]).unwrap_or_default();
        s.extend(self.layers.iter().map(|l| l.rows));
        s
    }

    /// Checks shapes (consecutive layers fit), finiteness, `π ∈ [0,1]` and `Ξ ≥ 0`.
    pub fn validate(&self) -> Result<()> {
        if self.layers.is_empty() {
            return Err(SasError::InvalidArgument {
                name: "network".into(),
                reason: "has no layers".into(),
            });
        }
        for (l, layer) in self.layers.iter().enumerate() {
            layer.validate(&layer_name(l))?;
            if l > 0 && layer.cols != self.layers[l - 1].rows {
                return Err(SasError::Shape {
                    name: format!("{}.m", layer_name(l)),
                    got: vec![layer.rows, layer.cols],
                    expected: vec![layer.rows, self.layers[l - 1].rows],
                });
            }
        }
        Ok(())
    }

    /// The moment matrices `(μ, v)` of every layer (all stochastic).
    pub fn moments(&self) -> Vec<Gaussian<T>> {
        self.layers.iter().map(|l| l.moments(true)).collect()
    }

    /// The mean network: concrete weights `w = μ` (no variance term).
    pub fn mean_network(&self) -> Vec<Gaussian<T>> {
        self.layers.iter().map(|l| l.moments(false)).collect()
    }

    /// Chain rule from the moment gradients of every layer to `(m, π, Ξ)` gradients.
    pub fn chain(&self, grads: &[GaussianGrad<T>]) -> Vec<SasGrad<T>> {
        self.layers
            .iter()
            .zip(grads)
            .map(|(l, g)| l.chain(&g.mu, g.var.as_deref()))
            .collect()
    }

    /// Total number of connections.
    pub fn connections(&self) -> usize {
        self.layers.iter().map(|l| l.rows * l.cols).sum()
    }
}

/// A labelled data set for a feed-forward network: `count` rows of `dim` inputs.
#[derive(Clone, Debug, PartialEq)]
pub struct FfData {
    /// Number of examples.
    pub count: usize,
    /// Inputs per example.
    pub dim: usize,
    /// Inputs `[count, dim]`, row-major (MNIST: pixels / 255).
    pub x: Vec<f32>,
    /// Class labels, one per example.
    pub labels: Vec<u8>,
}

impl FfData {
    /// A data set from `x` `[count, dim]` and `labels`; checks the lengths and finiteness.
    pub fn new(dim: usize, x: Vec<f32>, labels: Vec<u8>) -> Result<FfData> {
        if dim == 0 || x.len() != labels.len() * dim {
            return Err(SasError::Shape {
                name: "x".into(),
                got: vec![x.len()],
                expected: vec![labels.len(), dim],
            });
        }
        if let Some(i) = x.iter().position(|v| !v.is_finite()) {
            return Err(SasError::InvalidTensor {
                name: "x".into(),
                reason: format!("entry {i} is not finite"),
            });
        }
        Ok(FfData {
            count: labels.len(),
            dim,
            x,
            labels,
        })
    }

    /// The first `limit` images (0 = all) as pixels / 255.
    pub fn from_images(images: &Images, labels: &[u8], limit: usize) -> Result<FfData> {
        let n = if limit == 0 {
            images.count
        } else {
            limit.min(images.count)
        };
        let dim = images.pixels_per_image();
        let x = images.pixels[..n * dim]
            .iter()
            .map(|&p| p as f32 / 255.0)
            .collect();
        FfData::new(dim, x, labels[..n].to_vec())
    }

    /// The first `limit` MNIST training images (0 = all 60,000).
    pub fn mnist_train(m: &Mnist, limit: usize) -> Result<FfData> {
        FfData::from_images(&m.train, &m.train_labels, limit)
    }

    /// The first `limit` MNIST test images (0 = all 10,000).
    pub fn mnist_test(m: &Mnist, limit: usize) -> Result<FfData> {
        FfData::from_images(&m.test, &m.test_labels, limit)
    }

    /// The examples `idx`: inputs `[idx.len(), dim]` into `x` and one-hot targets
    /// `[idx.len(), classes]` into `y` (both resized as needed).
    pub fn gather(&self, idx: &[usize], classes: usize, x: &mut Vec<f32>, y: &mut Vec<f32>) {
        x.clear();
        y.clear();
        y.resize(idx.len() * classes, 0.0);
        for (r, &i) in idx.iter().enumerate() {
            x.extend_from_slice(&self.x[i * self.dim..(i + 1) * self.dim]);
            y[r * classes + self.labels[i] as usize] = 1.0;
        }
    }

    /// One-hot targets `[count, classes]` of the whole set.
    pub fn one_hot(&self, classes: usize) -> Vec<f32> {
        let mut y = vec![0.0; self.count * classes];
        for (r, &l) in self.labels.iter().enumerate() {
            y[r * classes + l as usize] = 1.0;
        }
        y
    }
}

/// Index of the largest entry of each row of `z` (`[rows, k]`); ties go to the first.
pub(crate) fn argmax_rows<T: Real>(z: &[T], k: usize) -> Vec<usize> {
    z.chunks_exact(k)
        .map(|r| {
            let mut best = 0;
            for (i, &v) in r.iter().enumerate() {
                if v > r[best] {
                    best = i;
                }
            }
            best
        })
        .collect()
}

/// Fraction of rows of `z` (`[count, k]`) whose largest entry is the label.
pub fn accuracy<T: Real>(z: &[T], k: usize, labels: &[u8]) -> f64 {
    let hits = argmax_rows(z, k)
        .iter()
        .zip(labels)
        .filter(|(a, l)| **a == **l as usize)
        .count();
    hits as f64 / labels.len().max(1) as f64
}

impl crate::sas::Ensemble for FfNet<f32> {
    fn named_layers(&self) -> Vec<(String, &SasLayer<f32>)> {
        self.layers
            .iter()
            .enumerate()
            .map(|(i, l)| (layer_name(i), l))
            .collect()
    }

    fn named_layers_mut(&mut self) -> Vec<(String, &mut SasLayer<f32>)> {
        self.layers
            .iter_mut()
            .enumerate()
            .map(|(i, l)| (layer_name(i), l))
            .collect()
    }

    fn is_stochastic(&self, _l: usize) -> bool {
        true
    }
}
