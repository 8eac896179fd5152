//! Shared test helpers: random verification cases and an independent, loop-based reference
//! of the forward semantics (docs/MODEL.md §8) and of plain BPTT. Nothing here calls the engine.
#![allow(dead_code, clippy::needless_range_loop)]

pub mod browser;

use sasnet::rng::{NormalStream, splitmix64};
use sasnet::sas::SasLayer;

/// A fully specified case (f64), in the tensor layout of the `grad` interface.
#[derive(Clone, Debug)]
pub struct Case {
    pub n: usize,
    pub i: usize,
    pub k: usize,
    pub b: usize,
    pub t: usize,
    pub alpha: f64,
    pub sigma: f64,
    pub mse: bool,
    /// Per-step masked cross-entropy: `target` holds the labels `[T, B]` (as f64) and
    /// `mask` `[T, B]` (`mse` is false).
    pub ce_steps: bool,
    pub sas_in: bool,
    pub layers: [SasLayer<f64>; 3],
    pub h0: Vec<f64>,
    pub x: Vec<f64>,
    pub eps_u: Vec<f64>,
    pub eps_out: Vec<f64>,
    pub noise_rec: Vec<f64>,
    pub target: Vec<f64>,
    pub mask: Vec<f64>,
}

pub struct Gen {
    s: u64,
    g: NormalStream,
}

