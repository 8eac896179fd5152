//! An ensemble of named spike-and-slab layers: what the recurrent network
//! (`net::SasNet`) and the feed-forward network (`ff::FfNet`) have in common,
//! so that the weight-class rule, the weight-only analyses, perturbation and the optimizer are
//! written once for both.

use super::SasLayer;

/// A network whose connections are spike-and-slab layers, each with a name (`in`, `rec`,
/// `out` for the recurrent network; `l0`, `l1`, … for the feed-forward one).
pub trait Ensemble {
    /// The layers in order, with their names; each `rows × cols` (outputs × inputs), `π`, `m`,
    /// `Ξ` row-major.
    fn named_layers(&self) -> Vec<(String, &SasLayer<f32>)>;
    /// The layers in order, mutable (perturbation, the optimizer).
    fn named_layers_mut(&mut self) -> Vec<(String, &mut SasLayer<f32>)>;
    /// Whether layer `l` is spike-and-slab (`false`: a deterministic layer, `π ≡ 0`, `Ξ ≡ 0`,
    /// whose `π` and `Ξ` are not trained).
    fn is_stochastic(&self, l: usize) -> bool;
    /// Number of connections (entries of every layer).
    fn connections(&self) -> usize {
        self.named_layers().iter().map(|(_, l)| l.pi.len()).sum()
    }
}
