//! Tasks: trials and batches in the engine's layout (inputs, targets, masks).
//!
//! Every task produces [`TrialBatch`]es: the complete input `x` `[T, B, I]` (baseline and input
//! noise already added), and either class labels scored on the last step (cross-entropy),
//! per-step labels with a mask (per-step masked cross-entropy), or per-step targets with a
//! mask (masked MSE). All random trial generation is seeded.

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
    /// Per-step class labels and mask, `[T, B]` each, scored by per-step masked
    /// cross-entropy normalised by the mask sum (docs/MODEL.md §1.5).
    StepLabels {
        /// Class of every step of every trial, `[T, B]`, each `< K`.
        labels: Vec<usize>,
        /// Weight of every step, `[T, B]`, `≥ 0` (0 = not scored).
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
    /// Whether scoring reads the readout of every step (per-step labels), not only the last.
    pub fn scores_every_step(&self) -> bool {
        matches!(self.target, TargetData::StepLabels { .. })
    }

    /// Per-step labels: each trial's last step with a positive mask (`None` where no step
    /// of the trial is scored), `[B]`. Empty for other targets.
    pub fn last_scored_steps(&self) -> Vec<Option<usize>> {
        let TargetData::StepLabels { mask, .. } = &self.target else {
            return Vec::new();
        };
        (0..self.size)
            .map(|b| (0..self.steps).rev().find(|&t| mask[t * self.size + b] > 0.0))
            .collect()
    }

    /// One-hot `[B, K]` targets for [`TargetData::Labels`] (empty for other targets).
    pub fn one_hot(&self) -> Vec<f32> {
        match &self.target {
            TargetData::Labels(l) => {
                let mut y = vec![0f32; self.size * self.outputs];
                for (b, &c) in l.iter().enumerate() {
                    y[b * self.outputs + c] = 1.0;
                }
                y
            }
            TargetData::Series { .. } | TargetData::StepLabels { .. } => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_scored_steps_of_step_labels() {
        // T = 3, B = 3: trial 0 scored at steps 0 and 1, trial 1 never, trial 2 at step 2.
        let b = TrialBatch {
            steps: 3,
            size: 3,
            inputs: 1,
            outputs: 2,
            x: vec![0.0; 9],
            target: TargetData::StepLabels {
                labels: vec![0; 9],
                mask: vec![1., 0., 0., 0.5, 0., 0., 0., 0., 2.],
            },
        };
        assert!(b.scores_every_step() && b.one_hot().is_empty());
        assert_eq!(b.last_scored_steps(), [Some(1), None, Some(2)]);
        let l = TrialBatch {
            target: TargetData::Labels(vec![0, 1, 0]),
            ..b
        };
        assert!(!l.scores_every_step() && l.last_scored_steps().is_empty());
    }
}
