//! Sources of the standard-normal draws the engine consumes.
//!
//! Three kinds per time step: `ε_u` for the recurrent unit's Gaussian pre-activation
//! (`nb × N`), `n` for the recurrent noise (`nb × N`), and `ε_out` for the readout (`nb × K`).
//! Training draws them from seeded streams ([`RandomNoise`], or [`TrialFixedNoise`], which
//! holds `ε_u` and `ε_out` fixed within a trial); the verification interface reads them from
//! tensors ([`TensorNoise`]); evaluation with ε = 0 uses [`ZeroNoise`].

use crate::real::Real;
use crate::rng::{NormalStream, derive_seed};

/// The per-chunk noise of one batch: a chunk is a contiguous range of samples
/// `b0 .. b0 + nb` processed by one thread; calls come in increasing `t` per kind.
pub trait ChunkNoise<T> {
    /// `ε_u` at time index `t` (0-based), written to `out` (`nb × N`, row-major).
    fn eps_u(&mut self, t: usize, out: &mut [T]);
    /// Recurrent noise `n` at time index `t`, written to `out` (`nb × N`).
    fn noise_rec(&mut self, t: usize, out: &mut [T]);
    /// `ε_out` at time index `t`, written to `out` (`nb × K`).
    fn eps_out(&mut self, t: usize, out: &mut [T]);
}

/// A source of noise for a whole batch, split into chunks.
pub trait NoiseSource<T>: Sync {
    /// The noise for samples `b0 .. b0 + nb`.
    fn chunk(&self, b0: usize, nb: usize) -> Box<dyn ChunkNoise<T> + '_>;
}

/// Fresh standard-normal noise from streams keyed by (seed, kind, first sample of the chunk).
///
/// The chunking of a batch is fixed by the engine configuration, not by the thread count,
/// so the draws (and results) are identical for any number of threads.
#[derive(Clone, Copy, Debug)]
pub struct RandomNoise {
    /// Seed of this batch's noise (derive it from the run seed, epoch and minibatch).
    pub seed: u64,
}

struct RandomChunk {
    u: NormalStream,
    rec: NormalStream,
    out: NormalStream,
}

impl<T: Real> ChunkNoise<T> for RandomChunk {
    fn eps_u(&mut self, _t: usize, out: &mut [T]) {
        self.u.fill(out);
    }
    fn noise_rec(&mut self, _t: usize, out: &mut [T]) {
        self.rec.fill(out);
    }
    fn eps_out(&mut self, _t: usize, out: &mut [T]) {
        self.out.fill(out);
    }
}

impl<T: Real> NoiseSource<T> for RandomNoise {
    fn chunk(&self, b0: usize, _nb: usize) -> Box<dyn ChunkNoise<T> + '_> {
        let b = b0 as u64;
        Box::new(RandomChunk {
            u: NormalStream::new(derive_seed(self.seed, &[1, b])),
            rec: NormalStream::new(derive_seed(self.seed, &[2, b])),
            out: NormalStream::new(derive_seed(self.seed, &[3, b])),
        })
    }
}

/// All draws zero: the mean-field network with ε = 0 and no recurrent noise.
#[derive(Clone, Copy, Debug, Default)]
pub struct ZeroNoise;

impl<T: Real> ChunkNoise<T> for ZeroNoise {
    fn eps_u(&mut self, _t: usize, out: &mut [T]) {
        out.fill(T::ZERO);
    }
    fn noise_rec(&mut self, _t: usize, out: &mut [T]) {
        out.fill(T::ZERO);
    }
    fn eps_out(&mut self, _t: usize, out: &mut [T]) {
        out.fill(T::ZERO);
    }
}

impl<T: Real> NoiseSource<T> for ZeroNoise {
    fn chunk(&self, _b0: usize, _nb: usize) -> Box<dyn ChunkNoise<T> + '_> {
        Box::new(ZeroNoise)
    }
}

