//! The mean-field gBPTT engine: Gaussian layers propagated through time, forward and exact
//! hand-derived backward (paper Eqs. 4–13, docs/MODEL.md §1.3–1.4).
//!
//! The engine works on the **moment matrices** `(M, V)` of each layer ([`Gaussian`]) and
//! knows nothing of spike-and-slab: the (π, m, Ξ) ↔ (μ, v) map lives in `sas`.
//! Plain BPTT is the `V = None` case of the same code; a layer in the deterministic limit
//! has `var = None`.
//!
//! Dynamics for `t = 1..T` (tensor index `t-1`), with `r = relu(h)`:
//!
//! ```text
//! u_t = M_rec r_{t-1} + M_in x_t + ε_u ∘ sqrt(V_rec r_{t-1}² + V_in x_t²)
//! h_t = (1-α) h_{t-1} + α u_t + sqrt(2ασ²) n_t
//! z_t = M_out r_t + ε_out ∘ sqrt(V_out r_t²)
//! ```
//!
//! A batch is split into a fixed number of chunks of samples; each chunk runs its own time
//! loop on one thread, and the weight gradients of each chunk are accumulated inside its
//! backward loop, one matrix product per block of steps. Chunk results are reduced in chunk
//! order, so results do not depend on the number of threads.

mod chunk;
pub mod layer;
pub mod noise;

use crate::error::{Result, SasError};
use crate::real::Real;
use chunk::ChunkWork;
use noise::NoiseSource;
use rayon::prelude::*;

/// Sizes of a recurrent network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dims {
    /// Hidden units `N`.
    pub n: usize,
    /// Input channels `I`.
    pub i: usize,
    /// Outputs `K`.
    pub k: usize,
}

/// The moment matrices of one Gaussian layer, `rows × cols` row-major (row = receiving unit).
#[derive(Clone, Debug, PartialEq)]
pub struct Gaussian<T> {
    /// Receiving units.
    pub rows: usize,
    /// Sending units.
    pub cols: usize,
    /// Mean `M = μ`.
    pub mu: Vec<T>,
    /// Variance `V = v`, or `None` in the deterministic limit (no `S` term).
    pub var: Option<Vec<T>>,
}

/// The moments of the three layers of a recurrent network.
#[derive(Clone, Debug, PartialEq)]
pub struct NetMoments<T> {
    /// Input layer, `N × I`.
    pub inp: Gaussian<T>,
    /// Recurrent layer, `N × N`.
    pub rec: Gaussian<T>,
    /// Readout, `K × N`.
    pub out: Gaussian<T>,
}

impl<T: Real> NetMoments<T> {
    /// The network's sizes.
    pub fn dims(&self) -> Dims {
        Dims {
            n: self.rec.rows,
            i: self.inp.cols,
            k: self.out.rows,
        }
    }

    fn validate(&self) -> Result<()> {
        let d = self.dims();
        for (name, g, r, c) in [
            ("in", &self.inp, d.n, d.i),
            ("rec", &self.rec, d.n, d.n),
            ("out", &self.out, d.k, d.n),
        ] {
            if g.rows != r || g.cols != c || g.mu.len() != r * c {
                return Err(SasError::Shape {
                    name: format!("{name} moments"),
                    got: vec![g.rows, g.cols],
                    expected: vec![r, c],
                });
            }
            if let Some(v) = &g.var
                && v.len() != r * c
            {
                return Err(SasError::Shape {
                    name: format!("{name} variance"),
                    got: vec![v.len()],
                    expected: vec![r, c],
                });
            }
        }
        Ok(())
    }
}

/// Gradients with respect to the moments of one layer.
#[derive(Clone, Debug, PartialEq)]
pub struct GaussianGrad<T> {
    /// `∂L/∂M`, `rows × cols`.
    pub mu: Vec<T>,
    /// `∂L/∂V`, `rows × cols`, or `None` for a deterministic layer.
    pub var: Option<Vec<T>>,
}

/// Moment gradients of the three layers.
#[derive(Clone, Debug, PartialEq)]
pub struct NetGrads<T> {
    /// Input layer, `N × I`.
    pub inp: GaussianGrad<T>,
    /// Recurrent layer, `N × N`.
    pub rec: GaussianGrad<T>,
    /// Readout, `K × N`.
    pub out: GaussianGrad<T>,
}

