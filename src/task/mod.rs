//! Tasks: trials and batches in the engine's layout (inputs, targets, masks).
//!
//! Every task produces [`TrialBatch`]es: the complete input `x` `[T, B, I]` (baseline and input
//! noise already added), and either class labels scored on the last step (cross-entropy) or
//! per-step targets with a mask (masked MSE). All random trial generation is seeded.

pub mod mnist;
pub mod msi;
pub mod user;

/// What a batch is scored against.
#[derive(Clone, Debug, PartialEq)]
pub enum TargetData {
    /// Class labels, one per trial, scored by cross-entropy on the last step.
    Labels(Vec<usize>),
    /// Per-step targets and mask, `[T, B, K]` each, scored by masked MSE.
    Series {
        /// Targets `[T, B, K]`.
        y: Vec<f32>,
        /// Mask `[T, B, K]` (0 = not scored).
        mask: Vec<f32>,
    },
}

/// A batch of trials in engine layout.
#[derive(Clone, Debug, PartialEq)]
pub struct TrialBatch {
    /// Time steps `T`.
    pub steps: usize,
    /// Trials `B`.
    pub size: usize,
    /// Input channels `I`.
    pub inputs: usize,
    /// Outputs `K`.
    pub outputs: usize,
    /// Complete input `[T, B, I]`.
    pub x: Vec<f32>,
    /// Targets.
    pub target: TargetData,
}

impl TrialBatch {
    /// One-hot `[B, K]` targets for [`TargetData::Labels`] (empty for series targets).
    pub fn one_hot(&self) -> Vec<f32> {
        match &self.target {
            TargetData::Labels(l) => {
                let mut y = vec![0f32; self.size * self.outputs];
                for (b, &c) in l.iter().enumerate() {
                    y[b * self.outputs + c] = 1.0;
                }
                y
            }
            TargetData::Series { .. } => Vec::new(),
        }
    }
}