/// Noise given as full tensors (the `grad` verification interface).
#[derive(Clone, Copy, Debug)]
pub struct TensorNoise<'a, T> {
    /// Batch size `B`.
    pub batch: usize,
    /// Hidden units `N`.
    pub n: usize,
    /// Outputs `K`.
    pub k: usize,
    /// `ε_u`, `[T, B, N]`.
    pub eps_u: &'a [T],
    /// `ε_out`, `[T, B, K]`.
    pub eps_out: &'a [T],
    /// Recurrent noise, `[T, B, N]`.
    pub noise_rec: &'a [T],
}

struct TensorChunk<'a, T> {
    src: TensorNoise<'a, T>,
    b0: usize,
    nb: usize,
}

impl<T: Real> ChunkNoise<T> for TensorChunk<'_, T> {
    fn eps_u(&mut self, t: usize, out: &mut [T]) {
        let s = &self.src;
        let o = (t * s.batch + self.b0) * s.n;
        out.copy_from_slice(&s.eps_u[o..o + self.nb * s.n]);
    }
    fn noise_rec(&mut self, t: usize, out: &mut [T]) {
        let s = &self.src;
        let o = (t * s.batch + self.b0) * s.n;
        out.copy_from_slice(&s.noise_rec[o..o + self.nb * s.n]);
    }
    fn eps_out(&mut self, t: usize, out: &mut [T]) {
        let s = &self.src;
        let o = (t * s.batch + self.b0) * s.k;
        out.copy_from_slice(&s.eps_out[o..o + self.nb * s.k]);
    }
}

impl<T: Real> NoiseSource<T> for TensorNoise<'_, T> {
    fn chunk(&self, b0: usize, nb: usize) -> Box<dyn ChunkNoise<T> + '_> {
        Box::new(TensorChunk { src: *self, b0, nb })
    }
}

/// `ε = 0` (mean-field network without its sampling noise) but recurrent noise drawn as in
/// [`RandomNoise`].
#[derive(Clone, Copy, Debug)]
pub struct EpsZeroNoise {
    /// Seed of the recurrent noise.
    pub seed: u64,
}

struct EpsZeroChunk {
    rec: NormalStream,
}

impl<T: Real> ChunkNoise<T> for EpsZeroChunk {
    fn eps_u(&mut self, _t: usize, out: &mut [T]) {
        out.fill(T::ZERO);
    }
    fn noise_rec(&mut self, _t: usize, out: &mut [T]) {
        self.rec.fill(out);
    }
    fn eps_out(&mut self, _t: usize, out: &mut [T]) {
        out.fill(T::ZERO);
    }
}

impl<T: Real> NoiseSource<T> for EpsZeroNoise {
    fn chunk(&self, b0: usize, _nb: usize) -> Box<dyn ChunkNoise<T> + '_> {
        Box::new(EpsZeroChunk {
            rec: NormalStream::new(derive_seed(self.seed, &[2, b0 as u64])),
        })
    }
}

/// `ε_u` and `ε_out` drawn once per sample (trial) and reused at every step `t`; the recurrent
/// noise `n_t` stays fresh per step (the same stream as [`RandomNoise`] with this seed).
///
/// Sample `b` of the batch gets `ε_u` (`N` values) from the stream keyed by `(seed, 4, b)`
/// and `ε_out` (`K` values) from `(seed, 5, b)`: the draws depend only on the sample's index,
/// not on the chunking of the batch nor on the thread count. The engine's gradient is exact
/// for whatever ε it is given, so training with this source optimizes the ensemble loss
/// under per-trial quenched ε (`train.eps_fixed_in_trial`).
#[derive(Clone, Copy, Debug)]
pub struct TrialFixedNoise {
    /// Seed of this batch's noise (derive it from the run seed, epoch and minibatch).
    pub seed: u64,
}

