//! Infinite-width ("lazy") theory of the spike-and-slab recurrent network (docs/MODEL.md §5.13): the
//! recurrent neural tangent kernel (NTK) of the mean-field network, its closed-form learning
//! curves, and the checks against finite networks run by the gBPTT engine.
//!
//! * [`kernel`]: the analytic kernels, [`ntk`].
//! * [`curves`]: gradient-flow and gradient-step learning curves, [`Linearized`].
//! * [`finite`]: finite networks in the same parametrization, their empirical kernel `Θ̂`
//!   and gradient-descent training, [`FiniteNet`].
//! * [`experiments`]: the two experiments of the report (two inputs at an angle φ; row-wise
//!   MNIST 0 vs 1), the convergence study, and [`run_theory`].
//!
//! # Derivation
//!
//! ## Model and parametrization
//!
//! The network of docs/MODEL.md §1 with one output (`K = 1`) read at the last step, no recurrent
//! noise (`σ = 0` in Eq. 1a; noise would add `2ασ²` to the diagonal of `U` below, but the
//! theory is for the deterministic dynamics), `h_0 = 0`, ReLU `φ`, for `t = 1..T`:
//!
//! ```text
//! u_i(t) = Σ_j μ_ij r_j(t−1) + Σ_k μ^in_ik x_k(t) + ε_i(t) s_i(t),
//! s_i(t)² = Σ_j v_ij r_j(t−1)² + Σ_k v^in_ik x_k(t)²,
//! h(t) = (1−α) h(t−1) + α u(t),     r = φ(h),
//! z = Σ_i μ^out_i r_i(T) + ε_out s_out,   s_out² = Σ_i v^out_i r_i(T)²,
//! ```
//!
//! with the spike-and-slab moments `μ = (1−π) m`, `v = (1−π) Ξ + π(1−π) m²` and ε standard
//! normal (the mean-field pre-activation, Eqs. 4–5). NTK parametrization, `λ := 1−α`:
//!
//! ```text
//! m_in = σ_in m̃ / √I,  m_rec = σ_rec m̃ / √N,  m_out = σ_out m̃ / √N,   m̃ ~ N(0, 1) iid,
//! Ξ_in = Ξ̃_in / I,     Ξ_rec = Ξ̃_rec / N,     Ξ_out = Ξ̃_out / N,       Ξ̃ fixed scalars,
//! π = π₀ = 0 at initialization (input layer: π_in = 0 throughout).
//! ```
//!
//! The trained parameters are `m̃` (all layers), `π_rec`, `π_out` (and formally `Ξ̃`), all by
//! gradient descent with one rate `η` (`π` optionally at `pi_lr · η`). `Ξ̃` drawn iid instead
//! of constant gives the same limit with `Ξ̃` replaced by its mean.
//!
//! **ε.** At `π = 0` the ε term is `ε_i(t) s_i(t)` with `s_i(t)² = Ξ̃_rec q(t−1) + Ξ̃_in
//! |x(t)|²/I`, where `q(t) = (1/N) Σ_j r_j(t)²` self-averages: an O(1) Gaussian term,
//! independent across units and steps, that does not vanish as `N → ∞`. Whether two samples
//! share it is a modelling choice ([`EpsMode`]): `Shared` (a quenched network: one draw per
//! unit and step, the same for all inputs, fixed in training), `PerSample` (one fixed draw
//! per sample; the engine's per-sample draws) and `Fresh` (a new draw at every evaluation,
//! as in the paper's training; then even the two factors of `Θ(a,a)` have independent draws
//! and the learning curves describe the ε-averaged output). Write `[ab]` = 1 when the
//! evaluations of `a` and `b` share their draw (`Shared`: always; `PerSample`: `a = b`;
//! `Fresh`: never); a sample's *own* variances always contain its own draw.
//!
//! ## Forward kernels
//!
//! By the central limit theorem over the `N` (or `I`) summands, at initialization the
//! `u_i(t; x)` are, across units `i`, iid centred Gaussian processes over (input, time)
//! (tied weights across time are allowed: the covariance of `Σ_j W_ij r_j(t−1)` and
//! `Σ_j W_ij r_j(t'−1)` is `σ²/N Σ_j r_j(t−1) r_j(t'−1)`). With
//! `X^{t,t'}(a,b) = x_a(t)·x_b(t')/I`:
//!
//! ```text
//! U^{t,t'}(a,b) = σ_rec² R^{t−1,t'−1}(a,b) + σ_in² X^{t,t'}(a,b) + δ_{tt'} [ab] s_t(a) s_t(b),
//! s_t(a)²       = Ξ̃_rec R^{t−1,t−1}(a,a) + Ξ̃_in X^{t,t}(a,a),          R^{0,·} = 0 (h_0 = 0),
//! ```
//!
//! the last term being the slab-variance ("nugget") term on the same-time diagonal. The leak
//! makes `h_t = α Σ_{s ≤ t} λ^{t−s} u_s` a linear functional of the `u`'s, so
//! `H^{t,t'} := Σ^{t,t'} = Cov(h_t(a), h_t'(b))` is the double sum with cross-time terms
//!
//! ```text
//! H^{t,t'} = α² Σ_{s≤t} Σ_{s'≤t'} λ^{t−s} λ^{t'−s'} U^{s,s'}
//!          = α² U^{t,t'} + λ H^{t−1,t'} + λ H^{t,t'−1} − λ² H^{t−1,t'−1},
//! ```
//!
//! (inclusion–exclusion of the geometric 2-D prefix sum, `O(T²)` per pair). The ReLU
//! expectations over the centred bivariate Gaussian `(h_t(a), h_t'(b))` with variances
//! `H^{t,t}(a,a)`, `H^{t',t'}(b,b)`, covariance `c = H^{t,t'}(a,b)` and angle
//! `θ = arccos(c/√(H_aa H_bb))` are the arc-cosine kernels of order 1 and 0:
//!
//! ```text
//! R^{t,t'} = E[φ φ']   = (√(H_aa H_bb − c²) + c (π − θ)) / 2π,
//! Ṙ^{t,t'} = E[φ̇ φ̇']  = (π − θ) / 2π.
//! ```
//!
//! The output at initialization is Gaussian with covariance (the NNGP kernel)
//! `K(a,b) = σ_out² R^{T,T}(a,b) + [ab] Ξ̃_out √(R^{T,T}(a,a) R^{T,T}(b,b))`.
//!
//! ## Backward kernels
//!
//! Let `g_i(t) = ∂z/∂u_i(t) = α δ_i(t)`, `δ_i(t) = ∂z/∂h_i(t)` (Eqs. 9–12). With
//! `∂u_j(t+1)/∂r_i(t) = μ_ji + ε_j v_ji r_i / s_j` and `∂z/∂r_i = μ^out_i + ε_out v^out_i r_i /
//! s_out`, the ε parts have entries `v = O(1/N)` against `μ = O(1/√N)`; their sums over the
//! receiving units have zero mean (the backward signal is odd in `μ^out`) and are `O(1/√N)`
//! relative to the `μ` parts, so to leading order
//!
//! ```text
//! δ_i(t) = Σ_{s ≥ t} λ^{s−t} φ̇(h_i(s)) e_i(s),  e_i(s) = Σ_j μ_ji g_j(s+1) (s < T),  e_i(T) = μ^out_i.
//! ```
//!
//! Under the gradient-independence rule (valid here because the readout is zero-mean and
//! independent, Yang 2020), `e` is Gaussian and independent of the forward pass with
//! `N·Cov(e_i(s;a), e_i(s';b)) = E^{s,s'}`: `σ_out²` for `s = s' = T`, `σ_rec² Π^{s+1,s'+1}`
//! for `s, s' < T`, 0 otherwise (`μ^out` and the recurrent path are uncorrelated). Hence the
//! backward kernel `Π^{t,t'}(a,b) = lim Σ_i g_i(t;a) g_i(t';b) = α² Δ^{t,t'}` with
//!
//! ```text
//! Δ^{t,t'} = Σ_{s≥t} Σ_{s'≥t'} λ^{s−t} λ^{s'−t'} Ṙ^{s,s'} E^{s,s'}
//!          = Ṙ^{t,t'} E^{t,t'} + λ Δ^{t+1,t'} + λ Δ^{t,t'+1} − λ² Δ^{t+1,t'+1},
//! ```
//!
//! computed backward from `t = t' = T` (`E^{t,t'}` needs `Π^{t+1,t'+1}` only).
//!
//! ## The tangent kernel and its parts
//!
//! `Θ(a,b) = Σ_θ ∂z(a)/∂θ ∂z(b)/∂θ`. At `π = 0`, `∂μ/∂m = 1`, `∂v/∂m = 2π(1−π)m = 0`,
//! `∂μ/∂π = −m`, `∂v/∂π = m² − Ξ`, `∂v/∂Ξ = 1`, and `∂u_i(t)/∂μ_ij = r_j(t−1)` exactly.
//!
//! * **m parts.** `∂z/∂m̃^rec_ij = (σ_rec/√N) Σ_t g_i(t) r_j(t−1)`, so
//!   `Θ_rec^m = σ_rec² Σ_{t,t'} [Σ_i g_i g_i'] [(1/N) Σ_j r_j r_j'] → σ_rec² Σ_{t,t'}
//!   Π^{t,t'} R^{t−1,t'−1}`; likewise `Θ_in^m = σ_in² Σ_{t,t'} Π^{t,t'} X^{t,t'}` (the sum
//!   over `i` self-averages although `I` is finite) and `Θ_out^m = σ_out² R^{T,T}`.
//! * **π parts = m parts at π = 0.** `∂z/∂π_ij = −m_ij ∂z/∂μ_ij + (m_ij² − Ξ_ij) ∂z/∂v_ij`.
//!   The first term is `−m̃_ij` times the `m̃` gradient, so its contraction is
//!   `σ² (1/N) Σ_ij m̃_ij² (…)_ij (…)'_ij`; a single weight changes the forward and backward
//!   signals only by `O(1/√N)`, so `m̃_ij²` decouples and averages to `E[m̃²] = 1`:
//!   `Θ_rec^π → Θ_rec^m`, and exactly so for the readout (`r(T)` does not depend on `m̃^out`):
//!   `Θ_out^π → Θ_out^m`. The second term has entries `O(1/N) · O(1/√N)` (`m², Ξ = O(1/N)`,
//!   `∂z/∂v_ij = Σ_t g_i ε_i r_j²/(2 s_i) = O(1/√N)`); squared and summed over `N²` entries
//!   it is `O(1/N)`, and its cross term with the first is odd in `m̃`, hence zero on average
//!   and `O(N^{-3/2})` in size. So at `π₀ = 0`, `Θ = Θ_in^m + (1 + pi_lr)(Θ_rec^m + Θ_out^m)`.
//! * **Ξ parts vanish like 1/N.** `∂z/∂Ξ̃_ij = (1/N) ∂z/∂v_ij = O(N^{-3/2})` per entry;
//!   `Σ_ij` over `N²` entries of the product is `O(1/N)` (same for the readout: `N` entries of
//!   `O(N^{-3})`). Training `Ξ` itself instead of `Ξ̃` would make this part grow like `N`: the
//!   `1/N` scaling is what keeps the slab variance's contribution to `u` O(1) while its
//!   learning is frozen in the limit.
//! * **Input layer.** Its fan-in `I` does not grow, so `π_in` and `Ξ̃_in` do not decouple:
//!   their parts are `O(1)` and `O(1/I)`, and `π_in ≠ m_in` in general. The theory holds them
//!   fixed (as the empirical kernel reports separately); only `m̃_in` is trained.
//!
//! ## π₀ ≠ 0
//!
//! With `π = π₀` in `rec`, `out`: `μ = (1−π₀) m` replaces `σ²` by `σ̄² = (1−π₀)² σ²` in the
//! mean-weight terms of `U`, `E` and `K`; `v = (1−π₀)Ξ + π₀(1−π₀)m²` replaces `Ξ̃` in the
//! nugget by `κ = (1−π₀) Ξ̃ + π₀(1−π₀) σ²` (the spike's Bernoulli variance joins the slab
//! variance); `Θ^m = σ̄² (…)` while `Θ^π = σ² (…)`, i.e. `Θ^π = Θ^m / (1−π₀)²`. [`ntk`]
//! implements this. At `π₀ = 0` the linearized flow pushes about half of the `π` below 0;
//! the theory (and [`FiniteNet::gd_step`]) treats `π` as unconstrained (the moments are
//! polynomials in `π`), whereas the training code clips `π` to `[0, 1]`, which makes the `π`
//! part act only on connections whose gradient pushes `π` up. `π₀ > 0` avoids the boundary.
//!
//! ## Learning curves
//!
//! In the limit `Θ` stays constant during training (each parameter moves by `O(1/√N)`), so
//! under `L = ½ Σ_a (f(x_a) − y_a)²` and `θ̇ = −η ∇L` the outputs obey
//! `ḟ_X = −ηΘ(f_X − Y)`: `f_X(τ) = Y + e^{−ηΘτ}(f_X(0) − Y)`, and for test inputs
//! `f_*(τ) = f_*(0) + Θ(*,X) Θ^{-1}(I − e^{−ηΘτ})(Y − f_X(0))`. Gradient descent with steps
//! of size `η` gives `(I − ηΘ)^k` in place of `e^{−ηΘτ}` (stable for `η < 2/λ_max`). See
//! [`curves`].
//!
//! ## Finite-N corrections
//!
//! The empirical kernel `Θ̂` of a width-`N` network fluctuates around `Θ` by `O(1/√N)`
//! (products of `N` self-averaging terms), plus the `O(1/N)` `Ξ`/`π` corrections above; its
//! change during training is `O(1/√N)` relative (the lazy regime).

pub mod curves;
pub mod experiments;
pub mod finite;
pub mod kernel;

pub use curves::{GpPrior, Linearized, Predictions, Schedule, mse};
pub use experiments::run_theory;
pub use finite::{EmpiricalKernel, FiniteNet, SampleGrads, rel_frobenius};
pub use kernel::{EpsMode, Kernel, NtkParams, ThetaParts, TimeKernels, arccos_kernels, ntk};
