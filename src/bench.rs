//! The speed benchmark of docs/MODEL.md §9: workload W, one pixel-MNIST training minibatch.
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
    /// SIMD level the engine dispatched to (`avx512`, `avx2`, `baseline`).
    pub simd_level: String,
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
    // Inputs, and the engine's per-step activations and their moments (a lower bound).
    let per_trial = (w.steps as u128) * (w.inputs as u128 + 6 * w.n as u128 + w.outputs as u128) * 4;
    let weights = (w.n as u128) * (w.n as u128 + w.inputs as u128 + w.outputs as u128) * 4 * 6;
    crate::io::mem::check("the benchmark (--batch)", per_trial * w.batch as u128 + weights)?;
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
        simd_level: crate::linalg::SimdLevel::detect().name().into(),
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
    /// SIMD-relevant CPU features found at run time (e.g. `avx2`, `fma`, `avx512f`).
    pub cpu_features: Vec<String>,
    /// The SIMD level the engine dispatches to (`avx512`, `avx2`, `baseline`).
    pub simd_level: String,
    /// Vector width of the FMA loop, in f32 lanes (16 for AVX-512, 8 for AVX2, 1 scalar).
    pub fma_lanes: usize,
    /// Independent accumulator chains per thread in the FMA loop (≥ latency × FMA pipes).
    pub fma_chains: usize,
    /// Threads of the all-threads measurement (rayon's pool).
    pub threads: usize,
    /// f32 FMA throughput of one thread alone, GFLOP/s (an FMA counts 2 FLOP).
    pub fma_peak_1thread_gflops: f64,
    /// f32 FMA throughput of all threads together, GFLOP/s.
    pub fma_peak_gflops: f64,
    /// `fma_peak_gflops / threads`.
    pub fma_peak_per_core_gflops: f64,
    /// Single-threaded f32 GEMM (`linalg::gemm`) on the per-step shape 64×100 · 100×100.
    pub gemm_step_gflops: f64,
    /// The same on the per-block weight-gradient shape 100×512ᵀ · 512×100.
    pub gemm_wgrad_block_gflops: f64,
    /// The same on one weight-gradient product over all rows, 100×50176ᵀ · 50176×100.
    pub gemm_wgrad_gflops: f64,
}

impl Ceilings {
    /// Floor of a workload of `flop` FLOP at the all-threads FMA peak, milliseconds.
    pub fn floor_ms(&self, flop: f64) -> f64 {
        flop / self.fma_peak_gflops / 1e6
    }

    /// A human-readable summary (several lines) for an engine running at `gflops`.
    pub fn describe(&self, flop: f64, gflops: f64) -> String {
        format!(
            "CPU features: {}; engine SIMD level: {}\n\
             FMA peak (f32, {} lanes × {} independent chains per thread): {:.0} GFLOP/s on 1 thread, \
             {:.0} GFLOP/s on {} threads ({:.0} per core)\n\
             floor {:.1} ms for this workload; engine at {:.0}% of peak\n\
             GEMM 1 thread: {:.0} GFLOP/s per-step shape 64×100·100×100, {:.0} GFLOP/s \
             weight-gradient block 100×512ᵀ·512×100, {:.0} GFLOP/s one product over 50176 rows",
            self.cpu_features.join(" "),
            self.simd_level,
            self.fma_lanes,
            self.fma_chains,
            self.fma_peak_1thread_gflops,
            self.fma_peak_gflops,
            self.threads,
            self.fma_peak_per_core_gflops,
            self.floor_ms(flop),
            100.0 * gflops / self.fma_peak_gflops,
            self.gemm_step_gflops,
            self.gemm_wgrad_block_gflops,
            self.gemm_wgrad_gflops,
        )
    }
}

/// The SIMD-relevant features this CPU reports (run-time detection).
pub fn cpu_features() -> Vec<String> {
    #[allow(unused_mut)]
    let mut f: Vec<&str> = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! probe {
            ($($name:tt),*) => {
                $(if is_x86_feature_detected!($name) { f.push($name); })*
            };
        }
        probe!(
            "sse4.2",
            "avx",
            "avx2",
            "fma",
            "f16c",
            "bmi2",
            "avx512f",
            "avx512bw",
            "avx512cd",
            "avx512dq",
            "avx512vl",
            "avx512vnni",
            "avx512bf16",
            "avx512vbmi",
            "avx512vp2intersect",
            "avx512fp16"
        );
    }
    f.into_iter().map(String::from).collect()
}

/// Independent accumulator chains of the FMA loop. FMA latency is 4 cycles on current x86
/// cores and there are at most 2 FMA pipes, so 8 chains keep them busy; 16 leave margin
/// (and still fit the 32 zmm registers of AVX-512; AVX2 uses 12 of its 16 ymm registers).
pub const FMA_CHAINS_AVX512: usize = 16;
const FMA_CHAINS_AVX2: usize = 12;