impl TrialFixedNoise {
    /// Stream keys of the per-sample `ε_u` and `ε_out` draws.
    const KEY_U: u64 = 4;
    const KEY_OUT: u64 = 5;

    /// Fills `out` (`nb × width`, row-major) with the per-sample draws of stream `kind` for
    /// samples `b0 .. b0 + nb`.
    fn per_sample<T: Real>(&self, kind: u64, b0: usize, nb: usize, out: &mut [T]) {
        let width = out.len() / nb.max(1);
        for (i, row) in out.chunks_exact_mut(width.max(1)).take(nb).enumerate() {
            NormalStream::new(derive_seed(self.seed, &[kind, (b0 + i) as u64])).fill(row);
        }
    }
}

struct TrialFixedChunk<T> {
    src: TrialFixedNoise,
    b0: usize,
    nb: usize,
    rec: NormalStream,
    /// `ε_u` of the chunk's samples, `nb × N` (drawn on the first call).
    u: Vec<T>,
    /// `ε_out` of the chunk's samples, `nb × K` (drawn on the first call).
    out: Vec<T>,
}

impl<T: Real> ChunkNoise<T> for TrialFixedChunk<T> {
    fn eps_u(&mut self, _t: usize, out: &mut [T]) {
        if self.u.len() != out.len() {
            self.u = vec![T::ZERO; out.len()];
            self.src
                .per_sample(TrialFixedNoise::KEY_U, self.b0, self.nb, &mut self.u);
        }
        out.copy_from_slice(&self.u);
    }
    fn noise_rec(&mut self, _t: usize, out: &mut [T]) {
        self.rec.fill(out);
    }
    fn eps_out(&mut self, _t: usize, out: &mut [T]) {
        if self.out.len() != out.len() {
            self.out = vec![T::ZERO; out.len()];
            self.src
                .per_sample(TrialFixedNoise::KEY_OUT, self.b0, self.nb, &mut self.out);
        }
        out.copy_from_slice(&self.out);
    }
}

