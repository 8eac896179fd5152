//! The Gaussian layer (docs/MODEL.md §1.3–1.4) as a reusable primitive over a batch of rows.
//!
//! For an input batch `a` `[B, J]` and the moment matrices `M`, `V` `[K, J]` of one layer
//! (row = receiving unit, [`Gaussian`]), the forward pass is
//!
//! ```text
//! G = a Mᵀ            S = (a∘a) Vᵀ            pre = (G + ε ∘ sqrt(S)) · scale      [B, K]
//! ```
//!
//! with `ε ~ N(0, 1)` per (row, unit) and a constant `scale` (`1/sqrt(J)` in the feed-forward
//! network, 1 in the recurrent one). `V = None` is the deterministic limit (`pre = G·scale`).
//! What the backward pass needs is kept: `a∘a` and `q = ε / sqrt(S)` (0 where `S = 0`).
//! From `g = ∂L/∂pre` and `ĝ = scale · g`, the backward pass gives exactly docs/MODEL.md §1.4:
//!
//! ```text
//! ∂L/∂a = ĝ M + a ∘ ((ĝ ∘ q) V)                                              [B, J]
//! ∂L/∂M = ĝᵀ a          ∂L/∂V = ½ (ĝ ∘ q)ᵀ (a∘a)                             [K, J]
//! ```
//!
//! (`∂L/∂G = ĝ`, `∂L/∂S = ĝ ∘ ε / (2 sqrt(S))`, 0 where `S = 0`). All buffers live in
//! [`LayerWork`] and are reused: after the first call with a given batch size nothing is
//! allocated. [`gaussian_sample`] is the element-wise step shared with the recurrent kernel.

use super::Gaussian;
use crate::linalg::{Op, gemm};
use crate::real::Real;

/// `pre ← pre + ε ∘ sqrt(S)` and `q ← ε / sqrt(S)` (0 where `S ≤ 0`), element-wise over
/// equally long slices (the recurrent readout's step; [`LayerWork::forward`] fuses the same
/// operation with the scale).
#[inline]
pub fn gaussian_sample<T: Real>(pre: &mut [T], s: &[T], eps: &[T], q: &mut [T]) {
    for (((p, &sv), &e), q) in pre.iter_mut().zip(s).zip(eps).zip(q.iter_mut()) {
        let pos = sv > T::ZERO;
        let sd = if pos { sv.sqrt() } else { T::ZERO };
        *p += e * sd;
        *q = if pos { e / sd } else { T::ZERO };
    }
}

/// Resizes `v` to `len` (contents unspecified) without reallocating when the size is unchanged.
fn fit<T: Real>(v: &mut Vec<T>, len: usize) {
    if v.len() != len {
        v.clear();
        v.resize(len, T::ZERO);
    }
}

/// Saved forward state and scratch of one Gaussian layer over a batch of `B` rows.
///
/// Use: [`LayerWork::forward`] once, then at most one [`LayerWork::backward`] with the same
/// layer, input and batch size (the backward pass overwrites the saved `q`).
#[derive(Clone, Debug, Default)]
pub struct LayerWork<T> {
    /// Rows `B` of the last forward pass.
    rows: usize,
    /// Whether the last forward pass had a variance term.
    var: bool,
    /// `a∘a`, `[B, J]` (variance only).
    a2: Vec<T>,
    /// `S = (a∘a) Vᵀ`, `[B, K]` (variance only).
    s: Vec<T>,
    /// `ε`, then `q = ε / sqrt(S)` (0 where `S = 0`), `[B, K]` (variance only).
    q: Vec<T>,
    /// `ĝ = scale · g`, then `½ ĝ ∘ q`, `[B, K]`.
    gs: Vec<T>,
    /// `(½ ĝ ∘ q) V`, `[B, J]`.
    tmp: Vec<T>,
}

impl<T: Real> LayerWork<T> {
    /// A work area with no buffers yet (they are sized on first use).
    pub fn new() -> Self {
        Self::default()
    }

    /// `q = ε / sqrt(S)` of the last forward pass, `[B, K]` (empty in the deterministic limit).
    pub fn q(&self) -> &[T] {
        &self.q
    }

