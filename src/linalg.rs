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
    pub(crate) data: &'a [T],
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
        x86::gemm(instr, c, m, n, av.ncols(), a, b, add);
        return;
    }
    let cv: MatMut<'_, T> = MatMut::from_row_major_slice_mut(c, m, n);
    let accum = if add { Accum::Add } else { Accum::Replace };
    matmul(cv, accum, av, bv, T::ONE, Par::Seq);
}

/// A `k × n` right operand packed once for many products `c = a·B` with different `a` (the
/// engine's fixed weight matrices, reused by every step of a minibatch): row-major rows of
/// `ld = n` rounded up to 16 columns, zero-padded, so the products run on our own f32
/// micro-kernels ([`gemm_packed`]) without packing anything per call.
#[derive(Clone, Debug, Default)]
pub struct PackedB<T> {
    /// The operand, row-major `k × n` (for the fallback path: f64, baseline CPUs).
    b: Vec<T>,
    /// The operand as f32 rows of `ld` values (f32 on AVX-512 only; else empty).
    p: Vec<f32>,
    k: usize,
    n: usize,
    ld: usize,
}

impl<T: Real> PackedB<T> {
    /// Packs the `k × n` operand `b` (reusing the buffers).
    pub fn pack(&mut self, b: Op<'_, T>) {
        let (k, n) = if b.trans {
            (b.cols, b.rows)
        } else {
            (b.rows, b.cols)
        };
        let at = |i: usize, j: usize| {
            if b.trans {
                b.data[j * b.cols + i]
            } else {
                b.data[i * b.cols + j]
            }
        };
        self.b.clear();
        self.b.extend((0..k * n).map(|e| at(e / n, e % n)));
        self.k = k;
        self.n = n;
        self.ld = n.div_ceil(16) * 16;
        self.p.clear();
        // Our kernel is AVX-512 only: an AVX2 version (4×24 tiles, all 16 ymm registers) ran
        // W at 1.36× the time of faer's AVX2 kernel, so AVX2 CPUs keep faer (same bits).
        if size_of::<T>() == 4 && SimdLevel::detect() == SimdLevel::Avx512 {
            self.p.resize(k * self.ld, 0.0);
            for i in 0..k {
                for j in 0..n {
                    self.p[i * self.ld + j] = self.b[i * n + j].to_f64() as f32;
                }
            }
        }
    }
}

