//! Dense matrix products on row-major slices, backed by faer's single-threaded GEMM, and the
//! run-time SIMD dispatch of the engine's own element-wise kernels.
//!
//! The engine keeps every matrix as a row-major `&[T]`; these helpers view them as faer
//! matrices (optionally transposed, at no cost) and call one sequential product. The
//! engine parallelizes over batch chunks itself, so each product runs on one core
//! (threading a 64×100×100 product makes it slower, measured).
//!
//! The binary targets baseline x86-64 (no `target-cpu=native`), so it runs on any x86-64
//! CPU. Speed comes from run-time dispatch: faer's x86 GEMM kernels (`private-gemm-x86`,
//! AVX2 or AVX-512) are called with the instruction set of [`SimdLevel::detect`], and the
//! engine's element-wise kernels go through [`dispatch`].

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
    /// (row stride, column stride) in elements of the operand (after the transpose).
    #[cfg(target_arch = "x86_64")]
    fn strides(&self) -> (isize, isize) {
        if self.trans {
            (1, self.cols as isize)
        } else {
            (self.cols as isize, 1)
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
    #[cfg(target_arch = "x86_64")]
    if let Some(instr) = match SimdLevel::detect() {
        SimdLevel::Avx512 => Some(private_gemm_x86::InstrSet::Avx512),
        SimdLevel::Avx2 => Some(private_gemm_x86::InstrSet::Avx256),
        SimdLevel::Baseline => None,
    } {
        // `Real` is implemented for f32 and f64 only.
        let dtype = if size_of::<T>() == 4 {
            private_gemm_x86::DType::F32
        } else {
            private_gemm_x86::DType::F64
        };
        let one = T::ONE;
        let ((ars, acs), (brs, bcs)) = (a.strides(), b.strides());
        // SAFETY: the pointers and element strides describe `m×k`, `k×n` and `m×n` matrices
        // inside the slices (checked above); `dtype` is `T`'s; the instruction set was
        // detected at run time; one thread.
        unsafe {
            private_gemm_x86::gemm(
                dtype,
                private_gemm_x86::IType::U64,
                instr,
                m,
                n,
                av.ncols(),
                c.as_mut_ptr() as *mut (),
                n as isize,
                1,
                std::ptr::null(),
                std::ptr::null(),
                private_gemm_x86::DstKind::Full,
                if add {
                    private_gemm_x86::Accum::Add
                } else {
                    private_gemm_x86::Accum::Replace
                },
                a.data.as_ptr() as *const (),
                ars,
                acs,
                false,
                std::ptr::null(),
                0,
                b.data.as_ptr() as *const (),
                brs,
                bcs,
                false,
                &raw const one as *const (),
                1,
            );
        }
        return;
    }
    let cv: MatMut<'_, T> = MatMut::from_row_major_slice_mut(c, m, n);
    let accum = if add { Accum::Add } else { Accum::Replace };
    matmul(cv, accum, av, bv, T::ONE, Par::Seq);
}

/// A kernel to run at the widest SIMD level this CPU has ([`dispatch`]).
///
/// Implement [`Kernel::run`] with `#[inline(always)]` and keep every helper it calls
/// `#[inline(always)]` too: the body is then compiled once per level inside a
/// `#[target_feature]` function, so its loops vectorize with AVX-512 or AVX2 while the
/// binary itself targets baseline x86-64 (the same run-time dispatch faer uses for its GEMM).
pub trait Kernel {
    /// What the kernel returns.
    type Output;
    /// The kernel's body.
    fn run(self) -> Self::Output;
}

/// SIMD levels of the run-time dispatch, widest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimdLevel {
    /// x86-64-v4: AVX-512 F/BW/CD/DQ/VL (+ AVX2, FMA).
    Avx512,
    /// x86-64-v3: AVX2, FMA, BMI1/2, F16C, LZCNT, MOVBE.
    Avx2,
    /// Whatever the build targets (SSE2 on baseline x86-64; NEON etc. elsewhere).
    Baseline,
}

impl SimdLevel {
    /// The widest level this CPU supports (detected once per process).
    pub fn detect() -> SimdLevel {
        use std::sync::OnceLock;
        static LEVEL: OnceLock<SimdLevel> = OnceLock::new();
        *LEVEL.get_or_init(|| {
            #[cfg(target_arch = "x86_64")]
            {
                if std::env::var_os("SASNET_SIMD").is_some_and(|v| v == "baseline") {
                    return SimdLevel::Baseline;
                }
                let v3 = is_x86_feature_detected!("avx2")
                    && is_x86_feature_detected!("fma")
                    && is_x86_feature_detected!("bmi1")
                    && is_x86_feature_detected!("bmi2")
                    && is_x86_feature_detected!("f16c")
                    && is_x86_feature_detected!("lzcnt")
                    && is_x86_feature_detected!("movbe");
                let v4 = v3
                    && is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx512bw")
                    && is_x86_feature_detected!("avx512cd")
                    && is_x86_feature_detected!("avx512dq")
                    && is_x86_feature_detected!("avx512vl");
                let capped = std::env::var_os("SASNET_SIMD").is_some_and(|v| v == "avx2");
                if v4 && !capped {
                    SimdLevel::Avx512
                } else if v3 {
                    SimdLevel::Avx2
                } else {
                    SimdLevel::Baseline
                }
            }
            #[cfg(not(target_arch = "x86_64"))]
            {
                SimdLevel::Baseline
            }
        })
    }

    /// Lower-case name (`avx512`, `avx2`, `baseline`).
    pub fn name(self) -> &'static str {
        match self {
            SimdLevel::Avx512 => "avx512",
            SimdLevel::Avx2 => "avx2",
            SimdLevel::Baseline => "baseline",
        }
    }
}

/// Runs `k` compiled for [`SimdLevel::detect`]. Element-wise kernels give bit-identical
/// results at every level (no contraction into FMAs, no reassociation: Rust forbids both).
/// `SASNET_SIMD=avx2` or `=baseline` caps the level (for measuring and testing).
#[inline]
pub fn dispatch<K: Kernel>(k: K) -> K::Output {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx512bw,avx512cd,avx512dq,avx512vl,avx2,fma,bmi1,bmi2,f16c,lzcnt,movbe")]
        fn v4<K: Kernel>(k: K) -> K::Output {
            k.run()
        }
        #[target_feature(enable = "avx2,fma,bmi1,bmi2,f16c,lzcnt,movbe")]
        fn v3<K: Kernel>(k: K) -> K::Output {
            k.run()
        }
        match SimdLevel::detect() {
            // SAFETY: the features were detected at run time.
            SimdLevel::Avx512 => unsafe { v4(k) },
            // SAFETY: as above.
            SimdLevel::Avx2 => unsafe { v3(k) },
            SimdLevel::Baseline => k.run(),
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        k.run()
    }
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
