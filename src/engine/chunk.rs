//! The per-chunk kernel: forward and backward through time for samples `b0 .. b0+nb`.
//!
//! All buffers are allocated once (on the first batch of a given size) and reused; nothing
//! is allocated inside the time loop. Layouts are row-major with the sample index inside the
//! time index: a `[T, nb, N]` history has step `t` at rows `t·nb .. (t+1)·nb`, so the weight
//! gradients of a block of consecutive steps are single products over `steps·nb` rows; they
//! are accumulated block by block inside the backward loop ([`WGRAD_ROWS`]).
//!
//! The whole kernel is compiled once per SIMD level and chosen at run time
//! ([`crate::linalg::dispatch`]); its element-wise passes are fused: one pass per forward
//! step (`u`, `q`, `h`, `r`, `r²`) and one per backward step (`∂L/∂r`, `δ`, `g_u`, `P`).

use super::layer::gaussian_sample;
use super::noise::ChunkNoise;
use super::{Batch, EngineConfig, GaussianGrad, NetGrads, NetMoments, RunOptions, Targets};
use crate::linalg::{Kernel, Op, PackedB, dispatch, gemm, gemm_packed};
use crate::real::Real;

/// Work buffers and partial results of one chunk.
#[derive(Default)]
pub(super) struct ChunkWork<T> {
    /// Rates `r_t`, `[slots, nb, N]` (all `T+1` steps when the history is kept, else 2).
    pub r: Vec<T>,
    /// Squared rates `r_t²` of the last two steps, `[2, nb, N]` (slot `t % 2`; only when some
    /// layer fed by `r` has variance). The backward pass squares `r` again where it needs `r²`
    /// (same bits), so no `[T+1, nb, N]` history of it is written and read back from memory.
    r2: Vec<T>,
    /// `ε_u / sqrt(S)` per step (0 where `S = 0`), `[T, nb, N]` (read-only in the backward pass).
    q: Vec<T>,
    /// This step's `q`, `[nb, N]`, copied into `q` with non-temporal stores (gradient runs).
    qs: Vec<T>,
    /// `g_u(t) = ∂L/∂u_t` of the current block of steps, `[block, nb, N]` (slot `t % block`).
    gu: Vec<T>,
    /// `P = g_u ∘ ε_u / sqrt(S)` of the current block of steps, same layout as `gu`.
    p: Vec<T>,
    /// `r_t²` of the current block of steps (weight gradient of `V_rec`), same layout as `gu`,
    /// and of the scored steps for the readout's `∂L/∂V_out`, `[n_out, nb, N]`.
    r2b: Vec<T>,
    r2o: Vec<T>,
    /// The chunk's inputs and squared inputs, `[T, nb, I]` (gradient runs only).
    xc: Vec<T>,
    x2c: Vec<T>,
    /// Per-step scratch, `[nb, N]`.
    h: Vec<T>,
    g: Vec<T>,
    s: Vec<T>,
    eps: Vec<T>,
    nz: Vec<T>,
    delta: Vec<T>,
    dr: Vec<T>,
    tmp: Vec<T>,
    /// Scratch for squared inputs of one step, `[nb, I]`.
    xsq: Vec<T>,
    /// Readout at the scored steps, `[n_out, nb, K]`, its `ε/sqrt(S)`, and `∂L/∂z`.
    pub z: Vec<T>,
    qz: Vec<T>,
    gz: Vec<T>,
    /// Per-step readout scratch, `[nb, K]`.
    sz: Vec<T>,
    ez: Vec<T>,
    /// Partial loss (already divided by the full batch normalization).
    pub loss: f64,
    dmu_in: Vec<T>,
    dvar_in: Vec<T>,
    dmu_rec: Vec<T>,
    dvar_rec: Vec<T>,
    dmu_out: Vec<T>,
    dvar_out: Vec<T>,
    /// The recurrent weights packed once per run for the per-step products: `M_recᵀ`, `V_recᵀ`
    /// (forward), `M_rec`, `V_rec` (backward).
    pk_mt: PackedB<T>,
    pk_vt: PackedB<T>,
    pk_m: PackedB<T>,
    pk_v: PackedB<T>,
}

fn fit<T: Real>(v: &mut Vec<T>, len: usize) {
    if v.len() != len {
        v.clear();
        v.resize(len, T::ZERO);
    }
}

