//! The spike-and-slab parametrization of one layer and its chain rule (paper Eq. 3, docs/MODEL.md §1.2).
//!
//! Each connection has `P(w) = π δ(w) + (1-π) N(w | m, Ξ)`. The engine only needs the two
//! moments `μ = (1-π) m` and `v = (1-π) Ξ + π (1-π) m²`; this module maps the parameters to
//! the moments and the moment gradients back to parameter gradients. It knows nothing of
//! networks or time; [`classes`] holds the weight-class rule and [`ensemble`] the trait of a
//! network of named spike-and-slab layers.

pub mod classes;
pub mod ensemble;

pub use ensemble::Ensemble;

/// Writes every layer of `net` as `<name>.m`, `<name>.pi`, `<name>.xi` (`rows × cols`): the
/// one parameter layout of every checkpoint, by layer name.
pub fn write_layers<E: Ensemble + ?Sized>(w: &mut crate::io::tensors::TensorWriter, net: &E) {
    for (name, l) in net.named_layers() {
        let sh = [l.rows, l.cols];
        w.add(&format!("{name}.m"), &sh, &l.m);
        w.add(&format!("{name}.pi"), &sh, &l.pi);
        w.add(&format!("{name}.xi"), &sh, &l.xi);
    }
}

/// Reads layer `name` (`<name>.m`, `<name>.pi`, `<name>.xi`, each `rows × cols`) from `f`.
pub(crate) fn read_layer<T: Real>(
    f: &crate::io::tensors::TensorFile,
    name: &str,
    rows: usize,
    cols: usize,
) -> Result<SasLayer<T>> {
    let sh = [rows, cols];
    Ok(SasLayer {
        rows,
        cols,
        m: f.get(&format!("{name}.m"), &sh)?,
        pi: f.get(&format!("{name}.pi"), &sh)?,
        xi: f.get(&format!("{name}.xi"), &sh)?,
    })
}

use crate::error::{Result, SasError};
use crate::real::Real;

/// Spike-and-slab parameters of one layer, each `rows × cols` row-major (row = receiving unit).
#[derive(Clone, Debug, PartialEq)]
pub struct SasLayer<T> {
    /// Receiving units.
    pub rows: usize,
    /// Sending units.
    pub cols: usize,
    /// Slab mean `m`.
    pub m: Vec<T>,
    /// Spike (absence) probability `π ∈ [0, 1]`.
    pub pi: Vec<T>,
    /// Slab variance `Ξ ≥ 0`.
    pub xi: Vec<T>,
}

/// Gradients of a loss with respect to the three parameter tensors of one layer.
#[derive(Clone, Debug, PartialEq)]
pub struct SasGrad<T> {
    /// `∂L/∂m`, `rows × cols`.
    pub m: Vec<T>,
    /// `∂L/∂π`, `rows × cols`.
    pub pi: Vec<T>,
    /// `∂L/∂Ξ`, `rows × cols`.
    pub xi: Vec<T>,
}

impl<T: Real> SasLayer<T> {
    /// The moment matrices of the layer for the engine: `μ`, and `v` when `stochastic`
    /// (`None`: a deterministic layer, or the mean network's `w = μ`).
    pub fn moments(&self, stochastic: bool) -> crate::engine::Gaussian<T> {
        let mut mu = vec![T::ZERO; self.rows * self.cols];
        self.mean_into(&mut mu);
        let var = stochastic.then(|| {
            let mut v = vec![T::ZERO; self.rows * self.cols];
            self.var_into(&mut v);
            v
        });
        crate::engine::Gaussian {
            rows: self.rows,
            cols: self.cols,
            mu,
            var,
        }
    }

    /// A layer with all-zero parameters (`π = 0`, `Ξ = 0`, `m = 0`).
    pub fn zeros(rows: usize, cols: usize) -> Self {
        let z = vec![T::ZERO; rows * cols];
        SasLayer {
            rows,
            cols,
            m: z.clone(),
            pi: z.clone(),
            xi: z,
        }
    }

    /// Checks lengths, finiteness, `π ∈ [0,1]` and `Ξ ≥ 0`; `name` labels the error.
    pub fn validate(&self, name: &str) -> Result<()> {
        let n = self.rows * self.cols;
        for (kind, v) in [("m", &self.m), ("pi", &self.pi), ("xi", &self.xi)] {
            if v.len() != n {
                return Err(SasError::Shape {
                    name: format!("{name}.{kind}"),
                    got: vec![v.len()],
                    expected: vec![self.rows, self.cols],
                });
            }
            if let Some(i) = v.iter().position(|x| !x.is_finite()) {
                return Err(SasError::InvalidTensor {
                    name: format!("{name}.{kind}"),
                    reason: format!("entry {i} is not finite"),
                });
            }
        }
        if let Some(i) = self.pi.iter().position(|&p| p < T::ZERO || p > T::ONE) {
            return Err(SasError::InvalidTensor {
                name: format!("{name}.pi"),
                reason: format!("entry {i} = {} is outside [0, 1]", self.pi[i]),
            });
        }
        if let Some(i) = self.xi.iter().position(|&x| x < T::ZERO) {
            return Err(SasError::InvalidTensor {
                name: format!("{name}.xi"),
                reason: format!("entry {i} = {} is negative", self.xi[i]),
            });
        }
        Ok(())
    }

