//! Forward pass, loss and exact gradients of a feed-forward Gaussian-layer network over a
//! batch (module docs of [`crate::ff`] give the equations).
//!
//! The engine works on the moment matrices (`&[Gaussian<T>]`, layer `l` is `n_{l+1} × n_l`)
//! and knows nothing of spike-and-slab. Every layer uses the scale `1/sqrt(n_l)`. A batch is
//! split into a fixed number of contiguous chunks of samples; each chunk runs the whole
//! forward and backward pass on one rayon thread with its own reusable buffers, and the
//! chunks' losses and weight gradients are reduced in chunk order — so results depend on the
//! number of chunks, never on the number of threads.

use super::layer_name;
use crate::engine::layer::LayerWork;
use crate::engine::{Gaussian, GaussianGrad};
use crate::error::{Result, SasError};
use crate::real::Real;
use crate::rng::{NormalStream, derive_seed};
use rayon::prelude::*;

/// The standard-normal draws `ε_l` of a batch.
#[derive(Clone, Copy, Debug)]
pub enum LayerNoise<'a, T> {
    /// Fresh draws: `ε_l` of the chunk starting at sample `b0` comes from the stream
    /// `derive_seed(seed, [l, b0])`.
    Random {
        /// Seed of this batch's noise.
        seed: u64,
    },
    /// `ε = 0` (for the feed-forward network this equals the mean network `w = μ`).
    Zero,
    /// Given draws: `eps[l]` is `[B, n_{l+1}]` (the verification interface and tests).
    Given(&'a [Vec<T>]),
}

/// What one run of the engine returns.
#[derive(Clone, Debug)]
pub struct ForwardOutput<T> {
    /// Mean cross-entropy over the batch (0 without targets).
    pub loss: f64,
    /// Logits `z`, `[B, n_L]`.
    pub z: Vec<T>,
    /// Moment gradients `∂L/∂M_l`, `∂L/∂V_l` of every layer (gradient runs only).
    pub grads: Option<Vec<GaussianGrad<T>>>,
}

/// Buffers and partial results of one chunk of samples.
#[derive(Default)]
struct Chunk<T> {
    layers: Vec<LayerWork<T>>,
    /// `pre_l`, `[nb, n_{l+1}]`.
    pre: Vec<Vec<T>>,
    /// `a_l = relu(pre_{l-1})` for `l ≥ 1`, `[nb, n_l]` (index 0 unused: `a_0` is the input).
    act: Vec<Vec<T>>,
    /// `∂L/∂pre_l`, `[nb, n_{l+1}]`.
    g: Vec<Vec<T>>,
    dmu: Vec<Vec<T>>,
    dvar: Vec<Vec<T>>,
    loss: f64,
}

fn fit<T: Real>(v: &mut Vec<T>, len: usize) {
    if v.len() != len {
        v.clear();
        v.resize(len, T::ZERO);
    }
}

/// The engine: the number of chunks and reusable per-chunk buffers.
pub struct FfEngine<T> {
    chunks: usize,
    work: Vec<Chunk<T>>,
}

impl<T: Real> FfEngine<T> {
    /// An engine splitting every batch into `chunks` chunks (at most one per sample).
    pub fn new(chunks: usize) -> Result<Self> {
        if chunks == 0 {
            return Err(SasError::InvalidArgument {
                name: "chunks".into(),
                reason: "must be at least 1".into(),
            });
        }
        Ok(FfEngine {
            chunks,
            work: Vec::new(),
        })
    }