/// `(&buf[a·len..(a+1)·len], &mut buf[b·len..(b+1)·len])` for `a ≠ b`.
fn read_write<T>(buf: &mut [T], a: usize, b: usize, len: usize) -> (&[T], &mut [T]) {
    debug_assert_ne!(a, b);
    if a < b {
        let (lo, hi) = buf.split_at_mut(b * len);
        (&lo[a * len..(a + 1) * len], &mut hi[..len])
    } else {
        let (lo, hi) = buf.split_at_mut(a * len);
        (&hi[..len], &mut lo[b * len..(b + 1) * len])
    }
}

/// Steps per block of the weight-gradient products: they are accumulated inside the backward
/// loop over blocks of about this many rows (`steps · nb`), while the block's `g_u`, `P`, `r`
/// and `r²` are still in the core's L2 cache (one product over all `T·nb` rows streams them
/// from memory and ran at 113 GFLOP/s, against 190 for the per-step products).
const WGRAD_ROWS: usize = 512;

/// [`ChunkWork::run`] as a [`Kernel`], so that its element-wise loops are compiled for the
/// CPU's widest SIMD level.
struct RunKernel<'a, 'b, T> {
    work: &'a mut ChunkWork<T>,
    cfg: &'a EngineConfig,
    net: &'a NetMoments<T>,
    batch: &'a Batch<'b, T>,
    b0: usize,
    nb: usize,
    out_steps: &'a [usize],
    noise: &'a mut dyn ChunkNoise<T>,
    opts: RunOptions,
}

impl<T: Real> Kernel for RunKernel<'_, '_, T> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        self.work.run_body(
            self.cfg,
            self.net,
            self.batch,
            self.b0,
            self.nb,
            self.out_steps,
            self.noise,
            self.opts,
        )
    }
}

