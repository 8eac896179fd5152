//! Dense matrix products on row-major slices, backed by faer's single-threaded GEMM.
//!
//! The engine keeps every matrix as a row-major `&[T]`; these helpers view them as faer
//! matrices (optionally transposed, at no cost) and call one sequential product. The
//! engine parallelizes over batch chunks itself, so each product runs on one core
//! (threading a 64×100×100 product makes it slower, measured).

use crate::real::Real;
use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};

/// A row-major matrix operand: `data` holds `rows × cols` values; `trans` uses its transpose.
#[derive(Clone, Copy)]
pub struct Op<'a, T> {
    data: &'a [T],
    rows: usize,
    cols: usize,
    trans: bool,
}

impl<'a, T: Real> Op<'a, T> {
    /// The `rows × cols` row-major matrix in `data`.
    pub fn new(data: &'a [T], rows: usize, cols: usize) -> Self {
        debug_assert_eq!(data.len(), rows * cols);
        Op {
            data,
            rows,
            cols,
            trans: false,
        }
    }
    /// The transpose of the `rows × cols` row-major matrix in `data` (a `cols × rows` operand).
    pub fn t(data: &'a [T], rows: usize, cols: usize) -> Self {
        debug_assert_eq!(data.len(), rows * cols);
        Op {
            data,
            rows,
            cols,
            trans: true,
        }
    }
    fn view(&self) -> MatRef<'a, T> {
        let m = MatRef::from_row_major_slice(self.data, self.rows, self.cols);
        if self.trans { m.transpose() } else { m }
    }
}

/// `c ← a·b` (`add = false`) or `c ← c + a·b` (`add = true`); `c` is `m × n` row-major.
pub fn gemm<T: Real>(c: &mut [T], m: usize, n: usize, a: Op<'_, T>, b: Op<'_, T>, add: bool) {
    let (av, bv) = (a.view(), b.view());
    debug_assert_eq!(av.nrows(), m);
    debug_assert_eq!(bv.ncols(), n);
    debug_assert_eq!(av.ncols(), bv.nrows());
    if m == 0 || n == 0 {
        return;
    }
    if av.ncols() == 0 {
        if !add {
            c.fill(T::ZERO);
        }
        return;
    }
    let cv: MatMut<'_, T> = MatMut::from_row_major_slice_mut(c, m, n);
    let accum = if add { Accum::Add } else { Accum::Replace };
    matmul(cv, accum, av, bv, T::ONE, Par::Seq);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_match_hand_values() {
        // a = [[1,2],[3,4]], b = [[5,6],[7,8]]
        let a = [1.0f64, 2.0, 3.0, 4.0];
        let b = [5.0f64, 6.0, 7.0, 8.0];
        let mut c = [0.0f64; 4];
        gemm(&mut c, 2, 2, Op::new(&a, 2, 2), Op::new(&b, 2, 2), false);
        assert_eq!(c, [19.0, 22.0, 43.0, 50.0]);
        // aᵀ b = [[26,30],[38,44]]
        gemm(&mut c, 2, 2, Op::t(&a, 2, 2), Op::new(&b, 2, 2), false);
        assert_eq!(c, [26.0, 30.0, 38.0, 44.0]);
        // += a bᵀ = [[17,23],[39,53]]
        gemm(&mut c, 2, 2, Op::new(&a, 2, 2), Op::t(&b, 2, 2), true);
        assert_eq!(c, [43.0, 53.0, 77.0, 97.0]);
    }

    #[test]
    fn empty_inner_dimension_zeroes_or_keeps() {
        let mut c = [1.0f32; 4];
        gemm(&mut c, 2, 2, Op::new(&[], 2, 0), Op::new(&[], 0, 2), true);
        assert_eq!(c, [1.0; 4]);
        gemm(&mut c, 2, 2, Op::new(&[], 2, 0), Op::new(&[], 0, 2), false);
        assert_eq!(c, [0.0; 4]);
    }
}
