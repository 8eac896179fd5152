//! A spike-and-slab recurrent network: three [`SasLayer`]s and which of them are stochastic.
//!
//! This is where the spike-and-slab parametrization meets the engine: [`SasNet::moments`]
//! maps (π, m, Ξ) to the moment matrices the engine propagates, and [`SasNet::chain`] maps the
//! engine's moment gradients back to parameter gradients.

use crate::engine::{Dims, GaussianGrad, NetGrads, NetMoments};
use crate::error::Result;
use crate::real::Real;
use crate::sas::{SasGrad, SasLayer};

/// The three layers of a recurrent network, in the order `in`, `rec`, `out`.
pub const LAYERS: [&str; 3] = ["in", "rec", "out"];

/// A recurrent spike-and-slab network.
#[derive(Clone, Debug, PartialEq)]
pub struct SasNet<T> {
    /// Input layer, `N × I`.
    pub inp: SasLayer<T>,
    /// Recurrent layer, `N × N`.
    pub rec: SasLayer<T>,
    /// Readout, `K × N`.
    pub out: SasLayer<T>,
    /// Which layers are spike-and-slab (`[in, rec, out]`); a `false` layer runs in the
    /// deterministic limit: no variance term, `π` and `Ξ` held fixed.
    pub stochastic: [bool; 3],
}

/// Parameter gradients of the three layers.
#[derive(Clone, Debug, PartialEq)]
pub struct SasNetGrad<T> {
    /// Input layer.
    pub inp: SasGrad<T>,
    /// Recurrent layer.
    pub rec: SasGrad<T>,
    /// Readout.
    pub out: SasGrad<T>,
}

impl<T: Real> SasNet<T> {
    /// A network of zeros with the given sizes and stochastic layers.
    pub fn zeros(d: Dims, stochastic: [bool; 3]) -> Self {
        SasNet {
            inp: SasLayer::zeros(d.n, d.i),
            rec: SasLayer::zeros(d.n, d.n),
            out: SasLayer::zeros(d.k, d.n),
            stochastic,
        }
    }

    /// The network's sizes.
    pub fn dims(&self) -> Dims {
        Dims {
            n: self.rec.rows,
            i: self.inp.cols,
            k: self.out.rows,
        }
    }

    /// The layers with their names.
    pub fn layers(&self) -> [(&'static str, &SasLayer<T>); 3] {
        [("in", &self.inp), ("rec", &self.rec), ("out", &self.out)]
    }

    /// The layers with their names, mutable.
    pub fn layers_mut(&mut self) -> [(&'static str, &mut SasLayer<T>); 3] {
        [
            ("in", &mut self.inp),
            ("rec", &mut self.rec),
            ("out", &mut self.out),
        ]
    }

    /// Checks shapes and value ranges of every layer.
    pub fn validate(&self) -> Result<()> {
        let d = self.dims();
        for ((name, l), (r, c)) in self
            .layers()
            .into_iter()
            .zip([(d.n, d.i), (d.n, d.n), (d.k, d.n)])
        {
            if l.rows != r || l.cols != c {
                return Err(crate::SasError::Shape {
                    name: name.into(),
                    got: vec![l.rows, l.cols],
                    expected: vec![r, c],
                });
            }
            l.validate(name)?;
        }
        Ok(())
    }

    /// The moment matrices `(μ, v)` of every layer (`v = None` for deterministic layers).
    pub fn moments(&self) -> NetMoments<T> {
        NetMoments {
            inp: self.inp.moments(self.stochastic[0]),
            rec: self.rec.moments(self.stochastic[1]),
            out: self.out.moments(self.stochastic[2]),
        }
    }

    /// The mean network: concrete weights `w = μ`, no variance anywhere.
    pub fn mean_network(&self) -> NetMoments<T> {
        let mut m = self.moments();
        m.inp.var = None;
        m.rec.var = None;
        m.out.var = None;
        m
    }

    /// Parameter gradients from the engine's moment gradients.
    pub fn chain(&self, g: &NetGrads<T>) -> SasNetGrad<T> {
        let c = |l: &SasLayer<T>, gg: &GaussianGrad<T>| l.chain(&gg.mu, gg.var.as_deref());
        SasNetGrad {
            inp: c(&self.inp, &g.inp),
            rec: c(&self.rec, &g.rec),
            out: c(&self.out, &g.out),
        }
    }
}

impl<T> SasNetGrad<T> {
    /// The gradients with the layer names.
    pub fn layers(&self) -> [(&'static str, &SasGrad<T>); 3] {
        [("in", &self.inp), ("rec", &self.rec), ("out", &self.out)]
    }
}

impl crate::sas::Ensemble for SasNet<f32> {
    fn named_layers(&self) -> Vec<(String, &SasLayer<f32>)> {
        self.layers()
            .into_iter()
            .map(|(n, l)| (n.to_string(), l))
            .collect()
    }

    fn named_layers_mut(&mut self) -> Vec<(String, &mut SasLayer<f32>)> {
        self.layers_mut()
            .into_iter()
            .map(|(n, l)| (n.to_string(), l))
            .collect()
    }

    fn is_stochastic(&self, l: usize) -> bool {
        self.stochastic[l]
    }
}
