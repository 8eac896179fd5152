//! Finite networks in the NTK parametrization, run by the mean-field engine: per-sample
//! gradients of the output, the empirical tangent kernel `Θ̂`, and full-batch gradient
//! descent on the squared loss.
//!
//! A network of width `N` holds `m = σ m̃/√fan` (`m̃ ~ N(0,1)`), `π = π₀` (recurrent and
//! readout; `π_in = 0`) and `Ξ = Ξ̃/fan`, with fan `I` (input layer) or `N`. Every layer runs
//! as a spike-and-slab layer (the engine's variance term is on even where `v = 0`), so the
//! engine's moment gradients `∂z/∂μ`, `∂z/∂v` exist everywhere and
//! [`crate::sas::SasLayer::chain`] turns them into `∂z/∂(m, π, Ξ)`. The NTK scalings are then
//! applied: `∂z/∂m̃ = (σ/√fan) ∂z/∂m`, `∂z/∂Ξ̃ = ∂z/∂Ξ / fan`, `π` unscaled.
//!
//! The per-sample gradient uses `Targets::MaskedMse` on a batch of one with the mask set at
//! the last step only and the target `y_T = z_T − T`, so that
//! `∂L/∂z_T = (z_T − y_T)/(B·T) = 1` and the engine's parameter gradients are those of `z_T`
//! (the engine's semantics are unchanged). The ε draws are fixed tables
//! ([`crate::engine::noise::TensorNoise`]) chosen per sample by [`EpsMode`]; recurrent noise
//! is off (`σ = 0`).

use super::kernel::{EpsMode, NtkParams, ThetaParts};
use crate::engine::noise::TensorNoise;
use crate::engine::{Batch, Engine, EngineConfig, NetMoments, RunOptions, Targets};
use crate::error::{Result, SasError};
use crate::net::SasNet;
use crate::rng::{NormalStream, derive_seed};
use crate::sas::SasLayer;
use serde::Serialize;

/// Stream key of the initial `m̃`.
const KEY_INIT: u64 = 0x7E0_1A17;
/// Stream key of the ε tables.
const KEY_EPS: u64 = 0x7E0_0E95;
/// Draw ids of test inputs start here (training inputs use their index).
pub const TEST_DRAWS: u64 = 1 << 32;
/// Draw ids of the second, independent evaluation of each input in [`EpsMode::Fresh`].
pub const FRESH_DRAWS: u64 = 1 << 33;

/// A finite network of width `N` in the NTK parametrization.
#[derive(Clone, Debug)]
pub struct FiniteNet {
    /// The settings (shared with the analytic kernel).
    pub params: NtkParams,
    /// The spike-and-slab parameters (`m`, `π`, `Ξ` after the NTK scalings).
    pub net: SasNet<f64>,
    /// Seed of the ε tables.
    pub seed: u64,
}

/// Gradients of `z_T` for one input, NTK-scaled, per parameter group (row-major like the
/// layers: `in` is `N × I`, `rec` `N × N`, `out` `1 × N`).
#[derive(Clone, Debug)]
pub struct SampleGrads {
    /// The output `z_T`.
    pub z: f64,
    /// `∂z/∂m̃` of the three layers `[in, rec, out]`.
    pub m: [Vec<f64>; 3],
    /// `∂z/∂π` of the three layers.
    pub pi: [Vec<f64>; 3],
    /// `∂z/∂Ξ̃` of the three layers.
    pub xi: [Vec<f64>; 3],
}

/// `⟨∂z(a)/∂θ, ∂z(b)/∂θ⟩` per parameter group, `[layer]` in the order `in, rec, out`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct GradDots {
    /// `m̃` groups.
    pub m: [f64; 3],
    /// `π` groups.
    pub pi: [f64; 3],
    /// `Ξ̃` groups.
    pub xi: [f64; 3],
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    // Four accumulators: faster and a little more accurate than one.
    let mut s = [0.0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..4 {
            s[k] += x[k] * y[k];
        }
    }
    let tail: f64 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    s[0] + s[1] + s[2] + s[3] + tail
}

impl SampleGrads {
    /// Inner products with `o` per group.
    pub fn dot(&self, o: &SampleGrads) -> GradDots {
        let mut d = GradDots::default();
        for l in 0..3 {
            d.m[l] = dot(&self.m[l], &o.m[l]);
            d.pi[l] = dot(&self.pi[l], &o.pi[l]);
            d.xi[l] = dot(&self.xi[l], &o.xi[l]);
        }
        d
    }
}

