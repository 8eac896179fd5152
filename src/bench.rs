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
        *v = 0.1 * g.next();
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