    /// Runs `net` on the batch `x` (`[batch, n_0]`): logits, and with `target` (`[batch, n_L]`,
    /// one-hot for labels) the loss `-(1/B) Σ target · ln softmax(z)`; with `grad` (needs
    /// `target`) the exact moment gradients.
    pub fn run(
        &mut self,
        net: &[Gaussian<T>],
        x: &[T],
        batch: usize,
        target: Option<&[T]>,
        noise: LayerNoise<'_, T>,
        grad: bool,
    ) -> Result<ForwardOutput<T>> {
        check(net, x, batch, target, noise)?;
        if grad && target.is_none() {
            return Err(SasError::InvalidArgument {
                name: "target".into(),
                reason: "a gradient run needs targets".into(),
            });
        }
        let n0 = net[0].cols;
        let k = net[net.len() - 1].rows;
        let nchunks = self.chunks.min(batch);
        let ranges: Vec<(usize, usize)> = (0..nchunks)
            .map(|c| (c * batch / nchunks, (c + 1) * batch / nchunks))
            .collect();
        while self.work.len() < nchunks {
            self.work.push(Chunk::default());
        }
        let scales: Vec<T> = net
            .iter()
            .map(|g| T::from_f64(1.0 / (g.cols as f64).sqrt()))
            .collect();
        self.work[..nchunks]
            .par_iter_mut()
            .zip(ranges.par_iter())
            .for_each(|(w, &(b0, b1))| {
                let nb = b1 - b0;
                let tc = target.map(|t| &t[b0 * k..b1 * k]);
                w.run(net, &scales, &x[b0 * n0..b1 * n0], b0, nb, batch, tc, noise, grad);
            });
        let work = &self.work[..nchunks];
        let loss: f64 = work.iter().map(|w| w.loss).sum();
        if !loss.is_finite() {
            return Err(SasError::Numerical {
                name: "loss".into(),
                reason: format!("the loss is {loss} (diverged or invalid inputs)"),
            });
        }
        let mut z = Vec::with_capacity(batch * k);
        for w in work {
            z.extend_from_slice(&w.pre[net.len() - 1]);
        }
        let grads = grad.then(|| {
            let mut g: Vec<GaussianGrad<T>> = (0..net.len())
                .map(|l| GaussianGrad {
                    mu: work[0].dmu[l].clone(),
                    var: net[l].var.is_some().then(|| work[0].dvar[l].clone()),
                })
                .collect();
            for w in &work[1..] {
                for (l, gl) in g.iter_mut().enumerate() {
                    add(&mut gl.mu, &w.dmu[l]);
                    if let Some(v) = &mut gl.var {
                        add(v, &w.dvar[l]);
                    }
                }
            }
            g
        });
        Ok(ForwardOutput { loss, z, grads })
    }
}

fn add<T: Real>(dst: &mut [T], src: &[T]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d += s;
    }
}

fn check<T: Real>(
    net: &[Gaussian<T>],
    x: &[T],
    batch: usize,
    target: Option<&[T]>,
    noise: LayerNoise<'_, T>,
) -> Result<()> {
    let shape = |name: String, got: usize, expected: Vec<usize>| -> Result<()> {
        if got != expected.iter().product::<usize>() {
            return Err(SasError::Shape {
                name,
                got: vec![got],
                expected,
            });
        }
        Ok(())
    };
    if net.is_empty() {
        return Err(SasError::InvalidArgument {
            name: "network".into(),
            reason: "has no layers".into(),
        });
    }
    if batch == 0 {
        return Err(SasError::InvalidArgument {
            name: "batch".into(),
            reason: "needs at least one sample".into(),
        });
    }
    for (l, g) in net.iter().enumerate() {
        let name = layer_name(l);
        if g.cols == 0 || g.rows == 0 {
            return Err(SasError::Shape {
                name: format!("{name} moments"),
                got: vec![g.rows, g.cols],
                expected: vec![g.rows.max(1), g.cols.max(1)],
            });
        }
        if l > 0 && g.cols != net[l - 1].rows {
            return Err(SasError::Shape {
                name: format!("{name} moments"),
                got: vec![g.rows, g.cols],
                expected: vec![g.rows, net[l - 1].rows],
            });
        }
        shape(format!("{name} mean"), g.mu.len(), vec![g.rows, g.cols])?;
        if let Some(v) = &g.var {
            shape(format!("{name} variance"), v.len(), vec![g.rows, g.cols])?;
        }
    }
    shape("x".into(), x.len(), vec![batch, net[0].cols])?;
    if let Some(t) = target {
        shape("target".into(), t.len(), vec![batch, net[net.len() - 1].rows])?;
    }
    if let LayerNoise::Given(eps) = noise {
        if eps.len() != net.len() {
            return Err(SasError::Shape {
                name: "eps".into(),
                got: vec![eps.len()],
                expected: vec![net.len()],
            });
        }
        for (l, (e, g)) in eps.iter().zip(net).enumerate() {
            shape(format!("eps.{}", layer_name(l)), e.len(), vec![batch, g.rows])?;
        }
    }
    Ok(())
}