    /// The mean `μ = (1-π) m`, `rows × cols`, written into `mu`.
    pub fn mean_into(&self, mu: &mut [T]) {
        for ((o, &m), &p) in mu.iter_mut().zip(&self.m).zip(&self.pi) {
            *o = (T::ONE - p) * m;
        }
    }

    /// The variance `v = (1-π) Ξ + π (1-π) m²`, `rows × cols`, written into `var`.
    pub fn var_into(&self, var: &mut [T]) {
        for (((o, &m), &p), &x) in var.iter_mut().zip(&self.m).zip(&self.pi).zip(&self.xi) {
            *o = (T::ONE - p) * x + p * (T::ONE - p) * m * m;
        }
    }

    /// Chain rule from moment gradients to parameter gradients.
    ///
    /// `dmu = ∂L/∂μ`; `dvar = ∂L/∂v`, or `None` for a layer run in the deterministic limit
    /// (its `π` and `Ξ` are held fixed and get zero gradients, and `∂L/∂m = (1-π) ∂L/∂μ`).
    pub fn chain(&self, dmu: &[T], dvar: Option<&[T]>) -> SasGrad<T> {
        let n = self.rows * self.cols;
        let mut g = SasGrad {
            m: vec![T::ZERO; n],
            pi: vec![T::ZERO; n],
            xi: vec![T::ZERO; n],
        };
        let two = T::from_f64(2.0);
        for i in 0..n {
            let (m, p, x) = (self.m[i], self.pi[i], self.xi[i]);
            let q = T::ONE - p;
            let dm = dmu[i];
            match dvar {
                Some(dv) => {
                    let dv = dv[i];
                    g.m[i] = q * dm + two * p * q * m * dv;
                    g.pi[i] = -m * dm + ((T::ONE - two * p) * m * m - x) * dv;
                    g.xi[i] = q * dv;
                }
                None => g.m[i] = q * dm,
            }
        }
        g
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer() -> SasLayer<f64> {
        SasLayer {
            rows: 1,
            cols: 3,
            m: vec![0.5, -2.0, 1.0],
            pi: vec![0.25, 1.0, 0.0],
            xi: vec![0.1, 0.3, 0.0],
        }
    }

    #[test]
    fn moments_by_hand() {
        let l = layer();
        let mut mu = [0.0; 3];
        let mut v = [0.0; 3];
        l.mean_into(&mut mu);
        l.var_into(&mut v);
        // μ = 0.75·0.5, 0·(-2), 1·1
        assert_eq!(mu, [0.375, 0.0, 1.0]);
        // v = 0.75·0.1 + 0.25·0.75·0.25 = 0.075 + 0.046875; π = 1 → 0; π = 0, Ξ = 0 → 0
        assert!((v[0] - 0.121875).abs() < 1e-15);
        assert_eq!(&v[1..], &[0.0, 0.0]);
    }

    #[test]
    fn chain_rule_by_hand() {
        let l = layer();
        let g = l.chain(&[1.0, 1.0, 1.0], Some(&[2.0, 2.0, 2.0]));
        // entry 0: dm = 0.75 + 2·0.25·0.75·0.5·2 = 1.125; dπ = -0.5 + (0.5·0.25 - 0.1)·2 = -0.45;
        //          dΞ = 0.75·2 = 1.5
        assert!((g.m[0] - 1.125).abs() < 1e-15);
        assert!((g.pi[0] + 0.45).abs() < 1e-15);
        assert!((g.xi[0] - 1.5).abs() < 1e-15);
        // entry 1 (π = 1): dm = 0, dπ = 2 + (-1·4 - 0.3)·2 = -6.6, dΞ = 0
        assert_eq!(g.m[1], 0.0);
        assert!((g.pi[1] + 6.6).abs() < 1e-12);
        assert_eq!(g.xi[1], 0.0);
        // deterministic limit: only m
        let d = l.chain(&[1.0, 1.0, 1.0], None);
        assert_eq!(d.pi, vec![0.0; 3]);
        assert_eq!(d.xi, vec![0.0; 3]);
        assert_eq!(d.m, vec![0.75, 0.0, 1.0]);
    }

    #[test]
    fn validation_names_the_tensor() {
        let mut l = layer();
        l.pi[2] = 1.5;
        let e = l.validate("rec").unwrap_err().to_string();
        assert!(e.contains("rec.pi") && e.contains("outside"), "{e}");
        let mut l = layer();
        l.xi[0] = f64::NAN;
        assert!(l.validate("out").unwrap_err().to_string().contains("out.xi"));
    }
}