impl<T: Real> ChunkWork<T> {
    /// Forward (and, with `opts.grad`, backward) through time for samples `b0 .. b0+nb`.
    #[allow(clippy::too_many_arguments)]
    pub fn run(
        &mut self,
        cfg: &EngineConfig,
        net: &NetMoments<T>,
        batch: &Batch<'_, T>,
        b0: usize,
        nb: usize,
        out_steps: &[usize],
        noise: &mut dyn ChunkNoise<T>,
        opts: RunOptions,
    ) {
        dispatch(RunKernel {
            work: self,
            cfg,
            net,
            batch,
            b0,
            nb,
            out_steps,
            noise,
            opts,
        })
    }

    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn run_body(
        &mut self,
        cfg: &EngineConfig,
        net: &NetMoments<T>,
        batch: &Batch<'_, T>,
        b0: usize,
        nb: usize,
        out_steps: &[usize],
        noise: &mut dyn ChunkNoise<T>,
        opts: RunOptions,
    ) {
        let d = net.dims();
        let (n, ni, k) = (d.n, d.i, d.k);
        let (tt, bsz) = (batch.steps, batch.size);
        let nn = nb * n;
        let grad = opts.grad;
        let store = grad || opts.rates;
        let slots = if store { tt + 1 } else { 2 };
        let slot = |t: usize| if store { t } else { t % 2 };
        let u_var = net.rec.var.is_some() || net.inp.var.is_some();
        let need_r2 = net.rec.var.is_some() || net.out.var.is_some();
        let alpha = T::from_f64(cfg.alpha);
        let leak = T::from_f64(1.0 - cfg.alpha);
        let noise_scale = T::from_f64((2.0 * cfg.alpha * cfg.sigma * cfg.sigma).sqrt());
        let n_out = out_steps.len();

        fit(&mut self.r, slots * nn);
        fit(&mut self.r2, if need_r2 { 2 * nn } else { 0 });
        fit(
            &mut self.q,
            if u_var { if grad { tt * nn } else { nn } } else { 0 },
        );
        fit(&mut self.qs, if grad && u_var { nn } else { 0 });
        let block = (WGRAD_ROWS / nb).max(1).min(tt);
        fit(&mut self.gu, if grad { block * nn } else { 0 });
        fit(&mut self.p, if grad && u_var { block * nn } else { 0 });
        fit(
            &mut self.r2b,
            if grad && net.rec.var.is_some() {
                block * nn
            } else {
                0
            },
        );
        for v in [
            &mut self.h,
            &mut self.g,
            &mut self.s,
            &mut self.eps,
            &mut self.nz,
            &mut self.delta,
            &mut self.dr,
            &mut self.tmp,
        ] {
            fit(v, nn);
        }
        fit(&mut self.xsq, nb * ni);
        fit(&mut self.z, n_out * nb * k);
        fit(
            &mut self.qz,
            if net.out.var.is_some() { n_out * nb * k } else { 0 },
        );
        fit(&mut self.gz, n_out * nb * k);
        fit(&mut self.sz, nb * k);
        fit(&mut self.ez, nb * k);
        if grad {
            fit(&mut self.xc, tt * nb * ni);
            fit(
                &mut self.x2c,
                if net.inp.var.is_some() { tt * nb * ni } else { 0 },
            );
            for ti in 0..tt {
                let src = &batch.x[(ti * bsz + b0) * ni..(ti * bsz + b0 + nb) * ni];
                self.xc[ti * nb * ni..(ti + 1) * nb * ni].copy_from_slice(src);
                if net.inp.var.is_some() {
                    for (o, &x) in self.x2c[ti * nb * ni..(ti + 1) * nb * ni].iter_mut().zip(src) {
                        *o = x * x;
                    }
                }
            }
        }

        self.pk_mt.pack(Op::t(&net.rec.mu, n, n));
        if let Some(v) = &net.rec.var {
            self.pk_vt.pack(Op::t(v, n, n));
        }
        if grad {
            self.pk_m.pack(Op::new(&net.rec.mu, n, n));
            if let Some(v) = &net.rec.var {
                self.pk_v.pack(Op::new(v, n, n));
            }
        }

        // ---- forward -------------------------------------------------------------------
        self.h.copy_from_slice(&batch.h0[b0 * n..(b0 + nb) * n]);
        for (r, &h) in self.r[..nn].iter_mut().zip(&self.h) {
            *r = relu(h);
        }
        if need_r2 {
            for (r2, &r) in self.r2[..nn].iter_mut().zip(&self.r[..nn]) {
                *r2 = r * r;
            }
        }
        let mut next_out = 0;
        for ti in 0..tt {
            let (cur, nxt) = (slot(ti), slot(ti + 1));
            // The history rows the next step writes (gradient runs keep all steps).
            let pf = if grad {
                [
                    Pf::row(&self.r, ti + 2, nn),
                    // (`q` is written with non-temporal stores: no prefetch.)
                    Pf::NONE,
                ]
            } else {
                [Pf::NONE; 2]
            };
            let (r_prev, r_next) = read_write(&mut self.r, cur, nxt, nn);
            // G = r_{t-1} M_recᵀ + x_t M_inᵀ
            gemm_packed(&mut self.g, nb, r_prev, &self.pk_mt);
            let xt = &batch.x[(ti * bsz + b0) * ni..(ti * bsz + b0 + nb) * ni];
            if ni == 1 {
                for (grow, &xv) in self.g.chunks_exact_mut(n).zip(xt) {
                    for (gv, &m) in grow.iter_mut().zip(&net.inp.mu) {
                        *gv += xv * m;
                    }
                }
            } else {
                gemm(
                    &mut self.g,
                    nb,
                    n,
                    Op::new(xt, nb, ni),
                    Op::t(&net.inp.mu, n, ni),
                    true,
                );
            }
            if u_var {
                // S = r_{t-1}² V_recᵀ + x_t² V_inᵀ
                match &net.rec.var {
                    Some(_) => {
                        let r2_prev = &self.r2[(ti % 2) * nn..(ti % 2 + 1) * nn];
                        gemm_packed(&mut self.s, nb, r2_prev, &self.pk_vt);
                    }
                    None => self.s.fill(T::ZERO),
                }
                if let Some(v) = &net.inp.var {
                    for (o, &x) in self.xsq.iter_mut().zip(xt) {
                        *o = x * x;
                    }
                    gemm(
                        &mut self.s,
                        nb,
                        n,
                        Op::new(&self.xsq, nb, ni),
                        Op::t(v, n, ni),
                        true,
                    );
                }
                noise.eps_u(ti, &mut self.eps);
            }
            if cfg.sigma > 0.0 {
                noise.noise_rec(ti, &mut self.nz);
            }
            // One fused pass: u = G + ε∘sqrt(S), q = ε/sqrt(S), h, r, r².
            let (r2_next, q): (&mut [T], &mut [T]) = (
                if need_r2 {
                    &mut self.r2[((ti + 1) % 2) * nn..((ti + 1) % 2 + 1) * nn]
                } else {
                    &mut []
                },
                if !u_var {
                    &mut []
                } else if grad {
                    &mut self.qs[..]
                } else {
                    &mut self.q[..]
                },
            );
            let step = Step {
                alpha,
                leak,
                noise_scale,
            };
            let rp = (r_next, r2_next);
            match (u_var, cfg.sigma > 0.0, need_r2) {
                (true, true, true) => step.advance::<true, true, true>(
                    &mut self.h,
                    &self.g,
                    &self.s,
                    &self.eps,
                    q,
                    &self.nz,
                    rp,
                    pf,
                ),
                (true, false, true) => step.advance::<true, false, true>(
                    &mut self.h,
                    &self.g,
                    &self.s,
                    &self.eps,
                    q,
                    &self.nz,
                    rp,
                    pf,
                ),
                (false, true, true) => step.advance::<false, true, true>(
                    &mut self.h,
                    &self.g,
                    &self.s,
                    &self.eps,
                    q,
                    &self.nz,
                    rp,
                    pf,
                ),
                (false, false, true) => step.advance::<false, false, true>(
                    &mut self.h,
                    &self.g,
                    &self.s,
                    &self.eps,
                    q,
                    &self.nz,
                    rp,
                    pf,
                ),
                (true, true, false) => step.advance::<true, true, false>(
                    &mut self.h,
                    &self.g,
                    &self.s,
                    &self.eps,
                    q,
                    &self.nz,
                    rp,
                    pf,
                ),
                (true, false, false) => step.advance::<true, false, false>(
                    &mut self.h,
                    &self.g,
                    &self.s,
                    &self.eps,
                    q,
                    &self.nz,
                    rp,
                    pf,
                ),
                (false, true, false) => step.advance::<false, true, false>(
                    &mut self.h,
                    &self.g,
                    &self.s,
                    &self.eps,
                    q,
                    &self.nz,
                    rp,
                    pf,
                ),
                (false, false, false) => step.advance::<false, false, false>(
                    &mut self.h,
                    &self.g,
                    &self.s,
                    &self.eps,
                    q,
                    &self.nz,
                    rp,
                    pf,
                ),
            }
            if grad && u_var {
                stream_copy(&mut self.q[ti * nn..(ti + 1) * nn], &self.qs);
            }
            if next_out < n_out && out_steps[next_out] == ti {
                let p = next_out;
                let rt = &self.r[nxt * nn..(nxt + 1) * nn];
                let zp = &mut self.z[p * nb * k..(p + 1) * nb * k];
                gemm(zp, nb, k, Op::new(rt, nb, n), Op::t(&net.out.mu, k, n), false);
                if let Some(v) = &net.out.var {
                    let r2t = &self.r2[((ti + 1) % 2) * nn..((ti + 1) % 2 + 1) * nn];
                    gemm(&mut self.sz, nb, k, Op::new(r2t, nb, n), Op::t(v, k, n), false);
                    noise.eps_out(ti, &mut self.ez);
                    gaussian_sample(zp, &self.sz, &self.ez, &mut self.qz[p * nb * k..(p + 1) * nb * k]);
                }
                next_out += 1;
            }
        }

        stream_fence();

        // ---- loss and ∂L/∂z ----------------------------------------------------------
        self.gz.fill(T::ZERO);
        self.loss = 0.0;
        match batch.targets {
            Targets::CrossEntropyLast(y) => {
                let p = n_out - 1; // the last scored step is T-1
                let inv_b = 1.0 / bsz as f64;
                for j in 0..nb {
                    let zr = &self.z[(p * nb + j) * k..(p * nb + j + 1) * k];
                    let yr = &y[(b0 + j) * k..(b0 + j + 1) * k];
                    let zmax = zr.iter().fold(f64::NEG_INFINITY, |a, &v| a.max(v.to_f64()));
                    let sum_exp: f64 = zr.iter().map(|&v| (v.to_f64() - zmax).exp()).sum();
                    let lse = zmax + sum_exp.ln();
                    let ysum: f64 = yr.iter().map(|v| v.to_f64()).sum();
                    let gr = &mut self.gz[(p * nb + j) * k..(p * nb + j + 1) * k];
                    for c in 0..k {
                        let (zc, yc) = (zr[c].to_f64(), yr[c].to_f64());
                        self.loss -= yc * (zc - lse) * inv_b;
                        let pc = (zc - lse).exp();
                        gr[c] = T::from_f64((pc * ysum - yc) * inv_b);
                    }
                }
            }
            Targets::MaskedMse { y, mask } => {
                let norm = 1.0 / (bsz * tt) as f64;
                for (p, &ti) in out_steps.iter().enumerate() {
                    for j in 0..nb {
                        for c in 0..k {
                            let gi = (ti * bsz + b0 + j) * k + c;
                            let li = (p * nb + j) * k + c;
                            let mv = mask[gi].to_f64();
                            let diff = mv * (self.z[li].to_f64() - y[gi].to_f64());
                            self.loss += 0.5 * diff * diff * norm;
                            self.gz[li] = T::from_f64(mv * diff * norm);
                        }
                    }
                }
            }
            Targets::CrossEntropySteps { labels, mask } => {
                // Every step is a readout step here (p = t).
                let inv = 1.0 / super::mask_sum(mask);
                for (p, &ti) in out_steps.iter().enumerate() {
                    for j in 0..nb {
                        let e = ti * bsz + b0 + j;
                        let w = mask[e].to_f64() * inv;
                        if w == 0.0 {
                            continue; // gz stays 0
                        }
                        let zr = &self.z[(p * nb + j) * k..(p * nb + j + 1) * k];
                        let zmax = zr.iter().fold(f64::NEG_INFINITY, |a, &v| a.max(v.to_f64()));
                        let sum_exp: f64 = zr.iter().map(|&v| (v.to_f64() - zmax).exp()).sum();
                        let lse = zmax + sum_exp.ln();
                        let lab = labels[e];
                        self.loss -= w * (zr[lab].to_f64() - lse);
                        let gr = &mut self.gz[(p * nb + j) * k..(p * nb + j + 1) * k];
                        for c in 0..k {
                            let pc = (zr[c].to_f64() - lse).exp();
                            let yc = if c == lab { 1.0 } else { 0.0 };
                            gr[c] = T::from_f64(w * (pc - yc));
                        }
                    }
                }
            }
            Targets::None => {}
        }
        if !grad {
            return;
        }

        // ---- backward ------------------------------------------------------------------
        // Readout weight gradients over the scored steps (a contiguous range of steps).
        let rows = n_out * nb;
        let first = out_steps[0] + 1; // slot of r at the first scored step
        fit(&mut self.dmu_out, k * n);
        let r_rows = &self.r[first * nn..(first + n_out) * nn];
        gemm(
            &mut self.dmu_out,
            k,
            n,
            Op::t(&self.gz, rows, k),
            Op::new(r_rows, rows, n),
            false,
        );
        if let Some(_v) = &net.out.var {
            // P_z = g_z ∘ ε_out / sqrt(S_out), stored over qz.
            for (q, &g) in self.qz.iter_mut().zip(&self.gz) {
                *q *= g;
            }
            fit(&mut self.dvar_out, k * n);
            fit(&mut self.r2o, n_out * nn);
            square(&mut self.r2o, &self.r[first * nn..(first + n_out) * nn]);
            gemm(
                &mut self.dvar_out,
                k,
                n,
                Op::t(&self.qz, rows, k),
                Op::new(&self.r2o, rows, n),
                false,
            );
            scale(&mut self.dvar_out, T::from_f64(0.5));
        }

        self.delta.fill(T::ZERO);
        self.dr.fill(T::ZERO);
        // `tmp` holds `(P V)` terms whose product with `r_t` belongs to `∂L/∂r_t`; it is added
        // inside the next element-wise pass (`tmp_live`) instead of a pass of its own.
        let mut tmp_live = false;
        fit(&mut self.dmu_rec, n * n);
        fit(&mut self.dmu_in, n * ni);
        if net.rec.var.is_some() {
            fit(&mut self.dvar_rec, n * n);
        }
        if net.inp.var.is_some() {
            fit(&mut self.dvar_in, n * ni);
        }
        let mut block_end = tt;
        let mut p_out = n_out;
        for ti in (0..tt).rev() {
            let rt = &self.r[(ti + 1) * nn..(ti + 2) * nn];
            // Readout contribution to ∂L/∂r_t.
            if p_out > 0 && out_steps[p_out - 1] == ti {
                p_out -= 1;
                let gzp = &self.gz[p_out * nb * k..(p_out + 1) * nb * k];
                gemm(
                    &mut self.dr,
                    nb,
                    n,
                    Op::new(gzp, nb, k),
                    Op::new(&net.out.mu, k, n),
                    true,
                );
                if let Some(v) = &net.out.var {
                    let pzp = &self.qz[p_out * nb * k..(p_out + 1) * nb * k];
                    gemm(
                        &mut self.tmp,
                        nb,
                        n,
                        Op::new(pzp, nb, k),
                        Op::new(v, k, n),
                        tmp_live,
                    );
                    tmp_live = true;
                }
            }
            // δ(t) = (1-α) δ(t+1) + φ'(h_t) ∘ ∂L/∂r_t;  g_u(t) = α δ(t).
            // With variance, q becomes P = g_u ∘ ε/sqrt(S) in the same pass.
            let b = ti % block;
            let gu = &mut self.gu[b * nn..(b + 1) * nn];
            let (q, p): (&[T], &mut [T]) = if u_var {
                (&self.q[ti * nn..(ti + 1) * nn], &mut self.p[b * nn..(b + 1) * nn])
            } else {
                (&[], &mut [])
            };
            let bw = BackStep { alpha, leak };
            let (delta, dr, tmp) = (&mut self.delta[..], &self.dr[..], &self.tmp[..]);
            // The history rows the previous step reads.
            let pf = [
                Pf::row(&self.r, ti, nn),
                if u_var && ti > 0 {
                    Pf::row(&self.q, ti - 1, nn)
                } else {
                    Pf::NONE
                },
            ];
            match (u_var, tmp_live) {
                (true, true) => bw.advance::<true, true>(delta, dr, tmp, rt, gu, q, p, pf),
                (true, false) => bw.advance::<true, false>(delta, dr, tmp, rt, gu, q, p, pf),
                (false, true) => bw.advance::<false, true>(delta, dr, tmp, rt, gu, q, p, pf),
                (false, false) => bw.advance::<false, false>(delta, dr, tmp, rt, gu, q, p, pf),
            }
            tmp_live = false;
            if ti > 0 {
                // ∂L/∂r_{t-1} from u_t = g_u M_rec + r_{t-1} ∘ ((g_u ∘ ε/√S) V_rec); the second
                // term is completed in the next step's element-wise pass.
                let gu = &self.gu[b * nn..(b + 1) * nn];
                gemm_packed(&mut self.dr, nb, gu, &self.pk_m);
                if net.rec.var.is_some() {
                    let pq = &self.p[b * nn..(b + 1) * nn];
                    gemm_packed(&mut self.tmp, nb, pq, &self.pk_v);
                    tmp_live = true;
                }
            }
            // Weight gradients of the block of steps `ti .. block_end`, accumulated while its
            // rows are in cache (blocks start at multiples of `block`; the last one first).
            if ti % block == 0 {
                let (t0, t1) = (ti, block_end);
                let add = t1 != tt;
                let rows = (t1 - t0) * nb;
                // Block slots `0 .. t1-t0` hold steps `t0 .. t1` (t0 is a multiple of `block`).
                let gub = &self.gu[..rows * n];
                gemm(
                    &mut self.dmu_rec,
                    n,
                    n,
                    Op::t(gub, rows, n),
                    Op::new(&self.r[t0 * nn..t1 * nn], rows, n),
                    add,
                );
                let xb = &self.xc[t0 * nb * ni..t1 * nb * ni];
                gemm(
                    &mut self.dmu_in,
                    n,
                    ni,
                    Op::t(gub, rows, n),
                    Op::new(xb, rows, ni),
                    add,
                );
                if net.rec.var.is_some() {
                    square(&mut self.r2b[..rows * n], &self.r[t0 * nn..t1 * nn]);
                    gemm(
                        &mut self.dvar_rec,
                        n,
                        n,
                        Op::t(&self.p[..rows * n], rows, n),
                        Op::new(&self.r2b[..rows * n], rows, n),
                        add,
                    );
                }
                if net.inp.var.is_some() {
                    gemm(
                        &mut self.dvar_in,
                        n,
                        ni,
                        Op::t(&self.p[..rows * n], rows, n),
                        Op::new(&self.x2c[t0 * nb * ni..t1 * nb * ni], rows, ni),
                        add,
                    );
                }
                block_end = ti;
            }
        }
        if net.rec.var.is_some() {
            scale(&mut self.dvar_rec, T::from_f64(0.5));
        }
        if net.inp.var.is_some() {
            scale(&mut self.dvar_in, T::from_f64(0.5));
        }
    }