/// Runs `seconds` of independent FMA chains on `threads` threads at once (each its own
/// chains, widest vectors the CPU has); returns (total GFLOP/s, lanes, chains per thread).
pub fn fma_peak(seconds: f64, threads: usize) -> (f64, usize, usize) {
    use rayon::prelude::*;
    let per: Vec<(f64, usize, usize)> = (0..threads)
        .into_par_iter()
        .map(|_| fma_chains(seconds))
        .collect();
    (per.iter().map(|p| p.0).sum(), per[0].1, per[0].2)
}

#[cfg(target_arch = "x86_64")]
fn fma_chains(seconds: f64) -> (f64, usize, usize) {
    if is_x86_feature_detected!("avx512f") {
        // SAFETY: the feature was detected at run time.
        (unsafe { fma_chains_avx512(seconds) }, 16, FMA_CHAINS_AVX512)
    } else if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        // SAFETY: the features were detected at run time.
        (unsafe { fma_chains_avx2(seconds) }, 8, FMA_CHAINS_AVX2)
    } else {
        (fma_chains_scalar(seconds), 1, 64)
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn fma_chains(seconds: f64) -> (f64, usize, usize) {
    (fma_chains_scalar(seconds), 1, 64)
}

/// `a ← a·b + c` with `b < 1` converges to `c / (1 - b)`: no overflow, no subnormals.
const FMA_B: f32 = 0.999_999_9;
const FMA_C: f32 = 1e-7;
const FMA_INNER: u64 = 100_000;

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn fma_chains_avx512(seconds: f64) -> f64 {
    use std::arch::x86_64::*;
    let b = _mm512_set1_ps(FMA_B);
    let c = _mm512_set1_ps(FMA_C);
    let mut a = [_mm512_setzero_ps(); FMA_CHAINS_AVX512];
    for (i, v) in a.iter_mut().enumerate() {
        *v = _mm512_set1_ps(i as f32);
    }
    let t0 = Instant::now();
    let mut iters = 0u64;
    while t0.elapsed().as_secs_f64() < seconds {
        for _ in 0..FMA_INNER {
            for v in a.iter_mut() {
                *v = _mm512_fmadd_ps(*v, b, c);
            }
        }
        iters += FMA_INNER;
    }
    let dt = t0.elapsed().as_secs_f64();
    std::hint::black_box(&a);
    iters as f64 * FMA_CHAINS_AVX512 as f64 * 16.0 * 2.0 / dt / 1e9
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn fma_chains_avx2(seconds: f64) -> f64 {
    use std::arch::x86_64::*;
    let b = _mm256_set1_ps(FMA_B);
    let c = _mm256_set1_ps(FMA_C);
    let mut a = [_mm256_setzero_ps(); FMA_CHAINS_AVX2];
    for (i, v) in a.iter_mut().enumerate() {
        *v = _mm256_set1_ps(i as f32);
    }
    let t0 = Instant::now();
    let mut iters = 0u64;
    while t0.elapsed().as_secs_f64() < seconds {
        for _ in 0..FMA_INNER {
            for v in a.iter_mut() {
                *v = _mm256_fmadd_ps(*v, b, c);
            }
        }
        iters += FMA_INNER;
    }
    let dt = t0.elapsed().as_secs_f64();
    std::hint::black_box(&a);
    iters as f64 * FMA_CHAINS_AVX2 as f64 * 8.0 * 2.0 / dt / 1e9
}

fn fma_chains_scalar(seconds: f64) -> f64 {
    let mut a = [0f32; 64];
    let t0 = Instant::now();
    let mut iters = 0u64;
    while t0.elapsed().as_secs_f64() < seconds {
        for _ in 0..FMA_INNER {
            for v in a.iter_mut() {
                *v = v.mul_add(FMA_B, FMA_C);
            }
        }
        iters += FMA_INNER;
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

/// Measures [`Ceilings`] (about two seconds): the FMA loop alone on one thread, then on
/// every rayon thread at once, then the GEMM shapes.
pub fn ceilings() -> Ceilings {
    let threads = rayon::current_num_threads();
    let (one, lanes, chains) = fma_peak(0.5, 1);
    let (all, _, _) = fma_peak(0.5, threads);
    Ceilings {
        cpu_features: cpu_features(),
        simd_level: crate::linalg::SimdLevel::detect().name().into(),
        fma_lanes: lanes,
        fma_chains: chains,
        threads,
        fma_peak_1thread_gflops: one,
        fma_peak_gflops: all,
        fma_peak_per_core_gflops: all / threads as f64,
        gemm_step_gflops: gemm_gflops(64, 100, 100, false, 5000),
        gemm_wgrad_block_gflops: gemm_gflops(100, 512, 100, true, 5000),
        gemm_wgrad_gflops: gemm_gflops(100, 50_176, 100, true, 8),
    }
}