/// `c ← a·B` for a row-major `m × n` `c` and row-major `m × k` `a`, with `B` packed. In f32 on
/// AVX-512 this runs our own register-tiled kernel (4 rows × 64 columns, 16 zmm accumulators,
/// no packing per call): every output is one FMA chain over `k` in order from zero, the same
/// bits as faer's kernels give (checked: `sasnet bench` loss identical to faer's at AVX-512 and
/// AVX2). Otherwise it is [`gemm`] (faer).
pub fn gemm_packed<T: Real>(c: &mut [T], m: usize, a: &[T], b: &PackedB<T>) {
    let (k, n) = (b.k, b.n);
    assert!(c.len() == m * n && a.len() == m * k);
    #[cfg(target_arch = "x86_64")]
    if !b.p.is_empty() && k > 0 {
        // `p` is only filled for f32 (`Real` is f32 or f64) at AVX-512.
        // SAFETY: T is f32 (size 4); the sizes were asserted; the level was detected.
        unsafe {
            x86::gemm_packed_f32(
                SimdLevel::detect(),
                c.as_mut_ptr() as *mut f32,
                m,
                n,
                k,
                a.as_ptr() as *const f32,
                &b.p,
                b.ld,
            )
        };
        return;
    }
    gemm(c, m, n, Op::new(a, m, k), Op::new(&b.b, k, n), false);
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! Direct calls of faer's x86 GEMM kernels, with the split of the output's columns below.

    use super::Op;
    use crate::real::Real;
    use private_gemm_x86::{Accum, DType, DstKind, IType, InstrSet};
    use std::cell::RefCell;

    /// [`super::gemm_packed`] in f32: `c (m×n) ← a (m×k) · p (k rows of ld)`.
    ///
    /// # Safety
    /// `c` and `a` must hold `m·n` and `m·k` values, `p` `k·ld` with `ld ≥ n` rounded up to
    /// 16, and `level` must be AVX-512, supported by the CPU.
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn gemm_packed_f32(
        level: super::SimdLevel,
        c: *mut f32,
        m: usize,
        n: usize,
        k: usize,
        a: *const f32,
        p: &[f32],
        ld: usize,
    ) {
        assert!(p.len() >= k * ld && ld >= n.div_ceil(16) * 16);
        // SAFETY: as promised by the caller.
        unsafe {
            assert!(level == super::SimdLevel::Avx512);
            packed512(c, m, n, k, a, p.as_ptr(), ld)
        }
    }

    use std::arch::x86_64::*;

    /// One `R × 16C` tile: `acc = Σ_kk a[r, kk] · p[kk, ..]`, FMAs in `kk` order; stores the
    /// first `w` columns.
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile512<const R: usize, const C: usize>(
        a: *const f32,
        lda: usize,
        p: *const f32,
        ld: usize,
        k: usize,
        c: *mut f32,
        ldc: usize,
        w: usize,
    ) {
        let mut acc = [[_mm512_setzero_ps(); C]; R];
        // SAFETY (whole body): the caller's tile lies inside `a`, `p` and `c`.
        unsafe {
            for kk in 0..k {
                let bp = p.add(kk * ld);
                let mut bv = [_mm512_setzero_ps(); C];
                for (j, v) in bv.iter_mut().enumerate() {
                    *v = _mm512_loadu_ps(bp.add(16 * j));
                }
                for (r, row) in acc.iter_mut().enumerate() {
                    let av = _mm512_set1_ps(*a.add(r * lda + kk));
                    for (x, &b) in row.iter_mut().zip(&bv) {
                        *x = _mm512_fmadd_ps(av, b, *x);
                    }
                }
            }
            for (r, row) in acc.iter().enumerate() {
                for (j, &v) in row.iter().enumerate() {
                    let dst = c.add(r * ldc + 16 * j);
                    let cols = w - 16 * j;
                    if cols >= 16 {
                        _mm512_storeu_ps(dst, v);
                    } else {
                        _mm512_mask_storeu_ps(dst, ((1u32 << cols) - 1) as u16, v);
                    }
                }
            }
        }
    }

    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn packed512(c: *mut f32, m: usize, n: usize, k: usize, a: *const f32, p: *const f32, ld: usize) {
        // SAFETY: every tile lies inside the matrices (rows i0..i0+r, columns j0..j0+w).
        unsafe {
            let mut j0 = 0;
            while j0 < n {
                let w = (n - j0).min(64);
                let nv = w.div_ceil(16);
                let pj = p.add(j0);
                let mut i0 = 0;
                while i0 < m {
                    let r = (m - i0).min(4);
                    let (ai, ci) = (a.add(i0 * k), c.add(i0 * n + j0));
                    macro_rules! t {
                        ($r:literal, $c:literal) => {
                            tile512::<$r, $c>(ai, k, pj, ld, k, ci, n, w)
                        };
                    }
                    match (r, nv) {
                        (4, 4) => t!(4, 4),
                        (4, 3) => t!(4, 3),
                        (4, 2) => t!(4, 2),
                        (4, 1) => t!(4, 1),
                        (3, 4) => t!(3, 4),
                        (3, 3) => t!(3, 3),
                        (3, 2) => t!(3, 2),
                        (3, 1) => t!(3, 1),
                        (2, 4) => t!(2, 4),
                        (2, 3) => t!(2, 3),
                        (2, 2) => t!(2, 2),
                        (2, 1) => t!(2, 1),
                        (1, 4) => t!(1, 4),
                        (1, 3) => t!(1, 3),
                        (1, 2) => t!(1, 2),
                        _ => t!(1, 1),
                    }
                    i0 += r;
                }
                j0 += 64;
            }
        }
    }

    /// Vectors of the kernels run along the output's contiguous dimension (the columns of a
    /// row-major `c`) in steps of 16 f32 lanes (AVX2: 8) (AVX-512: a 96-row micro-kernel and masked
    /// 16…80-row ones). A remainder (4 of the 100 columns of every `nb×N` product) costs a
    /// whole masked 16-row kernel with only 4 accumulators per column block, latency-bound:
    /// measured, 31 % of the main kernel's time for 4 % of the work. [`gemm`] computes those
    /// columns separately, transposed (the rows become the vector dimension), into a scratch
    /// block, and adds them into `c`.
    const LANE_STEP: usize = 16;

    thread_local! {
        /// Scratch for the transposed remainder block (8-byte words, reused).
        static SCRATCH: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
    }

    /// One kernel call: `dst (m×n, element strides drs, dcs) ← / += a·b`.
    ///
    /// # Safety
    /// The pointers and element strides must describe `m×k`, `k×n` and `m×n` matrices of `T`
    /// inside live allocations, `dst` not overlapping `a` or `b`; `instr` must be supported.
    #[allow(clippy::too_many_arguments)]
    unsafe fn call<T: Real>(
        instr: InstrSet,
        (m, n, k): (usize, usize, usize),
        dst: (*mut T, isize, isize),
        add: bool,
        a: (*const T, isize, isize),
        b: (*const T, isize, isize),
    ) {
        // `Real` is implemented for f32 and f64 only.
        let dtype = if size_of::<T>() == 4 {
            DType::F32
        } else {
            DType::F64
        };
        let one = T::ONE;
        // SAFETY: as promised by the caller; one thread.
        unsafe {
            private_gemm_x86::gemm(
                dtype,
                IType::U64,
                instr,
                m,
                n,
                k,
                dst.0 as *mut (),
                dst.1,
                dst.2,
                std::ptr::null(),
                std::ptr::null(),
                DstKind::Full,
                if add { Accum::Add } else { Accum::Replace },
                a.0 as *const (),
                a.1,
                a.2,
                false,
                std::ptr::null(),
                0,
                b.0 as *const (),
                b.1,
                b.2,
                false,
                &raw const one as *const (),
                1,
            );
        }
    }

    /// `c ← / += a·b` for a row-major `m×n` `c`, `a` `m×k`, `b` `k×n` (sizes checked by the
    /// caller, all nonzero).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn gemm<T: Real>(
        instr: InstrSet,
        c: &mut [T],
        m: usize,
        n: usize,
        k: usize,
        a: Op<'_, T>,
        b: Op<'_, T>,
        add: bool,
    ) {
        assert!(c.len() == m * n && a.data.len() == m * k && b.data.len() == k * n);
        let ((ars, acs), (brs, bcs)) = (a.strides(), b.strides());
        let (ap, bp) = (a.data.as_ptr(), b.data.as_ptr());
        let lanes = match instr {
            InstrSet::Avx512 => LANE_STEP,
            InstrSet::Avx256 => LANE_STEP / 2,
        } * 4
            / size_of::<T>();
        let rem = n % lanes;
        let main = n - rem;
        if rem == 0 || m < lanes {
            // SAFETY: the slices hold the matrices (asserted above); instr was detected.
            unsafe {
                call(
                    instr,
                    (m, n, k),
                    (c.as_mut_ptr(), n as isize, 1),
                    add,
                    (ap, ars, acs),
                    (bp, brs, bcs),
                )
            };
            return;
        }
        if main > 0 {
            // Columns `0..main` of `c` (row stride n) from columns `0..main` of `b`.
            // SAFETY: a sub-block of the same matrices.
            unsafe {
                call(
                    instr,
                    (m, main, k),
                    (c.as_mut_ptr(), n as isize, 1),
                    add,
                    (ap, ars, acs),
                    (bp, brs, bcs),
                )
            };
        }
        SCRATCH.with(|s| {
            let mut s = s.borrow_mut();
            let words = (m * rem * size_of::<T>()).div_ceil(8);
            if s.len() < words {
                s.resize(words, 0);
            }
            let t = s.as_mut_ptr() as *mut T;
            // The remainder columns into a column-major `m×rem` scratch block (rows contiguous).
            // SAFETY: the scratch holds m·rem values of T (8-byte aligned); b's columns
            // `main..n` start `main` column strides in.
            unsafe {
                call(
                    instr,
                    (m, rem, k),
                    (t, 1, m as isize),
                    false,
                    (ap, ars, acs),
                    (bp.offset(main as isize * bcs), brs, bcs),
                );
            }
            // SAFETY: initialized just above.
            let t = unsafe { std::slice::from_raw_parts(t as *const T, m * rem) };
            for (i, row) in c.chunks_exact_mut(n).enumerate() {
                let dst = &mut row[main..];
                if add {
                    for (j, d) in dst.iter_mut().enumerate() {
                        *d += t[j * m + i];
                    }
                } else {
                    for (j, d) in dst.iter_mut().enumerate() {
                        *d = t[j * m + i];
                    }
                }
            }
        });
    }
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
        #[target_feature(
            enable = "avx512f,avx512bw,avx512cd,avx512dq,avx512vl,avx2,fma,bmi1,bmi2,f16c,lzcnt,movbe"
        )]
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

    /// Shapes whose column count is not a multiple of the vector width take the split path
    /// (main columns, then the remainder transposed); compare with a plain triple loop.
    #[test]
    fn split_products_match_a_triple_loop() {
        fn check<T: Real>(m: usize, k: usize, n: usize, trans_a: bool, add: bool) {
            let a: Vec<T> = (0..m * k)
                .map(|i| T::from_f64(((i * 7) % 11) as f64 - 5.0))
                .collect();
            let b: Vec<T> = (0..k * n)
                .map(|i| T::from_f64(((i * 3) % 13) as f64 - 6.0))
                .collect();
            let c0: Vec<T> = (0..m * n).map(|i| T::from_f64((i % 5) as f64)).collect();
            let mut c = c0.clone();
            let op = if trans_a {
                Op::t(&a, k, m)
            } else {
                Op::new(&a, m, k)
            };
            gemm(&mut c, m, n, op, Op::new(&b, k, n), add);
            for i in 0..m {
                for j in 0..n {
                    let mut s = if add { c0[i * n + j].to_f64() } else { 0.0 };
                    for l in 0..k {
                        let av = if trans_a { a[l * m + i] } else { a[i * k + l] };
                        s += av.to_f64() * b[l * n + j].to_f64();
                    }
                    // Small integers: exact in f32 and f64.
                    assert_eq!(c[i * n + j].to_f64(), s, "{m}x{k}x{n} at ({i},{j})");
                }
            }
        }
        for &(m, k, n) in &[
            (64, 100, 100),
            (64, 10, 100),
            (64, 100, 10),
            (100, 37, 100),
            (5, 7, 3),
            (17, 3, 33),
        ] {
            for (trans_a, add) in [(false, false), (true, false), (false, true), (true, true)] {
                check::<f32>(m, k, n, trans_a, add);
                check::<f64>(m, k, n, trans_a, add);
            }
        }
    }

    /// The packed kernels (f32, AVX levels) and their fallback against a triple loop, over
    /// shapes that exercise every tile size, and transposed operands.
    #[test]
    fn packed_products_match_a_triple_loop() {
        fn check<T: Real>(m: usize, k: usize, n: usize, trans: bool) {
            let a: Vec<T> = (0..m * k)
                .map(|i| T::from_f64(((i * 7) % 11) as f64 - 5.0))
                .collect();
            let b: Vec<T> = (0..k * n)
                .map(|i| T::from_f64(((i * 3) % 13) as f64 - 6.0))
                .collect();
            let mut pb = PackedB::default();
            pb.pack(if trans { Op::t(&b, n, k) } else { Op::new(&b, k, n) });
            let mut c = vec![T::from_f64(9.0); m * n];
            gemm_packed(&mut c, m, &a, &pb);
            for i in 0..m {
                for j in 0..n {
                    let mut s = 0.0;
                    for l in 0..k {
                        let bv = if trans { b[j * k + l] } else { b[l * n + j] };
                        s += a[i * k + l].to_f64() * bv.to_f64();
                    }
                    assert_eq!(c[i * n + j].to_f64(), s, "{m}x{k}x{n} at ({i},{j})");
                }
            }
        }
        for &(m, k, n) in &[(64, 100, 100), (7, 5, 3), (13, 17, 70), (5, 1, 129), (1, 3, 16)] {
            for trans in [false, true] {
                check::<f32>(m, k, n, trans);
                check::<f64>(m, k, n, trans);
            }
        }
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