    /// This chunk's moment gradients (requires a gradient run).
    pub fn grads(&self, net: &NetMoments<T>) -> NetGrads<T> {
        let layer = |mu: &Vec<T>, var: &Vec<T>, has_var: bool| GaussianGrad {
            mu: mu.clone(),
            var: has_var.then(|| var.clone()),
        };
        NetGrads {
            inp: layer(&self.dmu_in, &self.dvar_in, net.inp.var.is_some()),
            rec: layer(&self.dmu_rec, &self.dvar_rec, net.rec.var.is_some()),
            out: layer(&self.dmu_out, &self.dvar_out, net.out.var.is_some()),
        }
    }

    /// Adds this chunk's moment gradients to `g`.
    pub fn add_grads_to(&self, g: &mut NetGrads<T>) {
        for (dst, mu, var) in [
            (&mut g.inp, &self.dmu_in, &self.dvar_in),
            (&mut g.rec, &self.dmu_rec, &self.dvar_rec),
            (&mut g.out, &self.dmu_out, &self.dvar_out),
        ] {
            add(&mut dst.mu, mu);
            if let Some(v) = &mut dst.var {
                add(v, var);
            }
        }
    }
}

/// Constants of one backward step.
struct BackStep<T> {
    alpha: T,
    leak: T,
}

