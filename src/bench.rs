//! The speed benchmark of DESIGN §9: workload W, one pixel-MNIST training minibatch.
//!
//! W: `B = 128`, `N = 100`, `T = 784`, `I = 1`, `K = 10`, recurrent and readout layers
//! spike-and-slab, input layer deterministic, cross-entropy on the last step; ε drawn inside
//! the timed work; forward, all moment gradients and the spike-and-slab chain rule.

use crate::engine::noise::RandomNoise;
use crate::engine::{Batch, Dims, Engine, EngineConfig, RunOptions, Targets};
use crate::error::Result;
use crate::net::SasNet;
use crate::rng::{NormalStream, derive_seed, splitmix64};
use serde::Serialize;
use std::time::Instant;

/// Floating-point operations of one W minibatch (4 recurrent-sized products per step
/// forward and backward plus the two weight-gradient products): `12.04e9`.
pub const W_FLOP: f64 = 12.04e9;

/// Sizes of a benchmark workload.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Workload {
    /// Batch size.
    pub batch: usize,
    /// Hidden units.
    pub n: usize,
    /// Time steps.
    pub steps: usize,
    /// Input channels.
    pub inputs: usize,
    /// Outputs.
    pub outputs: usize,
}

/// Workload W of the specification.
pub const W: Workload = Workload {
    batch: 128,
    n: 100,
    steps: 784,
    inputs: 1,
    outputs: 10,
};

/// Timings of a benchmark run.
#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    /// The workload.
    pub workload: Workload,
    /// Median wall time of one minibatch, milliseconds.
    pub ms_per_minibatch: f64,
    /// Fastest minibatch, milliseconds.
    pub ms_min: f64,
    /// Slowest minibatch, milliseconds.
    pub ms_max: f64,
    /// Timed repetitions (after warm-up).
    pub reps: usize,
    /// Effective GFLOP/s at the median (`W_FLOP` scaled to the workload).
    pub gflops: f64,
    /// Rayon threads used.
    pub threads: usize,
    /// Sample chunks per batch.
    pub chunks: usize,
    /// Loss of the last minibatch (a sanity value).
    pub last_loss: f64,
}

/// FLOP of one minibatch of workload `w` (same counting as [`W_FLOP`]).
pub fn flop(w: &Workload) -> f64 {
    let (b, n, t) = (w.batch as f64, w.n as f64, w.steps as f64);
    // 4 per-step products of B×N×N (2 forward, 2 backward) + 2 weight-gradient products.
    2.0 * b * n * n * t * 4.0 + 2.0 * 2.0 * n * n * b * t
}