/// The loss and its targets.
#[derive(Clone, Copy, Debug)]
pub enum Targets<'a, T> {
    /// Softmax cross-entropy on the last step: `target` is `[B, K]` (one-hot for labels);
    /// `L = -(1/B) Σ target · ln softmax(z_T)`.
    CrossEntropyLast(&'a [T]),
    /// Masked squared error over time: `y` and `mask` are `[T, B, K]`;
    /// `L = 1/(2BT) Σ (mask ∘ (z - y))²`.
    MaskedMse {
        /// Targets `[T, B, K]`.
        y: &'a [T],
        /// Mask `[T, B, K]`.
        mask: &'a [T],
    },
    /// Softmax cross-entropy at every scored step (NeuroGym's convention, docs/MODEL.md §1.5):
    /// `labels` and `mask` are `[T, B]`;
    /// `L = -(1/Σmask) Σ_{t,b} mask[t,b] · ln softmax(z_{t,b})[labels[t,b]]`.
    /// Labels must be `< K` at every step (scored or not), the mask finite and `≥ 0` with a
    /// positive sum (else [`Engine::run`] fails before any work).
    CrossEntropySteps {
        /// Class per step and trial, `[T, B]`.
        labels: &'a [usize],
        /// Weight per step and trial, `[T, B]` (0 = not scored).
        mask: &'a [T],
    },
    /// No loss (forward only).
    None,
}

/// One batch of trials.
#[derive(Clone, Copy, Debug)]
pub struct Batch<'a, T> {
    /// Time steps `T`.
    pub steps: usize,
    /// Batch size `B`.
    pub size: usize,
    /// Complete input `x`, `[T, B, I]` (baseline and input noise already added).
    pub x: &'a [T],
    /// Initial hidden current `h(0)`, `[B, N]`.
    pub h0: &'a [T],
    /// Loss targets.
    pub targets: Targets<'a, T>,
}

/// Engine settings that are not weights.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EngineConfig {
    /// Leak `α = Δt/τ`.
    pub alpha: f64,
    /// Recurrent noise scale `σ` (the noise term is `sqrt(2ασ²) n`).
    pub sigma: f64,
    /// Number of sample chunks a batch is split into (each runs on one thread).
    /// Results depend on this number, never on the thread count.
    pub chunks: usize,
}

/// What a run should compute besides the loss.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// Compute the gradients (keeps the forward history: memory `O(T·B·N)`).
    pub grad: bool,
    /// Return the readout at every step, not only at the scored ones.
    pub all_outputs: bool,
    /// Return the rates `r_t` of every step (`[T+1, B, N]`, for analyses).
    pub rates: bool,
}

/// Result of one run of the engine over a batch.
#[derive(Clone, Debug)]
pub struct RunOutput<T> {
    /// Loss (0 when there are no targets).
    pub loss: f64,
    /// Time indices (0-based) at which the readout was computed.
    pub out_steps: Vec<usize>,
    /// Readout `z`, `[out_steps.len(), B, K]`.
    pub z: Vec<T>,
    /// Moment gradients when [`RunOptions::grad`] was set.
    pub grads: Option<NetGrads<T>>,
    /// Rates `[T+1, B, N]` (index 0 = `relu(h0)`) when [`RunOptions::rates`] was set.
    pub rates: Option<Vec<T>>,
}

/// The engine: configuration plus reusable per-chunk work buffers.
pub struct Engine<T> {
    cfg: EngineConfig,
    work: Vec<ChunkWork<T>>,
}