impl<T: Real> BackStep<T> {
    /// The fused element-wise part of a backward step over `nb × N` values, with
    /// `∂L/∂r_t = dr (+ r_t ∘ tmp; TMP)`: `δ ← (1-α) δ + φ'(h_t) ∘ ∂L/∂r_t`, `g_u = α δ`,
    /// and (`VAR`) `p = g_u ∘ q`, `P` from `q = ε/sqrt(S)`.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn advance<const VAR: bool, const TMP: bool>(
        &self,
        delta: &mut [T],
        dr: &[T],
        tmp: &[T],
        rt: &[T],
        gu: &mut [T],
        q: &[T],
        p: &mut [T],
        pf: [Pf<T>; 2],
    ) {
        let len = delta.len();
        let (dr, rt, gu) = (&dr[..len], &rt[..len], &mut gu[..len]);
        let tmp = if TMP { &tmp[..len] } else { tmp };
        let (q, p) = if VAR { (&q[..len], &mut p[..len]) } else { (q, p) };
        for o in (0..len).step_by(PIECE) {
            let end = (o + PIECE).min(len);
            for e in o..end {
                let r = rt[e];
                let mut d = dr[e];
                if TMP {
                    d += r * tmp[e];
                }
                let dphi = if r > T::ZERO { d } else { T::ZERO };
                let dl = self.leak * delta[e] + dphi;
                delta[e] = dl;
                let g = self.alpha * dl;
                gu[e] = g;
                if VAR {
                    p[e] = q[e] * g;
                }
            }
            pf[0].lines(o, end);
            pf[1].lines(o, end);
        }
    }
}

