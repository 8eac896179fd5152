//! Sources of the standard-normal draws the engine consumes.
//!
//! Three kinds per time step: `ε_u` for the recurrent unit's Gaussian pre-activation
//! (`nb × N`), `n` for the recurrent noise (`nb × N`), and `ε_out` for the readout (`nb × K`).
//! Training draws them from seeded streams ([`RandomNoise`]); the verification interface
//! reads them from tensors ([`TensorNoise`]); evaluation with ε = 0 uses [`ZeroNoise`].

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