impl<T: Real> Chunk<T> {
    /// Forward (and backward) pass of samples `b0 .. b0+nb`; `x` and `target` are the chunk's
    /// rows; `bsz` is the whole batch size (the loss is normalized by it).
    #[allow(clippy::too_many_arguments)]
    fn run(
        &mut self,
        net: &[Gaussian<T>],
        scales: &[T],
        x: &[T],
        b0: usize,
        nb: usize,
        bsz: usize,
        target: Option<&[T]>,
        noise: LayerNoise<'_, T>,
        grad: bool,
    ) {
        let nl = net.len();
        self.layers.resize_with(nl, LayerWork::default);
        self.pre.resize_with(nl, Vec::new);
        self.act.resize_with(nl, Vec::new);
        self.g.resize_with(nl, Vec::new);
        self.dmu.resize_with(nl, Vec::new);
        self.dvar.resize_with(nl, Vec::new);

        // ---- forward ----------------------------------------------------------------
        for l in 0..nl {
            let g = &net[l];
            fit(&mut self.pre[l], nb * g.rows);
            let a: &[T] = if l == 0 { x } else { &self.act[l] };
            let fill = |e: &mut [T]| match noise {
                LayerNoise::Random { seed } => {
                    NormalStream::new(derive_seed(seed, &[l as u64, b0 as u64])).fill(e)
                }
                LayerNoise::Zero => e.fill(T::ZERO),
                LayerNoise::Given(eps) => e.copy_from_slice(&eps[l][b0 * g.rows..(b0 + nb) * g.rows]),
            };
            self.layers[l].forward(g, a, nb, scales[l], fill, &mut self.pre[l]);
            if l + 1 < nl {
                let (pre, act) = (&self.pre[l], &mut self.act[l + 1]);
                fit(act, nb * g.rows);
                for (o, &p) in act.iter_mut().zip(pre) {
                    *o = if p > T::ZERO { p } else { T::ZERO };
                }
            }
        }

        // ---- loss and ∂L/∂z -----------------------------------------------------------
        self.loss = 0.0;
        let k = net[nl - 1].rows;
        let Some(y) = target else {
            return;
        };
        fit(&mut self.g[nl - 1], nb * k);
        let inv_b = 1.0 / bsz as f64;
        let z = &self.pre[nl - 1];
        for j in 0..nb {
            let zr = &z[j * k..(j + 1) * k];
            let yr = &y[j * k..(j + 1) * k];
            let zmax = zr.iter().fold(f64::NEG_INFINITY, |a, &v| a.max(v.to_f64()));
            let sum_exp: f64 = zr.iter().map(|&v| (v.to_f64() - zmax).exp()).sum();
            let lse = zmax + sum_exp.ln();
            let ysum: f64 = yr.iter().map(|v| v.to_f64()).sum();
            let gr = &mut self.g[nl - 1][j * k..(j + 1) * k];
            for c in 0..k {
                let (zc, yc) = (zr[c].to_f64(), yr[c].to_f64());
                self.loss -= yc * (zc - lse) * inv_b;
                gr[c] = T::from_f64(((zc - lse).exp() * ysum - yc) * inv_b);
            }
        }
        if !grad {
            return;
        }

        // ---- backward -------------------------------------------------------------------
        for l in (0..nl).rev() {
            let g = &net[l];
            fit(&mut self.dmu[l], g.rows * g.cols);
            fit(
                &mut self.dvar[l],
                if g.var.is_some() { g.rows * g.cols } else { 0 },
            );
            let (lo, hi) = self.g.split_at_mut(l);
            let g_pre = &hi[0];
            let a: &[T] = if l == 0 { x } else { &self.act[l] };
            let da = if l > 0 {
                let d = &mut lo[l - 1];
                fit(d, nb * g.cols);
                Some(d.as_mut_slice())
            } else {
                None
            };
            let dvar = g.var.is_some().then_some(self.dvar[l].as_mut_slice());
            self.layers[l].backward(g, a, nb, scales[l], g_pre, da, &mut self.dmu[l], dvar, false);
            if l > 0 {
                // ∂L/∂pre_{l-1} = ∂L/∂a_l ∘ relu'(pre_{l-1})  (relu'(0) = 0).
                for (d, &p) in lo[l - 1].iter_mut().zip(&self.pre[l - 1]) {
                    if p <= T::ZERO {
                        *d = T::ZERO;
                    }
                }
            }
        }
    }
}