/// Constants of one forward step.
struct Step<T> {
    alpha: T,
    leak: T,
    noise_scale: T,
}

impl<T: Real> Step<T> {
    /// The fused element-wise part of a forward step over `nb × N` values:
    /// `u = G + ε∘sqrt(S)`, `q = ε/sqrt(S)` (0 where `S = 0`; `VAR`),
    /// `h ← (1-α) h + α u (+ sqrt(2ασ²) n; NOISE)`, `r = relu(h)`, `r² (SQ)`.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn advance<const VAR: bool, const NOISE: bool, const SQ: bool>(
        &self,
        h: &mut [T],
        g: &[T],
        s: &[T],
        eps: &[T],
        q: &mut [T],
        nz: &[T],
        (r, r2): (&mut [T], &mut [T]),
        pf: [Pf<T>; 2],
    ) {
        let len = h.len();
        let (g, r) = (&g[..len], &mut r[..len]);
        let (s, eps, q) = if VAR {
            (&s[..len], &eps[..len], &mut q[..len])
        } else {
            (s, eps, q)
        };
        let nz = if NOISE { &nz[..len] } else { nz };
        let r2 = if SQ { &mut r2[..len] } else { r2 };
        for o in (0..len).step_by(PIECE) {
            let end = (o + PIECE).min(len);
            for e in o..end {
                let mut u = g[e];
                if VAR {
                    let sv = s[e];
                    let pos = sv > T::ZERO;
                    let sd = if pos { sv.sqrt() } else { T::ZERO };
                    let ev = eps[e];
                    u += ev * sd;
                    q[e] = if pos { ev / sd } else { T::ZERO };
                }
                let mut hv = self.leak * h[e] + self.alpha * u;
                if NOISE {
                    hv += self.noise_scale * nz[e];
                }
                h[e] = hv;
                let rv = relu(hv);
                r[e] = rv;
                if SQ {
                    r2[e] = rv * rv;
                }
            }
            pf[0].lines(o, end);
            pf[1].lines(o, end);
        }
    }
}