/// The empirical kernel of a finite network on `P` inputs; every matrix `P × P` row-major.
#[derive(Clone, Debug, Serialize)]
pub struct EmpiricalKernel {
    /// Inputs `P`.
    pub p: usize,
    /// `Θ̂` over the parameters of the theory: `m̃` of every layer and `π` of `rec`, `out`
    /// (weighted by `pi_lr`).
    pub theta: Vec<f64>,
    /// Its parts, named as in the analytic kernel.
    pub parts: ThetaParts,
    /// `π_in` contribution (not in `Θ̂`: the input layer is held at `π = 0`).
    pub in_pi: Vec<f64>,
    /// `Ξ̃` contributions `[in, rec, out]` (not in `Θ̂`; `rec` and `out` vanish like `1/N`).
    pub xi: [Vec<f64>; 3],
    /// Outputs `z_T` at these parameters.
    pub z: Vec<f64>,
}

/// The input batch `[T, B, I]` of `xs` (each `[T·I]`).
pub(crate) fn batch_x(xs: &[Vec<f64>], steps: usize, i: usize) -> Vec<f64> {
    let b = xs.len();
    let mut x = vec![0.0; steps * b * i];
    for (bi, xv) in xs.iter().enumerate() {
        for t in 0..steps {
            x[(t * b + bi) * i..(t * b + bi + 1) * i].copy_from_slice(&xv[t * i..(t + 1) * i]);
        }
    }
    x
}

fn layer(rows: usize, cols: usize, sigma: f64, pi: f64, xi: f64, seed: u64, key: u64) -> SasLayer<f64> {
    let mut l = SasLayer::zeros(rows, cols);
    NormalStream::new(derive_seed(seed, &[KEY_INIT, key])).fill(&mut l.m);
    let s = sigma / (cols as f64).sqrt();
    for m in l.m.iter_mut() {
        *m *= s;
    }
    l.pi.fill(pi);
    l.xi.fill(xi / cols as f64);
    l
}

impl FiniteNet {
    /// A network of width `n` for inputs with `inputs` channels, `m̃` drawn from `seed`.
    pub fn init(n: usize, inputs: usize, params: &NtkParams, seed: u64) -> Result<FiniteNet> {
        params.validate()?;
        if n == 0 || inputs == 0 {
            return Err(SasError::InvalidArgument {
                name: "theory width".into(),
                reason: format!("needs N ≥ 1 and I ≥ 1, got N = {n}, I = {inputs}"),
            });
        }
        let p = params;
        let net = SasNet {
            inp: layer(n, inputs, p.sigma_in, 0.0, p.xi_in, seed, 0),
            rec: layer(n, n, p.sigma_rec, p.pi0, p.xi_rec, seed, 1),
            out: layer(1, n, p.sigma_out, p.pi0, p.xi_out, seed, 2),
            stochastic: [true; 3],
        };
        Ok(FiniteNet {
            params: *params,
            net,
            seed,
        })
    }

    /// Width `N`.
    pub fn width(&self) -> usize {
        self.net.rec.rows
    }

    /// Input channels `I`.
    pub fn channels(&self) -> usize {
        self.net.inp.cols
    }

    /// The moment matrices; `v` is floored at 0 (it can only dip below when `π` is pushed
    /// below 0 by training, see the module docs of [`crate::theory`]).
    pub fn moments(&self) -> NetMoments<f64> {
        let mut m = self.net.moments();
        for g in [&mut m.inp, &mut m.rec, &mut m.out] {
            if let Some(v) = g.var.as_mut() {
                for x in v.iter_mut() {
                    *x = x.max(0.0);
                }
            }
        }
        m
    }

    /// The ε id actually used for a sample with draw id `draw`.
    fn eps_id(&self, draw: u64) -> u64 {
        match self.params.eps {
            EpsMode::Shared => 0,
            EpsMode::PerSample | EpsMode::Fresh => draw,
        }
    }

    /// ε tables `([T, B, N], [T, B, 1])` for samples with draw ids `draws`.
    fn eps_tables(&self, draws: &[u64]) -> (Vec<f64>, Vec<f64>) {
        let (t, n, b) = (self.params.steps, self.width(), draws.len());
        let mut eu = vec![0.0; t * b * n];
        let mut eo = vec![0.0; t * b];
        let mut row = vec![0.0; t * n];
        let mut orow = vec![0.0; t];
        for (bi, &d) in draws.iter().enumerate() {
            // Separate streams, so that the readout's draws do not depend on N.
            let id = self.eps_id(d);
            NormalStream::new(derive_seed(self.seed, &[KEY_EPS, id, 0])).fill(&mut row);
            NormalStream::new(derive_seed(self.seed, &[KEY_EPS, id, 1])).fill(&mut orow);
            for tt in 0..t {
                eu[(tt * b + bi) * n..(tt * b + bi + 1) * n].copy_from_slice(&row[tt * n..(tt + 1) * n]);
                eo[tt * b + bi] = orow[tt];
            }
        }
        (eu, eo)
    }