impl<T: Real> NoiseSource<T> for TrialFixedNoise {
    fn chunk(&self, b0: usize, nb: usize) -> Box<dyn ChunkNoise<T> + '_> {
        Box::new(TrialFixedChunk {
            src: *self,
            b0,
            nb,
            rec: NormalStream::new(derive_seed(self.seed, &[2, b0 as u64])),
            u: Vec::new(),
            out: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Draws `steps` steps of every kind from `src` for samples `b0 .. b0 + nb`.
    fn draw(
        src: &dyn NoiseSource<f64>,
        b0: usize,
        nb: usize,
        n: usize,
        k: usize,
        steps: usize,
    ) -> Vec<Vec<f64>> {
        let mut c = src.chunk(b0, nb);
        (0..steps)
            .map(|t| {
                let (mut u, mut r, mut o) = (vec![0.0; nb * n], vec![0.0; nb * n], vec![0.0; nb * k]);
                c.eps_u(t, &mut u);
                c.noise_rec(t, &mut r);
                c.eps_out(t, &mut o);
                [u, r, o].concat()
            })
            .collect()
    }

    #[test]
    fn trial_fixed_eps_is_constant_in_time_and_differs_between_samples() {
        let (n, k, nb) = (7, 3, 4);
        let src = TrialFixedNoise { seed: 11 };
        let steps = draw(&src, 0, nb, n, k, 5);
        let (u0, o0) = (&steps[0][..nb * n], &steps[0][2 * nb * n..]);
        for s in &steps[1..] {
            assert_eq!(&s[..nb * n], u0, "ε_u changed within the trial");
            assert_eq!(&s[2 * nb * n..], o0, "ε_out changed within the trial");
        }
        // The recurrent noise stays fresh per step, as in RandomNoise.
        assert_ne!(steps[0][nb * n..2 * nb * n], steps[1][nb * n..2 * nb * n]);
        let fresh = draw(&RandomNoise { seed: 11 }, 0, nb, n, k, 2);
        assert_eq!(fresh[1][nb * n..2 * nb * n], steps[1][nb * n..2 * nb * n]);
        // Different samples get different draws, of unit scale.
        for b in 1..nb {
            assert_ne!(u0[..n], u0[b * n..(b + 1) * n]);
            assert_ne!(o0[..k], o0[b * k..(b + 1) * k]);
        }
        let ms = u0.iter().map(|v| v * v).sum::<f64>() / u0.len() as f64;
        assert!(ms > 0.2 && ms < 3.0, "{ms}");
        // A different seed gives different draws.
        assert_ne!(
            draw(&TrialFixedNoise { seed: 12 }, 0, nb, n, k, 1)[0][..nb * n],
            *u0
        );
    }

    #[test]
    fn trial_fixed_eps_does_not_depend_on_the_chunking() {
        let (n, k) = (5, 2);
        let src = TrialFixedNoise { seed: 3 };
        let whole = draw(&src, 0, 6, n, k, 3);
        // Samples 2..6 as their own chunk: the same ε_u and ε_out rows as in the whole batch.
        let part = draw(&src, 2, 4, n, k, 3);
        for t in 0..3 {
            assert_eq!(part[t][..4 * n], whole[t][2 * n..6 * n]);
            assert_eq!(part[t][8 * n..], whole[t][12 * n + 2 * k..]);
        }
    }

    /// A small random network `(N, I, K) = (6, 3, 4)` with every layer stochastic, and a
    /// batch of `B = 5` trials of `T = 9` steps with labels.
    struct Case {
        net: crate::engine::NetMoments<f64>,
        x: Vec<f64>,
        h0: Vec<f64>,
        target: Vec<f64>,
    }

    const T: usize = 9;
    const B: usize = 5;

    fn case() -> Case {
        use crate::engine::{Gaussian, NetMoments};
        let (n, i, k) = (6, 3, 4);
        let mut g = NormalStream::new(99);
        let mut draw = |len: usize, scale: f64| {
            let mut v = vec![0.0f64; len];
            g.fill(&mut v);
            v.iter().map(|x| x * scale).collect::<Vec<f64>>()
        };
        let layer = |rows: usize, cols: usize, draw: &mut dyn FnMut(usize, f64) -> Vec<f64>| Gaussian {
            rows,
            cols,
            mu: draw(rows * cols, 0.5),
            var: Some(draw(rows * cols, 0.2).iter().map(|v| v * v).collect()),
        };
        let net = NetMoments {
            inp: layer(n, i, &mut draw),
            rec: layer(n, n, &mut draw),
            out: layer(k, n, &mut draw),
        };
        let x = draw(T * B * i, 1.0);
        let h0 = vec![0.1; B * n];
        let mut target = vec![0.0; B * k];
        for b in 0..B {
            target[b * k + b % k] = 1.0;
        }
        Case { net, x, h0, target }
    }

    fn run(
        c: &Case,
        noise: &dyn NoiseSource<f64>,
        chunks: usize,
        sigma: f64,
    ) -> (f64, crate::engine::NetGrads<f64>) {
        use crate::engine::{Batch, Engine, EngineConfig, RunOptions, Targets};
        let mut e = Engine::<f64>::new(EngineConfig {
            alpha: 0.3,
            sigma,
            chunks,
        })
        .unwrap();
        let batch = Batch {
            steps: T,
            size: B,
            x: &c.x,
            h0: &c.h0,
            targets: Targets::CrossEntropyLast(&c.target),
        };
        let o = e
            .run(
                &c.net,
                &batch,
                noise,
                RunOptions {
                    grad: true,
                    ..Default::default()
                },
            )
            .unwrap();
        (o.loss, o.grads.unwrap())
    }

    /// The ε of [`TrialFixedNoise`] written out as `[T, B, ·]` tensors that repeat the same
    /// per-sample draw at every step, drawn here from the documented stream keys; the
    /// recurrent noise is [`RandomNoise`]'s stream of the one-chunk batch.
    fn repeated_tensors(seed: u64, n: usize, k: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let per_sample = |kind: u64, width: usize| {
            let mut one = vec![0.0; B * width];
            for b in 0..B {
                NormalStream::new(derive_seed(seed, &[kind, b as u64]))
                    .fill(&mut one[b * width..(b + 1) * width]);
            }
            one.repeat(T)
        };
        let mut rec = vec![0.0; T * B * n];
        NormalStream::new(derive_seed(seed, &[2, 0])).fill(&mut rec);
        (per_sample(4, n), per_sample(5, k), rec)
    }

    #[test]
    fn trial_fixed_gradient_equals_the_engine_on_repeated_tensors() {
        let c = case();
        let (n, k) = (6, 4);
        let seed = 21;
        let (eu, eo, rec) = repeated_tensors(seed, n, k);
        let tensors = TensorNoise {
            batch: B,
            n,
            k,
            eps_u: &eu,
            eps_out: &eo,
            noise_rec: &rec,
        };
        let fixed = TrialFixedNoise { seed };
        // One chunk with recurrent noise: bit-identical loss and gradients.
        let (l1, g1) = run(&c, &fixed, 1, 0.2);
        let (l2, g2) = run(&c, &tensors, 1, 0.2);
        assert_eq!(l1, l2);
        assert_eq!(g1, g2);
        // Three chunks without recurrent noise (the ε rows do not depend on the chunking).
        let (l3, g3) = run(&c, &fixed, 3, 0.0);
        let (l4, g4) = run(&c, &tensors, 3, 0.0);
        assert_eq!(l3, l4);
        assert_eq!(g3, g4);
        // And it is not the fresh-ε run.
        let (l5, _) = run(&c, &RandomNoise { seed }, 1, 0.2);
        assert_ne!(l1, l5);
    }

    /// Entry `idx` of `M_rec` (`var = false`) or `V_rec`.
    fn entry(c: &mut Case, var: bool, idx: usize) -> &mut f64 {
        if var {
            &mut c.net.rec.var.as_mut().expect("stochastic layer")[idx]
        } else {
            &mut c.net.rec.mu[idx]
        }
    }

    #[test]
    fn trial_fixed_gradient_matches_finite_differences() {
        // Central differences of the loss under the same fixed ε along a few entries of
        // M_rec and V_rec (f64; the loss is smooth where no pre-activation crosses 0).
        let mut c = case();
        let fixed = TrialFixedNoise { seed: 5 };
        let (_, g) = run(&c, &fixed, 2, 0.1);
        let h = 1e-6;
        for idx in [0usize, 7, 20, 35] {
            for var in [false, true] {
                let x0 = *entry(&mut c, var, idx);
                *entry(&mut c, var, idx) = x0 + h;
                let (lp, _) = run(&c, &fixed, 2, 0.1);
                *entry(&mut c, var, idx) = x0 - h;
                let (lm, _) = run(&c, &fixed, 2, 0.1);
                *entry(&mut c, var, idx) = x0;
                let fd = (lp - lm) / (2.0 * h);
                let an = if var {
                    g.rec.var.as_ref().unwrap()[idx]
                } else {
                    g.rec.mu[idx]
                };
                assert!(
                    (fd - an).abs() <= 1e-6 + 1e-4 * an.abs(),
                    "rec {} [{idx}]: fd {fd} vs {an}",
                    if var { "V" } else { "M" }
                );
            }
        }
    }

    #[test]
    fn trial_fixed_results_do_not_depend_on_the_thread_count() {
        let c = case();
        let fixed = TrialFixedNoise { seed: 8 };
        let with = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| run(&c, &fixed, 3, 0.2))
        };
        let (l1, g1) = with(1);
        let (l3, g3) = with(3);
        assert_eq!(l1, l3);
        assert_eq!(g1, g3);
    }
}