    /// Forward pass: `pre = (a Mᵀ + ε ∘ sqrt((a∘a) Vᵀ)) · scale`.
    ///
    /// `layer` is `K × J`; `a` is `[rows, J]`; `pre` (`[rows, K]`) is overwritten. `eps` is
    /// called once with a `[rows, K]` buffer to fill with the standard-normal draws `ε`
    /// (not called when `layer.var` is `None`).
    pub fn forward(
        &mut self,
        layer: &Gaussian<T>,
        a: &[T],
        rows: usize,
        scale: T,
        eps: impl FnOnce(&mut [T]),
        pre: &mut [T],
    ) {
        let (k, j) = (layer.rows, layer.cols);
        debug_assert_eq!(a.len(), rows * j);
        debug_assert_eq!(pre.len(), rows * k);
        self.rows = rows;
        gemm(pre, rows, k, Op::new(a, rows, j), Op::t(&layer.mu, k, j), false);
        match &layer.var {
            None => {
                self.var = false;
                if scale != T::ONE {
                    for p in pre.iter_mut() {
                        *p *= scale;
                    }
                }
            }
            Some(v) => {
                self.var = true;
                fit(&mut self.a2, rows * j);
                for (o, &x) in self.a2.iter_mut().zip(a) {
                    *o = x * x;
                }
                fit(&mut self.s, rows * k);
                gemm(
                    &mut self.s,
                    rows,
                    k,
                    Op::new(&self.a2, rows, j),
                    Op::t(v, k, j),
                    false,
                );
                fit(&mut self.q, rows * k);
                eps(&mut self.q);
                for ((p, &sv), q) in pre.iter_mut().zip(&self.s).zip(self.q.iter_mut()) {
                    let pos = sv > T::ZERO;
                    let sd = if pos { sv.sqrt() } else { T::ZERO };
                    let e = *q;
                    *p = (*p + e * sd) * scale;
                    *q = if pos { e / sd } else { T::ZERO };
                }
            }
        }
    }