/// Times `reps` minibatches of workload `w` after `warmup` untimed ones.
pub fn run(w: Workload, reps: usize, warmup: usize, chunks: usize, seed: u64) -> Result<BenchReport> {
    let d = Dims {
        n: w.n,
        i: w.inputs,
        k: w.outputs,
    };
    let mut net = SasNet::<f32>::zeros(d, [false, true, true]);
    let mut g = NormalStream::new(derive_seed(seed, &[100]));
    let mut s = seed;
    let mut unif = || (splitmix64(&mut s) >> 40) as f32 / (1u64 << 24) as f32;
    for i in 0..d.n {
        net.rec.m[i * d.n + i] = 1.0;
    }
    for v in net.inp.m.iter_mut().chain(net.out.m.iter_mut()) {
        *v = 0.1 * g.sample();
    }
    for v in net.rec.xi.iter_mut().chain(net.out.xi.iter_mut()) {
        *v = 0.01 * unif();
    }
    let x: Vec<f32> = (0..w.steps * w.batch * w.inputs).map(|_| unif()).collect();
    let h0 = vec![0.1f32; w.batch * d.n];
    let mut target = vec![0f32; w.batch * d.k];
    for b in 0..w.batch {
        let c = (splitmix64(&mut s) % d.k as u64) as usize;
        target[b * d.k + c] = 1.0;
    }
    let batch = Batch {
        steps: w.steps,
        size: w.batch,
        x: &x,
        h0: &h0,
        targets: Targets::CrossEntropyLast(&target),
    };
    let mut engine = Engine::<f32>::new(EngineConfig {
        alpha: 0.1,
        sigma: 0.0,
        chunks,
    })?;
    let opts = RunOptions {
        grad: true,
        ..Default::default()
    };
    let mut times = Vec::with_capacity(reps);
    let mut last_loss = 0.0;
    for it in 0..warmup + reps {
        let t0 = Instant::now();
        let moments = net.moments();
        let noise = RandomNoise {
            seed: derive_seed(seed, &[7, it as u64]),
        };
        let out = engine.run(&moments, &batch, &noise, opts)?;
        let grads = net.chain(out.grads.as_ref().expect("gradient run"));
        std::hint::black_box(&grads);
        let dt = t0.elapsed().as_secs_f64() * 1e3;
        last_loss = out.loss;
        if it >= warmup {
            times.push(dt);
        }
    }
    times.sort_by(|a, b| a.total_cmp(b));
    let median = if times.len() % 2 == 1 {
        times[times.len() / 2]
    } else {
        0.5 * (times[times.len() / 2 - 1] + times[times.len() / 2])
    };
    Ok(BenchReport {
        workload: w,
        ms_per_minibatch: median,
        ms_min: times[0],
        ms_max: *times.last().unwrap(),
        reps,
        gflops: flop(&w) / (median * 1e-3) / 1e9,
        threads: rayon::current_num_threads(),
        chunks,
        last_loss,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flop_count_of_w_matches_the_specification() {
        assert!((flop(&W) - W_FLOP).abs() / W_FLOP < 1e-3, "{}", flop(&W));
    }
}

/// Measured arithmetic ceilings of this machine, for judging the engine's speed.
#[derive(Clone, Debug, Serialize)]
pub struct Ceilings {
    /// FMA throughput of all threads together (f32, GFLOP/s), from independent FMA chains.
    pub fma_peak_gflops: f64,
    /// faer's single-threaded f32 GEMM on the engine's per-step shape (64×100 · 100×100).
    pub gemm_step_gflops: f64,
    /// faer's single-threaded f32 GEMM on the weight-gradient shape (100×50176ᵀ · 50176×100).
    pub gemm_wgrad_gflops: f64,
}

/// Runs `seconds` of independent FMA chains on every rayon thread; returns total GFLOP/s.
pub fn fma_peak(seconds: f64) -> f64 {
    use rayon::prelude::*;
    let threads = rayon::current_num_threads();
    let per: Vec<f64> = (0..threads)
        .into_par_iter()
        .map(|_| fma_chains(seconds))
        .collect();
    per.iter().sum()
}

#[cfg(target_arch = "x86_64")]
fn fma_chains(seconds: f64) -> f64 {
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        // SAFETY: the features were detected at run time.
        unsafe { fma_chains_avx2(seconds) }
    } else {
        fma_chains_scalar(seconds)
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn fma_chains(seconds: f64) -> f64 {
    fma_chains_scalar(seconds)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn fma_chains_avx2(seconds: f64) -> f64 {
    use std::arch::x86_64::*;
    let b = _mm256_set1_ps(1.000_000_1);
    let c = _mm256_set1_ps(1e-7);
    let mut a = [_mm256_setzero_ps(); 12];
    for (i, v) in a.iter_mut().enumerate() {
        *v = _mm256_set1_ps(i as f32);
    }
    let t0 = Instant::now();
    let mut iters = 0u64;
    while t0.elapsed().as_secs_f64() < seconds {
        for _ in 0..100_000 {
            for v in a.iter_mut() {
                *v = _mm256_fmadd_ps(*v, b, c);
            }
        }
        iters += 100_000;
    }
    let dt = t0.elapsed().as_secs_f64();
    std::hint::black_box(&a);
    iters as f64 * 12.0 * 8.0 * 2.0 / dt / 1e9
}

fn fma_chains_scalar(seconds: f64) -> f64 {
    let mut a = [0f32; 64];
    let t0 = Instant::now();
    let mut iters = 0u64;
    while t0.elapsed().as_secs_f64() < seconds {
        for _ in 0..100_000 {
            for v in a.iter_mut() {
                *v = v.mul_add(1.000_000_1, 1e-7);
            }
        }
        iters += 100_000;
    }
    std::hint::black_box(&a);
    iters as f64 * 64.0 * 2.0 / t0.elapsed().as_secs_f64() / 1e9
}

/// GFLOP/s of `reps` single-threaded products `(m×k)·(k×n)`; `trans_a` uses a stored `k×m`.
pub fn gemm_gflops(m: usize, k: usize, n: usize, trans_a: bool, reps: usize) -> f64 {
    use crate::linalg::{Op, gemm};
    let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 * 0.1).collect();
    let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 * 0.1).collect();
    let mut c = vec![0f32; m * n];
    let op = if trans_a {
        Op::t(&a, k, m)
    } else {
        Op::new(&a, m, k)
    };
    gemm(&mut c, m, n, op, Op::new(&b, k, n), false);
    let t0 = Instant::now();
    for _ in 0..reps {
        gemm(&mut c, m, n, op, Op::new(&b, k, n), false);
    }
    std::hint::black_box(&c);
    2.0 * (m * k * n * reps) as f64 / t0.elapsed().as_secs_f64() / 1e9
}

/// Measures [`Ceilings`] (about one second).
pub fn ceilings() -> Ceilings {
    Ceilings {
        fma_peak_gflops: fma_peak(0.4),
        gemm_step_gflops: gemm_gflops(64, 100, 100, false, 5000),
        gemm_wgrad_gflops: gemm_gflops(100, 50_176, 100, true, 8),
    }
}