impl Gen {
    pub fn new(seed: u64) -> Self {
        Gen {
            s: seed,
            g: NormalStream::new(seed ^ 0xabc),
        }
    }
    pub fn unif(&mut self) -> f64 {
        (splitmix64(&mut self.s) >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn normal(&mut self) -> f64 {
        self.g.sample() as f64
    }
    pub fn below(&mut self, n: usize) -> usize {
        (splitmix64(&mut self.s) % n as u64) as usize
    }
}

/// A random case; with `special`, some entries sit exactly at π = 0, π = 1 and Ξ = 0.
#[allow(clippy::too_many_arguments)]
pub fn random_case(
    seed: u64,
    n: usize,
    i: usize,
    k: usize,
    b: usize,
    t: usize,
    mse: bool,
    sas_in: bool,
    sigma: f64,
    special: bool,
) -> Case {
    let mut g = Gen::new(seed);
    let layer = |rows: usize, cols: usize, g: &mut Gen| {
        let len = rows * cols;
        let scale = 1.2 / (cols as f64).sqrt();
        let mut l = SasLayer {
            rows,
            cols,
            m: (0..len).map(|_| scale * g.normal()).collect(),
            pi: (0..len).map(|_| 0.05 + 0.9 * g.unif()).collect(),
            xi: (0..len).map(|_| 0.3 * g.unif() / cols as f64).collect(),
        };
        if special {
            for e in 0..len {
                match g.below(5) {
                    0 => l.pi[e] = 0.0,
                    1 => l.pi[e] = 1.0,
                    2 => l.xi[e] = 0.0,
                    _ => {}
                }
            }
        }
        l
    };
    let inp = layer(n, i, &mut g);
    let rec = layer(n, n, &mut g);
    let out = layer(k, n, &mut g);
    let mut inp = inp;
    if !sas_in {
        inp.pi.iter_mut().for_each(|p| *p = 0.0);
        inp.xi.iter_mut().for_each(|p| *p = 0.0);
    }
    let h0 = (0..b * n).map(|_| 0.5 * g.normal() + 0.3).collect();
    let x = (0..t * b * i).map(|_| g.normal() + 0.2).collect();
    let eps_u = (0..t * b * n).map(|_| g.normal()).collect();
    let eps_out = (0..t * b * k).map(|_| g.normal()).collect();
    let noise_rec = (0..t * b * n).map(|_| g.normal()).collect();
    let (target, mask) = if mse {
        (
            (0..t * b * k).map(|_| g.normal()).collect(),
            (0..t * b * k)
                .map(|_| if g.below(4) == 0 { 0.0 } else { 0.5 + g.unif() })
                .collect(),
        )
    } else {
        let mut y = vec![0.0; b * k];
        for s in 0..b {
            y[s * k + g.below(k)] = 1.0;
        }
        (y, Vec::new())
    };
    Case {
        n,
        i,
        k,
        b,
        t,
        alpha: 0.3,
        sigma,
        mse,
        ce_steps: false,
        sas_in,
        layers: [inp, rec, out],
        h0,
        x,
        eps_u,
        eps_out,
        noise_rec,
        target,
        mask,
    }
}

/// [`random_case`] turned into a per-step masked cross-entropy case: labels `[T, B]` drawn
/// uniformly from `0..K`, mask `[T, B]` with a quarter zeros and other weights in
/// `[0.5, 1.5)`, and at least one positive weight.
#[allow(clippy::too_many_arguments)]
pub fn random_case_steps(
    seed: u64,
    n: usize,
    i: usize,
    k: usize,
    b: usize,
    t: usize,
    sas_in: bool,
    sigma: f64,
    special: bool,
) -> Case {
    let mut c = random_case(seed, n, i, k, b, t, false, sas_in, sigma, special);
    let mut g = Gen::new(seed ^ 0x5eed);
    c.ce_steps = true;
    c.target = (0..t * b).map(|_| g.below(k) as f64).collect();
    c.mask = (0..t * b)
        .map(|_| if g.below(4) == 0 { 0.0 } else { 0.5 + g.unif() })
        .collect();
    c.mask[t * b - 1] = 1.0;
    c
}

/// The ln-softmax of `z` at class `c` and the softmax.
fn log_softmax_at(z: &[f64], c: usize) -> (f64, Vec<f64>) {
    let zmax = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let lse = zmax + z.iter().map(|v| (v - zmax).exp()).sum::<f64>().ln();
    (z[c] - lse, z.iter().map(|v| (v - lse).exp()).collect())
}

fn moments(l: &SasLayer<f64>) -> (Vec<f64>, Vec<f64>) {
    let mu = l.m.iter().zip(&l.pi).map(|(m, p)| (1.0 - p) * m).collect();
    let v =
        l.m.iter()
            .zip(&l.pi)
            .zip(&l.xi)
            .map(|((m, p), x)| (1.0 - p) * x + p * (1.0 - p) * m * m)
            .collect();
    (mu, v)
}

fn safe_sqrt(s: f64) -> f64 {
    if s > 0.0 { s.sqrt() } else { 0.0 }
}

/// The loss of `c`, computed sample by sample with explicit loops (the docs/MODEL.md §8 semantics).
pub fn reference_loss(c: &Case) -> f64 {
    reference_forward(c).0
}

/// `(loss, smallest variance sum S over units, steps and samples, smallest |h_t|)`.
/// Finite differences are only meaningful away from `S = 0` and from the ReLU kink.
pub fn reference_forward(c: &Case) -> (f64, f64, f64) {
    let mut min_s = f64::INFINITY;
    let mut min_h = f64::INFINITY;
    let (n, ni, k, b, tt) = (c.n, c.i, c.k, c.b, c.t);
    let (mu_in, v_in) = moments(&c.layers[0]);
    let (mu_rec, v_rec) = moments(&c.layers[1]);
    let (mu_out, v_out) = moments(&c.layers[2]);
    let a = c.alpha;
    let mut loss = 0.0;
    let w_sum: f64 = c.mask.iter().sum();
    for s in 0..b {
        let mut h: Vec<f64> = c.h0[s * n..(s + 1) * n].to_vec();
        let mut r: Vec<f64> = h.iter().map(|&v| v.max(0.0)).collect();
        for t in 0..tt {
            let x = &c.x[(t * b + s) * ni..(t * b + s + 1) * ni];
            let mut hn = vec![0.0; n];
            for u in 0..n {
                let (mut g, mut sv) = (0.0, 0.0);
                for j in 0..n {
                    g += mu_rec[u * n + j] * r[j];
                    sv += v_rec[u * n + j] * r[j] * r[j];
                }
                for j in 0..ni {
                    g += mu_in[u * ni + j] * x[j];
                    if c.sas_in {
                        sv += v_in[u * ni + j] * x[j] * x[j];
                    }
                }
                min_s = min_s.min(sv);
                let pre = g + c.eps_u[(t * b + s) * n + u] * safe_sqrt(sv);
                hn[u] = (1.0 - a) * h[u]
                    + a * pre
                    + (2.0 * a * c.sigma * c.sigma).sqrt() * c.noise_rec[(t * b + s) * n + u];
            }
            h = hn;
            min_h = h.iter().fold(min_h, |a, v| a.min(v.abs()));
            r = h.iter().map(|&v| v.max(0.0)).collect();
            let score = c.mse || c.ce_steps || t == tt - 1;
            if !score {
                continue;
            }
            let mut z = vec![0.0; k];
            for o in 0..k {
                let (mut g, mut sv) = (0.0, 0.0);
                for j in 0..n {
                    g += mu_out[o * n + j] * r[j];
                    sv += v_out[o * n + j] * r[j] * r[j];
                }
                min_s = min_s.min(sv);
                z[o] = g + c.eps_out[(t * b + s) * k + o] * safe_sqrt(sv);
            }
            if c.mse {
                for o in 0..k {
                    let idx = (t * b + s) * k + o;
                    let d = c.mask[idx] * (z[o] - c.target[idx]);
                    loss += 0.5 * d * d / (b * tt) as f64;
                }
            } else if c.ce_steps {
                let e = t * b + s;
                let (lp, _) = log_softmax_at(&z, c.target[e] as usize);
                loss -= c.mask[e] * lp / w_sum;
            } else {
                let zmax = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let lse = zmax + z.iter().map(|v| (v - zmax).exp()).sum::<f64>().ln();
                for o in 0..k {
                    loss -= c.target[s * k + o] * (z[o] - lse) / b as f64;
                }
            }
        }
    }
    (loss, min_s, min_h)
}

/// Like [`random_case`], redrawn (next seeds) until every variance sum is at least `1e-2`
/// and every `|h_t| ≥ 1e-3`, so central differences of step 1e-5 stay on one smooth piece.
#[allow(clippy::too_many_arguments)]
pub fn smooth_case(
    seed: u64,
    n: usize,
    i: usize,
    k: usize,
    b: usize,
    t: usize,
    mse: bool,
    sas_in: bool,
    sigma: f64,
    special: bool,
) -> Case {
    smooth(seed, |s| {
        random_case(s, n, i, k, b, t, mse, sas_in, sigma, special)
    })
}

/// The first case `make(s)`, `s = seed, seed + 1, …`, whose variance sums are all `≥ 1e-2`
/// and whose `|h_t|` are all `≥ 1e-3`.
pub fn smooth(seed: u64, make: impl Fn(u64) -> Case) -> Case {
    for s in seed..seed + 10_000 {
        let c = make(s);
        let (_, min_s, min_h) = reference_forward(&c);
        if min_s >= 1e-2 && min_h >= 1e-3 {
            return c;
        }
    }
    panic!("no smooth case found from seed {seed}");
}

/// Plain BPTT (no variance anywhere) by explicit loops: gradients `(dW_in, dW_rec, dW_out)`
/// of the loss with respect to the concrete weights `W = μ`.
pub fn plain_bptt(
    c: &Case,
    w_in: &[f64],
    w_rec: &[f64],
    w_out: &[f64],
) -> (f64, Vec<f64>, Vec<f64>, Vec<f64>) {
    let (n, ni, k, b, tt) = (c.n, c.i, c.k, c.b, c.t);
    let a = c.alpha;
    let mut d_in = vec![0.0; n * ni];
    let mut d_rec = vec![0.0; n * n];
    let mut d_out = vec![0.0; k * n];
    let mut loss = 0.0;
    let w_sum: f64 = c.mask.iter().sum();
    for s in 0..b {
        // forward, keeping h_t for t = 0..T
        let mut hs = vec![c.h0[s * n..(s + 1) * n].to_vec()];
        for t in 0..tt {
            let h = &hs[t];
            let x = &c.x[(t * b + s) * ni..(t * b + s + 1) * ni];
            let hn: Vec<f64> = (0..n)
                .map(|u| {
                    let mut g = 0.0;
                    for j in 0..n {
                        g += w_rec[u * n + j] * h[j].max(0.0);
                    }
                    for j in 0..ni {
                        g += w_in[u * ni + j] * x[j];
                    }
                    (1.0 - a) * h[u]
                        + a * g
                        + (2.0 * a * c.sigma * c.sigma).sqrt() * c.noise_rec[(t * b + s) * n + u]
                })
                .collect();
            hs.push(hn);
        }
        // dL/dz at each scored step
        let mut dz = vec![vec![0.0; k]; tt + 1];
        for t in 1..=tt {
            if !(c.mse || c.ce_steps || t == tt) {
                continue;
            }
            let r: Vec<f64> = hs[t].iter().map(|v| v.max(0.0)).collect();
            let z: Vec<f64> = (0..k)
                .map(|o| (0..n).map(|j| w_out[o * n + j] * r[j]).sum())
                .collect();
            if c.mse {
                for o in 0..k {
                    let idx = ((t - 1) * b + s) * k + o;
                    let d = c.mask[idx] * (z[o] - c.target[idx]);
                    loss += 0.5 * d * d / (b * tt) as f64;
                    dz[t][o] = c.mask[idx] * d / (b * tt) as f64;
                }
            } else if c.ce_steps {
                let e = (t - 1) * b + s;
                let lab = c.target[e] as usize;
                let (lp, p) = log_softmax_at(&z, lab);
                let w = c.mask[e] / w_sum;
                loss -= w * lp;
                for o in 0..k {
                    dz[t][o] = w * (p[o] - if o == lab { 1.0 } else { 0.0 });
                }
            } else {
                let zmax = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = z.iter().map(|v| (v - zmax).exp()).collect();
                let se: f64 = e.iter().sum();
                let ys: f64 = c.target[s * k..(s + 1) * k].iter().sum();
                for o in 0..k {
                    let y = c.target[s * k + o];
                    loss -= y * ((z[o] - zmax) - se.ln()) / b as f64;
                    dz[t][o] = (e[o] / se * ys - y) / b as f64;
                }
            }
            for o in 0..k {
                for j in 0..n {
                    d_out[o * n + j] += dz[t][o] * r[j];
                }
            }
        }
        // backward through time: dh_t
        let mut dh_next = vec![0.0; n]; // dL/dh_{t+1}
        for t in (1..=tt).rev() {
            let mut dh = vec![0.0; n];
            for j in 0..n {
                // direct dependence of h_{t+1} on h_t (leak) and through r_t
                let mut dr = 0.0;
                for o in 0..k {
                    dr += dz[t][o] * w_out[o * n + j];
                }
                if t < tt {
                    for u in 0..n {
                        dr += dh_next[u] * a * w_rec[u * n + j];
                    }
                }
                let lk = if t < tt { (1.0 - a) * dh_next[j] } else { 0.0 };
                dh[j] = lk + if hs[t][j] > 0.0 { dr } else { 0.0 };
            }
            let x = &c.x[((t - 1) * b + s) * ni..((t - 1) * b + s + 1) * ni];
            for u in 0..n {
                for j in 0..n {
                    d_rec[u * n + j] += dh[u] * a * hs[t - 1][j].max(0.0);
                }
                for j in 0..ni {
                    d_in[u * ni + j] += dh[u] * a * x[j];
                }
            }
            dh_next = dh;
        }
    }
    (loss, d_in, d_rec, d_out)
}

/// The MNIST directory for tests: `$SASNET_DATA`, else `../shared/data/mnist` beside the
/// checkout; `None` where it does not exist (then it says so on stderr and the test skips).
pub fn mnist_dir() -> Option<std::path::PathBuf> {
    let d = std::env::var_os("SASNET_DATA")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist"));
    if !d.is_dir() {
        eprintln!("skipping: no MNIST data at {}", d.display());
        return None;
    }
    Some(d)
}

/// Runs the `sasnet` binary with `args`, `SASNET_DATA` unset.
pub fn sasnet(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_sasnet"))
        .args(args)
        .env_remove("SASNET_DATA")
        .output()
        .unwrap()
}

/// Trains a tiny MSI network (N = 12, 5 epochs, parameter history when `history`) in `dir`
/// through the library.
pub fn tiny_msi_run(dir: &std::path::Path, history: bool) {
    let mut cfg = sasnet::config::Config::preset("msi").unwrap();
    cfg.model.n = 12;
    cfg.train.epochs = 5;
    cfg.train.history = history;
    cfg.eval.every = 0;
    cfg.eval.during_trials_per_condition = 1;
    cfg.task.msi.test_dt_ms = 20.0;
    let task = sasnet::data::source::TaskData::load(&cfg, None).unwrap();
    sasnet::train::train(&cfg, &task, dir, &sasnet::train::TrainOptions::default()).unwrap();
}