/// Elements per piece of the fused passes: after each piece, the same elements of the next
/// step's history rows are prefetched ([`Pf`]).
const PIECE: usize = 256;

/// A history row of the next step to prefetch into L2 while the current step's pass and
/// products run (the backward pass reads, and the forward pass writes, 2 rows of `nb × N`
/// values per step that are not in cache: they stream from memory one step ahead instead of
/// stalling the pass). `(start, len)` in elements; `len = 0`: nothing.
#[derive(Clone, Copy)]
struct Pf<T>(*const T, usize);

impl<T> Pf<T> {
    const NONE: Pf<T> = Pf(std::ptr::null(), 0);

    /// Row `slot` (of `len` elements) of `buf`, or nothing if it is not inside `buf`.
    fn row(buf: &[T], slot: usize, len: usize) -> Pf<T> {
        if (slot + 1) * len <= buf.len() {
            Pf(buf[slot * len..].as_ptr(), len)
        } else {
            Pf::NONE
        }
    }

    /// Prefetches the cache lines holding elements `a .. b` of the row.
    #[inline(always)]
    fn lines(self, a: usize, b: usize) {
        #[cfg(target_arch = "x86_64")]
        {
            let b = b.min(self.1);
            let step = (64 / size_of::<T>()).max(1);
            let mut i = a;
            while i < b {
                // SAFETY: `i < len`, so the address lies inside the row; a prefetch neither
                // reads nor writes memory as far as the program is concerned. SSE (baseline).
                unsafe {
                    std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T1 }>(
                        self.0.add(i) as *const i8
                    )
                };
                i += step;
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (a, b);
    }
}

#[inline(always)]
fn relu<T: Real>(h: T) -> T {
    if h > T::ZERO { h } else { T::ZERO }
}

fn scale<T: Real>(v: &mut [T], a: T) {
    for x in v {
        *x *= a;
    }
}

/// `dst = src` with non-temporal stores where the CPU has them (x86-64: SSE2, baseline): `q` is
/// read back only in the backward pass, long after it left the caches, so its lines are
/// neither read for ownership nor kept in cache. Same values, bit for bit.
#[inline(always)]
fn stream_copy<T: Copy>(dst: &mut [T], src: &[T]) {
    let len = dst.len().min(src.len());
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_stream_si128};
        let sz = size_of::<T>();
        let mut i = 0;
        // Elements up to the first 16-byte boundary of `dst`, then 16-byte blocks.
        while i < len && !(dst[i..].as_ptr() as usize).is_multiple_of(16) {
            dst[i] = src[i];
            i += 1;
        }
        if sz > 0 && 16 % sz == 0 {
            let per = 16 / sz;
            while i + per <= len {
                // SAFETY: elements `i .. i+per` (16 bytes) lie inside both slices; the
                // destination is 16-byte aligned (checked above); SSE2 is baseline x86-64.
                unsafe {
                    let v = _mm_loadu_si128(src.as_ptr().add(i) as *const __m128i);
                    _mm_stream_si128(dst.as_mut_ptr().add(i) as *mut __m128i, v);
                }
                i += per;
            }
        }
        dst[i..len].copy_from_slice(&src[i..len]);
    }
    #[cfg(not(target_arch = "x86_64"))]
    dst[..len].copy_from_slice(&src[..len]);
}

/// Orders the non-temporal stores of [`stream_copy`] before what follows.
#[inline(always)]
fn stream_fence() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE (baseline x86-64).
    unsafe {
        std::arch::x86_64::_mm_sfence()
    };
}

/// `dst = src ∘ src` (the same bits as the forward pass's `r²`).
#[inline(always)]
fn square<T: Real>(dst: &mut [T], src: &[T]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = s * s;
    }
}

fn add<T: Real>(dst: &mut [T], src: &[T]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d += s;
    }
}