impl<T: Real> Engine<T> {
    /// A new engine; buffers are allocated on first use and reused afterwards.
    pub fn new(cfg: EngineConfig) -> Result<Self> {
        if !(cfg.alpha > 0.0 && cfg.alpha <= 1.0) {
            return Err(SasError::InvalidArgument {
                name: "alpha".into(),
                reason: format!("{} is not in (0, 1]", cfg.alpha),
            });
        }
        if !(cfg.sigma >= 0.0 && cfg.sigma.is_finite()) {
            return Err(SasError::InvalidArgument {
                name: "sigma".into(),
                reason: format!("{} is not a finite value ≥ 0", cfg.sigma),
            });
        }
        if cfg.chunks == 0 {
            return Err(SasError::InvalidArgument {
                name: "chunks".into(),
                reason: "must be at least 1".into(),
            });
        }
        Ok(Engine {
            cfg,
            work: Vec::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> EngineConfig {
        self.cfg
    }

    /// Runs the network over `batch`: forward, loss, and (if asked) the exact gradients.
    pub fn run(
        &mut self,
        net: &NetMoments<T>,
        batch: &Batch<'_, T>,
        noise: &dyn NoiseSource<T>,
        opts: RunOptions,
    ) -> Result<RunOutput<T>> {
        net.validate()?;
        let d = net.dims();
        check_batch(batch, d)?;
        let (tt, bsz) = (batch.steps, batch.size);
        let out_steps: Vec<usize> = match batch.targets {
            Targets::MaskedMse { .. } | Targets::CrossEntropySteps { .. } => (0..tt).collect(),
            _ if opts.all_outputs => (0..tt).collect(),
            _ => vec![tt - 1],
        };
        let nchunks = self.cfg.chunks.min(bsz).max(1);
        let ranges: Vec<(usize, usize)> = (0..nchunks)
            .map(|c| (c * bsz / nchunks, (c + 1) * bsz / nchunks))
            .collect();
        while self.work.len() < nchunks {
            self.work.push(ChunkWork::default());
        }
        let cfg = self.cfg;
        let steps = &out_steps;
        self.work[..nchunks]
            .par_iter_mut()
            .zip(ranges.par_iter())
            .for_each(|(w, &(b0, b1))| {
                let mut cn = noise.chunk(b0, b1 - b0);
                w.run(&cfg, net, batch, b0, b1 - b0, steps, cn.as_mut(), opts);
            });
        // Reduce in chunk order.
        let work = &self.work[..nchunks];
        let loss: f64 = work.iter().map(|w| w.loss).sum();
        if !loss.is_finite() {
            return Err(SasError::InvalidValue {
                name: "loss".into(),
                reason: format!("the loss is {loss} (diverged or invalid inputs)"),
            });
        }
        let k = d.k;
        let mut z = vec![T::ZERO; steps.len() * bsz * k];
        for (w, &(b0, b1)) in work.iter().zip(&ranges) {
            let nb = b1 - b0;
            for s in 0..steps.len() {
                let dst = (s * bsz + b0) * k;
                z[dst..dst + nb * k].copy_from_slice(&w.z[s * nb * k..(s + 1) * nb * k]);
            }
        }
        let rates = opts.rates.then(|| {
            let n = d.n;
            let mut r = vec![T::ZERO; (tt + 1) * bsz * n];
            for (w, &(b0, b1)) in work.iter().zip(&ranges) {
                let nb = b1 - b0;
                for t in 0..=tt {
                    let dst = (t * bsz + b0) * n;
                    r[dst..dst + nb * n].copy_from_slice(&w.r[t * nb * n..(t + 1) * nb * n]);
                }
            }
            r
        });
        let grads = opts.grad.then(|| {
            let mut g = work[0].grads(net);
            for w in &work[1..] {
                w.add_grads_to(&mut g);
            }
            g
        });
        Ok(RunOutput {
            loss,
            out_steps,
            z,
            grads,
            rates,
        })
    }
}

fn check_batch<T: Real>(b: &Batch<'_, T>, d: Dims) -> Result<()> {
    let shape = |name: &str, got: usize, expected: Vec<usize>| -> Result<()> {
        if got != expected.iter().product::<usize>() {
            return Err(SasError::Shape {
                name: name.into(),
                got: vec![got],
                expected,
            });
        }
        Ok(())
    };
    if b.steps == 0 || b.size == 0 {
        return Err(SasError::InvalidValue {
            name: "batch".into(),
            reason: format!("needs T ≥ 1 and B ≥ 1, got T = {}, B = {}", b.steps, b.size),
        });
    }
    shape("x", b.x.len(), vec![b.steps, b.size, d.i])?;
    shape("h0", b.h0.len(), vec![b.size, d.n])?;
    match b.targets {
        Targets::CrossEntropyLast(y) => shape("target", y.len(), vec![b.size, d.k])?,
        Targets::MaskedMse { y, mask } => {
            shape("target", y.len(), vec![b.steps, b.size, d.k])?;
            shape("mask", mask.len(), vec![b.steps, b.size, d.k])?;
        }
        Targets::CrossEntropySteps { labels, mask } => {
            shape("labels", labels.len(), vec![b.steps, b.size])?;
            shape("mask", mask.len(), vec![b.steps, b.size])?;
            let at = |e: usize| format!("step {}, trial {}", e / b.size, e % b.size);
            if let Some(e) = labels.iter().position(|&l| l >= d.k) {
                return Err(SasError::InvalidValue {
                    name: "labels".into(),
                    reason: format!("label {} at {} is ≥ outputs K = {}", labels[e], at(e), d.k),
                });
            }
            if let Some(e) = mask.iter().position(|m| !(m.to_f64() >= 0.0 && m.is_finite())) {
                return Err(SasError::InvalidValue {
                    name: "mask".into(),
                    reason: format!("{} at {} is not a finite value ≥ 0", mask[e].to_f64(), at(e)),
                });
            }
            if mask_sum(mask) <= 0.0 {
                return Err(SasError::InvalidValue {
                    name: "mask".into(),
                    reason: "the mask sums to 0: no step is scored".into(),
                });
            }
        }
        Targets::None => {}
    }
    Ok(())
}

/// `Σ mask` in f64, summed in index order (every chunk computes the same value).
pub(crate) fn mask_sum<T: Real>(mask: &[T]) -> f64 {
    mask.iter().map(|m| m.to_f64()).sum()
}