    fn check_inputs(&self, xs: &[Vec<f64>], draws: &[u64]) -> Result<()> {
        let len = self.params.steps * self.channels();
        if xs.len() != draws.len() || xs.is_empty() {
            return Err(SasError::Shape {
                name: "theory batch draws".into(),
                got: vec![draws.len()],
                expected: vec![xs.len()],
            });
        }
        if let Some((a, x)) = xs.iter().enumerate().find(|(_, x)| x.len() != len) {
            return Err(SasError::Shape {
                name: format!("theory input {a}"),
                got: vec![x.len()],
                expected: vec![self.params.steps, self.channels()],
            });
        }
        Ok(())
    }

    fn engine(&self, batch: usize) -> Result<Engine<f64>> {
        Engine::new(EngineConfig {
            alpha: self.params.alpha,
            sigma: 0.0,
            chunks: batch.clamp(1, 4),
        })
    }

    /// Runs the engine on the inputs `xs` (each `[T·I]`) with draw ids `draws`; with `y`
    /// (one target per input), the squared loss on the last step and its moment gradients.
    fn run(
        &self,
        xs: &[Vec<f64>],
        draws: &[u64],
        y: Option<&[f64]>,
    ) -> Result<crate::engine::RunOutput<f64>> {
        self.check_inputs(xs, draws)?;
        let (t, n, b) = (self.params.steps, self.width(), xs.len());
        let x = batch_x(xs, t, self.channels());
        let h0 = vec![0.0; b * n];
        let (eu, eo) = self.eps_tables(draws);
        let zeros = vec![0.0; t * b * n];
        let noise = TensorNoise {
            batch: b,
            n,
            k: 1,
            eps_u: &eu,
            eps_out: &eo,
            noise_rec: &zeros,
        };
        let mut yt = vec![0.0; t * b];
        let mut mask = vec![0.0; t * b];
        if let Some(y) = y {
            for bi in 0..b {
                yt[(t - 1) * b + bi] = y[bi];
                mask[(t - 1) * b + bi] = 1.0;
            }
        }
        let batch = Batch {
            steps: t,
            size: b,
            x: &x,
            h0: &h0,
            targets: match y {
                Some(_) => Targets::MaskedMse { y: &yt, mask: &mask },
                None => Targets::None,
            },
        };
        let opts = RunOptions {
            grad: y.is_some(),
            ..RunOptions::default()
        };
        self.engine(b)?.run(&self.moments(), &batch, &noise, opts)
    }

    /// Outputs `z_T` of the inputs `xs` (each `[T·I]`) with draw ids `draws`.
    pub fn outputs(&self, xs: &[Vec<f64>], draws: &[u64]) -> Result<Vec<f64>> {
        Ok(self.run(xs, draws, None)?.z)
    }

    /// Squared-loss gradients `∂L/∂(m, π, Ξ)` of `L = ½ Σ_b (z_T(b) − y_b)²` over the batch,
    /// and the outputs. Returns `(z, grads)`.
    pub fn loss_grads(
        &self,
        xs: &[Vec<f64>],
        draws: &[u64],
        y: &[f64],
    ) -> Result<(Vec<f64>, crate::net::SasNetGrad<f64>)> {
        let out = self.run(xs, draws, Some(y))?;
        let (t, b) = (self.params.steps, xs.len());
        let g = out.grads.ok_or_else(|| SasError::Numerical {
            name: "theory gradients".into(),
            reason: "the engine returned no gradients".into(),
        })?;
        let mut pg = self.net.chain(&g);
        // The engine's loss is 1/(2BT) Σ; ours is ½ Σ.
        let scale = (b * t) as f64;
        for l in [&mut pg.inp, &mut pg.rec, &mut pg.out] {
            for v in [&mut l.m, &mut l.pi, &mut l.xi] {
                for x in v.iter_mut() {
                    *x *= scale;
                }
            }
        }
        let z = (0..b).map(|bi| out.z[(t - 1) * b + bi]).collect();
        Ok((z, pg))
    }

    /// NTK-scaled gradients of `z_T` for one input `x` (`[T·I]`) with draw id `draw`.
    pub fn sample_grads(&self, x: &[f64], draw: u64) -> Result<SampleGrads> {
        let xs = [x.to_vec()];
        let z = self.outputs(&xs, &[draw])?[0];
        // L = ½ (z − y)² with y = z − 1 has ∂L/∂z = 1.
        let (_, g) = self.loss_grads(&xs, &[draw], &[z - 1.0])?;
        let p = &self.params;
        let (n, i) = (self.width() as f64, self.channels() as f64);
        let sm = [
            p.sigma_in / i.sqrt(),
            p.sigma_rec / n.sqrt(),
            p.sigma_out / n.sqrt(),
        ];
        let sx = [1.0 / i, 1.0 / n, 1.0 / n];
        let mut out = SampleGrads {
            z,
            m: Default::default(),
            pi: Default::default(),
            xi: Default::default(),
        };
        for (l, lg) in [g.inp, g.rec, g.out].into_iter().enumerate() {
            out.m[l] = lg.m.into_iter().map(|v| v * sm[l]).collect();
            out.pi[l] = lg.pi;
            out.xi[l] = lg.xi.into_iter().map(|v| v * sx[l]).collect();
        }
        Ok(out)
    }