    /// Backward pass from `g_pre = ∂L/∂pre` (`[rows, K]`) of the last forward pass, with the
    /// same `layer`, input `a` (`[rows, J]`) and `scale`.
    ///
    /// Writes `∂L/∂a` into `da` (`[rows, J]`, overwritten) when given; writes (`accumulate =
    /// false`) or adds (`true`) `∂L/∂M` into `dmu` and `∂L/∂V` into `dvar` (each `[K, J]`).
    /// In the deterministic limit `dvar` is zeroed (or left unchanged when accumulating).
    #[allow(clippy::too_many_arguments)]
    pub fn backward(
        &mut self,
        layer: &Gaussian<T>,
        a: &[T],
        rows: usize,
        scale: T,
        g_pre: &[T],
        mut da: Option<&mut [T]>,
        dmu: &mut [T],
        dvar: Option<&mut [T]>,
        accumulate: bool,
    ) {
        let (k, j) = (layer.rows, layer.cols);
        debug_assert_eq!(
            rows, self.rows,
            "backward needs the forward pass of the same batch"
        );
        debug_assert_eq!(self.var, layer.var.is_some());
        debug_assert_eq!(a.len(), rows * j);
        debug_assert_eq!(g_pre.len(), rows * k);
        fit(&mut self.gs, rows * k);
        for (o, &g) in self.gs.iter_mut().zip(g_pre) {
            *o = scale * g;
        }
        // ∂L/∂M = ĝᵀ a, ∂L/∂a = ĝ M.
        gemm(
            dmu,
            k,
            j,
            Op::t(&self.gs, rows, k),
            Op::new(a, rows, j),
            accumulate,
        );
        if let Some(da) = da.as_deref_mut() {
            gemm(
                da,
                rows,
                j,
                Op::new(&self.gs, rows, k),
                Op::new(&layer.mu, k, j),
                false,
            );
        }
        let Some(v) = &layer.var else {
            if let Some(dv) = dvar
                && !accumulate
            {
                dv.fill(T::ZERO);
            }
            return;
        };
        // ½ ĝ ∘ q (the factors ½ and 2 below are exact in floating point).
        let half = T::from_f64(0.5);
        for (o, &q) in self.gs.iter_mut().zip(&self.q) {
            *o = half * *o * q;
        }
        if let Some(dv) = dvar {
            gemm(
                dv,
                k,
                j,
                Op::t(&self.gs, rows, k),
                Op::new(&self.a2, rows, j),
                accumulate,
            );
        }
        if let Some(da) = da {
            fit(&mut self.tmp, rows * j);
            gemm(
                &mut self.tmp,
                rows,
                j,
                Op::new(&self.gs, rows, k),
                Op::new(v, k, j),
                false,
            );
            let two = T::from_f64(2.0);
            for ((d, &t), &x) in da.iter_mut().zip(&self.tmp).zip(a) {
                *d += two * x * t;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 2 × 3 layer and a 2-row batch, checked against the formulas by hand.
    #[test]
    fn forward_and_backward_by_hand() {
        let layer = Gaussian {
            rows: 2,
            cols: 3,
            mu: vec![1.0f64, -1.0, 0.5, 0.0, 2.0, 1.0],
            var: Some(vec![0.5, 0.0, 1.0, 0.0, 0.0, 0.0]),
        };
        let a = [1.0, 2.0, 2.0, 0.0, 1.0, 1.0];
        let mut w = LayerWork::new();
        let mut pre = [0.0; 4];
        let scale = 0.5;
        w.forward(
            &layer,
            &a,
            2,
            scale,
            |e| e.copy_from_slice(&[2.0, 1.0, -1.0, 3.0]),
            &mut pre,
        );
        // Row 0: G = (1-2+1, 0+4+2) = (0, 6); S = (0.5+4, 0) = (4.5, 0).
        // Row 1: G = (0·1 + 1·(-1) + 1·0.5, 0 + 2 + 1) = (-0.5, 3); S = (0 + 0 + 1, 0) = (1, 0).
        let s0 = 4.5f64.sqrt();
        let expect = [(0.0 + 2.0 * s0) * 0.5, 6.0 * 0.5, (-0.5 - 1.0) * 0.5, 3.0 * 0.5];
        for (p, e) in pre.iter().zip(expect) {
            assert!((p - e).abs() < 1e-14, "{pre:?} vs {expect:?}");
        }
        assert_eq!(w.q()[1], 0.0);
        assert!((w.q()[0] - 2.0 / s0).abs() < 1e-15);
        // Backward from g = ones: ĝ = 0.5.
        let g = [1.0; 4];
        let mut da = [0.0; 6];
        let mut dmu = [0.0; 6];
        let mut dvar = [0.0; 6];
        w.backward(
            &layer,
            &a,
            2,
            scale,
            &g,
            Some(&mut da),
            &mut dmu,
            Some(&mut dvar),
            false,
        );
        // ∂L/∂M = ĝᵀ a: each row = 0.5 (a0 + a1) = 0.5 (1, 3, 3).
        assert_eq!(dmu, [0.5, 1.5, 1.5, 0.5, 1.5, 1.5]);
        // ĝ∘q: row 0 (0.5·2/s0, 0), row 1 (0.5·(-1)/1, 0); ∂L/∂V = ½ (ĝ∘q)ᵀ (a∘a).
        let p0 = 0.5 * 2.0 / s0;
        let p1 = -0.5;
        let dv0 = [
            0.5 * (p0 * 1.0 + p1 * 0.0),
            0.5 * (p0 * 4.0 + p1 * 1.0),
            0.5 * (p0 * 4.0 + p1 * 1.0),
        ];
        for c in 0..3 {
            assert!((dvar[c] - dv0[c]).abs() < 1e-14);
            assert_eq!(dvar[3 + c], 0.0);
        }
        // ∂L/∂a = ĝ M + a ∘ ((ĝ∘q) V): row 0 = 0.5 (1, 1, 1.5) + a0 ∘ (p0 · (0.5, 0, 1)).
        let da0 = [0.5 + 1.0 * p0 * 0.5, 0.5, 0.75 + 2.0 * p0];
        let da1 = [0.5, 0.5, 0.75 + 1.0 * p1];
        for c in 0..3 {
            assert!((da[c] - da0[c]).abs() < 1e-14, "{da:?}");
            assert!((da[3 + c] - da1[c]).abs() < 1e-14, "{da:?}");
        }
        // Accumulating doubles the weight gradients.
        w.forward(
            &layer,
            &a,
            2,
            scale,
            |e| e.copy_from_slice(&[2.0, 1.0, -1.0, 3.0]),
            &mut pre,
        );
        w.backward(&layer, &a, 2, scale, &g, None, &mut dmu, Some(&mut dvar), true);
        assert_eq!(dmu, [1.0, 3.0, 3.0, 1.0, 3.0, 3.0]);
        assert!((dvar[1] - 2.0 * dv0[1]).abs() < 1e-14);
    }

    #[test]
    fn deterministic_limit_is_a_scaled_product() {
        let layer = Gaussian {
            rows: 1,
            cols: 2,
            mu: vec![2.0f32, -1.0],
            var: None,
        };
        let mut w = LayerWork::new();
        let mut pre = [0.0f32; 1];
        w.forward(&layer, &[1.0, 3.0], 1, 2.0, |_| panic!("no ε needed"), &mut pre);
        assert_eq!(pre, [-2.0]);
        let (mut dmu, mut dvar, mut da) = ([0.0f32; 2], [9.0f32; 2], [0.0f32; 2]);
        w.backward(
            &layer,
            &[1.0, 3.0],
            1,
            2.0,
            &[1.0],
            Some(&mut da),
            &mut dmu,
            Some(&mut dvar),
            false,
        );
        assert_eq!(dmu, [2.0, 6.0]);
        assert_eq!(da, [4.0, -2.0]);
        assert_eq!(dvar, [0.0, 0.0]);
    }
}