    /// The empirical kernel on `inputs` (each `[T·I]`), input `a` with draw id `a`.
    pub fn empirical_ntk(&self, inputs: &[Vec<f64>]) -> Result<EmpiricalKernel> {
        let draws: Vec<u64> = (0..inputs.len() as u64).collect();
        self.empirical_ntk_draws(inputs, &draws)
    }

    /// The empirical kernel on `inputs` with draw ids `draws` (in [`EpsMode::Fresh`] the
    /// diagonal pairs each input with a second, independent draw).
    pub fn empirical_ntk_draws(&self, inputs: &[Vec<f64>], draws: &[u64]) -> Result<EmpiricalKernel> {
        self.check_inputs(inputs, draws)?;
        let p = inputs.len();
        let grads: Vec<SampleGrads> = inputs
            .iter()
            .zip(draws)
            .map(|(x, &d)| self.sample_grads(x, d))
            .collect::<Result<_>>()?;
        let mut dots = vec![GradDots::default(); p * p];
        for a in 0..p {
            for b in a..p {
                let d = if a == b && self.params.eps == EpsMode::Fresh {
                    grads[a].dot(&self.sample_grads(&inputs[a], FRESH_DRAWS + draws[a])?)
                } else {
                    grads[a].dot(&grads[b])
                };
                dots[a * p + b] = d;
                dots[b * p + a] = d;
            }
        }
        let pick = |f: &dyn Fn(&GradDots) -> f64| dots.iter().map(f).collect::<Vec<f64>>();
        let parts = ThetaParts {
            in_m: pick(&|d| d.m[0]),
            rec_m: pick(&|d| d.m[1]),
            out_m: pick(&|d| d.m[2]),
            rec_pi: pick(&|d| d.pi[1]),
            out_pi: pick(&|d| d.pi[2]),
        };
        Ok(EmpiricalKernel {
            p,
            theta: parts.total(self.params.pi_lr),
            parts,
            in_pi: pick(&|d| d.pi[0]),
            xi: [pick(&|d| d.xi[0]), pick(&|d| d.xi[1]), pick(&|d| d.xi[2])],
            z: grads.iter().map(|g| g.z).collect(),
        })
    }

    /// One gradient-descent step of size `eta` on `L = ½ Σ (z_T − y)²` in the NTK
    /// parametrization: `m̃ ← m̃ − η ∂L/∂m̃` in every layer (i.e. `m ← m − η σ²/fan ∂L/∂m`),
    /// `π ← π − η·pi_lr ∂L/∂π` in `rec` and `out` (not clipped), `Ξ̃` and `π_in` fixed.
    /// Returns the outputs before the step.
    pub fn gd_step(&mut self, xs: &[Vec<f64>], draws: &[u64], y: &[f64], eta: f64) -> Result<Vec<f64>> {
        let (z, g) = self.loss_grads(xs, draws, y)?;
        let p = self.params;
        let (n, i) = (self.width() as f64, self.channels() as f64);
        let lm = [
            eta * p.sigma_in.powi(2) / i,
            eta * p.sigma_rec.powi(2) / n,
            eta * p.sigma_out.powi(2) / n,
        ];
        let lp = [0.0, eta * p.pi_lr, eta * p.pi_lr];
        let net = &mut self.net;
        for (l, (layer, lg)) in [&mut net.inp, &mut net.rec, &mut net.out]
            .into_iter()
            .zip([&g.inp, &g.rec, &g.out])
            .enumerate()
        {
            for (w, d) in layer.m.iter_mut().zip(&lg.m) {
                *w -= lm[l] * d;
            }
            if lp[l] != 0.0 {
                for (w, d) in layer.pi.iter_mut().zip(&lg.pi) {
                    *w -= lp[l] * d;
                }
            }
        }
        Ok(z)
    }
}

/// Relative Frobenius distance `‖a − b‖ / ‖b‖`.
pub fn rel_frobenius(a: &[f64], b: &[f64]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
    let den: f64 = b.iter().map(|y| y * y).sum();
    (num / den).sqrt()
}

/// Frobenius norm.
pub fn frobenius(a: &[f64]) -> f64 {
    a.iter().map(|x| x * x).sum::<f64>().sqrt()
}
