//! Multisensory integration (MSI) task, after Raposo et al. (2012) and Song, Yang & Wang (2016);
//! docs/MODEL.md §3, paper Fig. 10.
//!
//! A trial has three periods: fixation, stimulus and decision. During the stimulus one or both
//! sensory modalities (visual, auditory) present the same event rate `f ∈ {9, …, 16}` events/s,
//! encoded tonically by a positively and a negatively tuned channel per modality. The network
//! must report in the decision period whether `f` was above the boundary 12.5 events/s
//! ("high", output 0) or not ("low", output 1).
//!
//! Input channels ([`INPUTS`] = 5):
//!
//! | channel | meaning | value during the stimulus (modality present) |
//! |---|---|---|
//! | 0 | visual, positively tuned | `0.4 + 0.8 (f-9)/7` |
//! | 1 | auditory, positively tuned | `0.4 + 0.8 (f-9)/7` |
//! | 2 | visual, negatively tuned | `0.4 + 0.8 (16-f)/7` |
//! | 3 | auditory, negatively tuned | `0.4 + 0.8 (16-f)/7` |
//! | 4 | start cue | 1 during stimulus and decision |
//!
//! Every channel additionally carries the baseline `x0` (0.2) and the input noise
//! `sqrt(2 σ_in² / α) ξ`, `ξ ~ N(0, 1)` fresh per channel, step and trial, `α = Δt/τ`
//! (docs/MODEL.md §1.1). Catch trials carry only baseline and noise.
//!
//! Outputs ([`OUTPUTS`] = 2, scored by masked MSE, [`TargetData::Series`]): 0.2 on both during
//! fixation; in the decision period 1.0 on the correct output and 0.2 on the other. The mask is
//! 1 during fixation and decision and 0 during the stimulus. Catch trials: both targets 0.2 and
//! mask 1 at every step.
//!
//! Layouts follow the engine: inputs `[T, B, 5]`, targets and mask `[T, B, 2]`, row-major
//! (element `(t, b, c)` at `(t·B + b)·C + c`).
//!
//! Randomness: the noise of trial `b` of a batch comes from its own [`NormalStream`] seeded by
//! `derive_seed(seed, [MSI_STREAM_KEY, purpose, b])` (`purpose` 0 for training batches, 1 for
//! test batches) and fills that trial's `[T, 5]` noise in time-major order, so a batch is a pure
//! function of the configuration, the seed and the trial list.

use crate::error::{Result, SasError};
use crate::rng::{NormalStream, derive_seed};
use crate::task::{TargetData, TrialBatch};
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// Number of input channels `I`.
pub const INPUTS: usize = 5;
/// Number of outputs `K`.
pub const OUTPUTS: usize = 2;
/// Channel of the positively tuned visual input.
pub const VISUAL_POS: usize = 0;
/// Channel of the positively tuned auditory input.
pub const AUDITORY_POS: usize = 1;
/// Channel of the negatively tuned visual input.
pub const VISUAL_NEG: usize = 2;
/// Channel of the negatively tuned auditory input.
pub const AUDITORY_NEG: usize = 3;
/// Channel of the start cue.
pub const START_CUE: usize = 4;
/// Output (and choice) index of "high" (`f > 12.5` events/s).
pub const HIGH: usize = 0;
/// Output (and choice) index of "low" (`f ≤ 12.5` events/s).
pub const LOW: usize = 1;
/// Decision boundary in events/s.
pub const BOUNDARY: f64 = 12.5;
/// The event rates of the task in events/s (inclusive range 9..=16).
pub const RATES: std::ops::RangeInclusive<u32> = 9..=16;
/// Target value of an output that should stay low (fixation, wrong choice, catch trials).
pub const TARGET_LOW: f32 = 0.2;
/// Target value of the correct output in the decision period.
pub const TARGET_HIGH: f32 = 1.0;
/// Stream key of the MSI trial noise (first element of the [`derive_seed`] key path).
pub const MSI_STREAM_KEY: u64 = 0x004D_5349; // "MSI"

/// Which sensory modalities a trial presents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Modality {
    /// Visual channels only (0 and 2).
    Visual,
    /// Auditory channels only (1 and 3).
    Auditory,
    /// Both modalities, the same rate on both (multisensory).
    Both,
}

impl Modality {
    /// The three modalities in the order used by [`conditions`]: visual, auditory, both.
    pub const ALL: [Modality; 3] = [Modality::Visual, Modality::Auditory, Modality::Both];

    /// Whether the visual channels carry the stimulus.
    pub fn visual(self) -> bool {
        matches!(self, Modality::Visual | Modality::Both)
    }

    /// Whether the auditory channels carry the stimulus.
    pub fn auditory(self) -> bool {
        matches!(self, Modality::Auditory | Modality::Both)
    }

    /// Lower-case name (`"visual"`, `"auditory"`, `"both"`).
    pub fn name(self) -> &'static str {
        match self {
            Modality::Visual => "visual",
            Modality::Auditory => "auditory",
            Modality::Both => "both",
        }
    }
}

/// One task condition: a modality and an event rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Condition {
    /// Modalities presented.
    pub modality: Modality,
    /// Event rate `f` in events/s (the task uses 9..=16; other values extrapolate the tuning
    /// lines linearly).
    pub rate: u32,
}

impl Condition {
    /// The correct choice: [`HIGH`] (0) if `rate > 12.5` events/s, else [`LOW`] (1).
    pub fn correct_choice(&self) -> usize {
        if f64::from(self.rate) > BOUNDARY {
            HIGH
        } else {
            LOW
        }
    }

    /// Stimulus level of a positively tuned channel, `0.4 + 0.8 (f-9)/7` (before baseline).
    pub fn positive_level(&self) -> f64 {
        0.4 + 0.8 * (f64::from(self.rate) - 9.0) / 7.0
    }

    /// Stimulus level of a negatively tuned channel, `0.4 + 0.8 (16-f)/7` (before baseline).
    pub fn negative_level(&self) -> f64 {
        0.4 + 0.8 * (16.0 - f64::from(self.rate)) / 7.0
    }

    /// The task part `x_task` of the five channels during the stimulus period (no baseline, no
    /// noise): tuned levels on the present modality's channels, 0 on absent ones, 1 on the cue.
    pub fn stimulus_levels(&self) -> [f64; INPUTS] {
        let mut l = [0.0; INPUTS];
        let (p, n) = (self.positive_level(), self.negative_level());
        if self.modality.visual() {
            l[VISUAL_POS] = p;
            l[VISUAL_NEG] = n;
        }
        if self.modality.auditory() {
            l[AUDITORY_POS] = p;
            l[AUDITORY_NEG] = n;
        }
        l[START_CUE] = 1.0;
        l
    }
}

/// The 24 task conditions, modality-major: visual 9..=16, then auditory 9..=16, then both
/// 9..=16 (index `= 8·m + (f - 9)` with `m` = 0 visual, 1 auditory, 2 both).
pub(crate) fn conditions() -> Vec<Condition> {
    Modality::ALL
        .iter()
        .flat_map(|&modality| RATES.map(move |rate| Condition { modality, rate }))
        .collect()
}

/// What one trial of a batch is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrialInfo {
    /// The trial's condition; `None` for a catch trial.
    pub condition: Option<Condition>,
}

impl TrialInfo {
    /// Whether this is a catch trial (no stimulus, no cue).
    pub fn is_catch(&self) -> bool {
        self.condition.is_none()
    }

    /// The correct choice (`None` for a catch trial).
    pub fn correct_choice(&self) -> Option<usize> {
        self.condition.map(|c| c.correct_choice())
    }
}

/// MSI task settings. Durations in ms. `Default` gives the training protocol (docs/MODEL.md §2/§3).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MsiConfig {
    /// Integration time step Δt in ms (training 20).
    pub dt_ms: f64,
    /// Neuronal time constant τ in ms (100); `α = Δt/τ`.
    pub tau_ms: f64,
    /// Fixation period in ms (training 300, test 500). May be 0.
    pub fixation_ms: f64,
    /// Stimulus period in ms (training 900, test 1000).
    pub stimulus_ms: f64,
    /// Decision period in ms (training 400, test 300).
    pub decision_ms: f64,
    /// Baseline input `x0` added to every channel at every step (0.2).
    pub baseline: f64,
    /// Input noise strength `σ_in` (0.01); the per-step standard deviation is
    /// `sqrt(2 σ_in² / α)`.
    pub sigma_in: f64,
    /// Catch trials appended to every training batch (6).
    pub catch_per_batch: usize,
    /// Pad every trial to this length in ms (0 = no padding), as the authors' training code
    /// does (2500 ms): after the decision period a stimulus trial continues with the baseline
    /// and input noise only, masked out; a catch trial is `pad_ms` long with mask 1
    /// throughout. The loss divides by the padded `T`. Must be 0 or at least the trial.
    pub pad_ms: f64,
}

impl Default for MsiConfig {
    fn default() -> Self {
        MsiConfig {
            dt_ms: 20.0,
            tau_ms: 100.0,
            fixation_ms: 300.0,
            stimulus_ms: 900.0,
            decision_ms: 400.0,
            baseline: 0.2,
            sigma_in: 0.01,
            catch_per_batch: 6,
            pad_ms: 0.0,
        }
    }
}

/// Steps of each period of a trial.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Periods {
    /// Fixation steps (steps `0..fixation`).
    pub fixation: usize,
    /// Stimulus steps (the next `stimulus` steps).
    pub stimulus: usize,
    /// Decision steps (the next `decision` steps).
    pub decision: usize,
    /// Padding steps after the decision period (0 unless [`MsiConfig::pad_ms`] is set).
    pub pad: usize,
}

impl Periods {
    /// Total steps `T`, padding included.
    pub fn total(&self) -> usize {
        self.trial() + self.pad
    }

    /// Steps of the trial proper (fixation, stimulus, decision), without padding.
    pub fn trial(&self) -> usize {
        self.fixation + self.stimulus + self.decision
    }

    /// Step range of the fixation period.
    pub fn fixation_range(&self) -> Range<usize> {
        0..self.fixation
    }

    /// Step range of the stimulus period.
    pub fn stimulus_range(&self) -> Range<usize> {
        self.fixation..self.fixation + self.stimulus
    }

    /// Step range of the decision period.
    pub fn decision_range(&self) -> Range<usize> {
        self.fixation + self.stimulus..self.trial()
    }

    /// Step range of the padding (empty without padding).
    pub fn pad_range(&self) -> Range<usize> {
        self.trial()..self.total()
    }
}

/// Largest number of steps a trial may have (guards against Δt typos such as `1e-9`).
pub const MAX_STEPS: usize = 10_000_000;

impl MsiConfig {
    /// The test protocol: periods 500/1000/300 ms at Δt = 0.5 ms (3,600 steps), other
    /// settings as in training. Set `dt_ms` to use another test resolution.
    pub fn test_protocol() -> Self {
        MsiConfig {
            dt_ms: 0.5,
            fixation_ms: 500.0,
            stimulus_ms: 1000.0,
            decision_ms: 300.0,
            pad_ms: 0.0,
            ..MsiConfig::default()
        }
    }

    /// `α = Δt/τ`.
    pub fn alpha(&self) -> f64 {
        self.dt_ms / self.tau_ms
    }

    /// Steps of a period of `ms` milliseconds: `round(ms/Δt)`.
    fn period_steps(&self, ms: f64) -> usize {
        (ms / self.dt_ms).round() as usize
    }

    /// Checks every value; errors name the key (`msi.<field>`).
    ///
    /// Requires finite `Δt > 0`, `τ > 0`, `Δt ≤ τ`; finite non-negative periods; stimulus and
    /// decision of at least one step each; a fixation either 0 ms or at least one step; at
    /// most [`MAX_STEPS`] steps in all; a finite baseline and a finite `σ_in ≥ 0`.
    pub fn validate(&self) -> Result<()> {
        let err = |key: &str, reason: String| SasError::Config {
            key: format!("msi.{key}"),
            reason,
        };
        if !(self.dt_ms.is_finite() && self.dt_ms > 0.0) {
            return Err(err(
                "dt_ms",
                format!("must be a finite number > 0, got {}", self.dt_ms),
            ));
        }
        if !(self.tau_ms.is_finite() && self.tau_ms > 0.0) {
            return Err(err(
                "tau_ms",
                format!("must be a finite number > 0, got {}", self.tau_ms),
            ));
        }
        if self.dt_ms > self.tau_ms {
            return Err(err(
                "dt_ms",
                format!(
                    "Δt = {} ms exceeds τ = {} ms (α = Δt/τ must be ≤ 1)",
                    self.dt_ms, self.tau_ms
                ),
            ));
        }
        for (key, ms, required) in [
            ("fixation_ms", self.fixation_ms, false),
            ("stimulus_ms", self.stimulus_ms, true),
            ("decision_ms", self.decision_ms, true),
        ] {
            if !(ms.is_finite() && ms >= 0.0) {
                return Err(err(key, format!("must be a finite number ≥ 0, got {ms}")));
            }
            let steps = ms / self.dt_ms;
            if steps > MAX_STEPS as f64 {
                return Err(err(
                    key,
                    format!("{ms} ms at Δt = {} ms is more than {MAX_STEPS} steps", self.dt_ms),
                ));
            }
            if self.period_steps(ms) < 1 && (required || ms > 0.0) {
                return Err(err(
                    key,
                    format!(
                        "{ms} ms rounds to 0 steps at Δt = {} ms (need at least one step)",
                        self.dt_ms
                    ),
                ));
            }
        }
        if !(self.pad_ms.is_finite() && self.pad_ms >= 0.0) {
            return Err(err(
                "pad_ms",
                format!("must be a finite number ≥ 0, got {}", self.pad_ms),
            ));
        }
        if self.pad_ms > 0.0 {
            let trial_ms = self.fixation_ms + self.stimulus_ms + self.decision_ms;
            if self.pad_ms / self.dt_ms > MAX_STEPS as f64 {
                return Err(err(
                    "pad_ms",
                    format!(
                        "{} ms at Δt = {} ms is more than {MAX_STEPS} steps",
                        self.pad_ms, self.dt_ms
                    ),
                ));
            }
            if self.period_steps(self.pad_ms) < self.periods().trial() {
                return Err(err(
                    "pad_ms",
                    format!(
                        "{} ms is shorter than the trial ({trial_ms} ms); use 0 for no padding",
                        self.pad_ms
                    ),
                ));
            }
        }
        if self.periods().total() > MAX_STEPS {
            return Err(err(
                "dt_ms",
                format!(
                    "a trial would have more than {MAX_STEPS} steps at Δt = {} ms",
                    self.dt_ms
                ),
            ));
        }
        if !self.baseline.is_finite() {
            return Err(err("baseline", format!("must be finite, got {}", self.baseline)));
        }
        if !(self.sigma_in.is_finite() && self.sigma_in >= 0.0) {
            return Err(err(
                "sigma_in",
                format!("must be a finite number ≥ 0, got {}", self.sigma_in),
            ));
        }
        Ok(())
    }

    /// Steps per period, `round(ms/Δt)` each (meaningful only for a validated config).
    pub fn periods(&self) -> Periods {
        let mut p = Periods {
            fixation: self.period_steps(self.fixation_ms),
            stimulus: self.period_steps(self.stimulus_ms),
            decision: self.period_steps(self.decision_ms),
            pad: 0,
        };
        if self.pad_ms > 0.0 {
            p.pad = self.period_steps(self.pad_ms).saturating_sub(p.trial());
        }
        p
    }

    /// Standard deviation of the per-step input noise, `sqrt(2 σ_in² / α)`.
    pub fn noise_std(&self) -> f64 {
        (2.0 * self.sigma_in * self.sigma_in / self.alpha()).sqrt()
    }
}

/// The MSI task with a validated configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Msi {
    cfg: MsiConfig,
}

impl Msi {
    /// The task for `cfg`, after [`MsiConfig::validate`].
    pub fn new(cfg: MsiConfig) -> Result<Self> {
        cfg.validate()?;
        Ok(Msi { cfg })
    }

    /// The configuration.
    pub fn config(&self) -> &MsiConfig {
        &self.cfg
    }

    /// Steps per period.
    pub fn periods(&self) -> Periods {
        self.cfg.periods()
    }

    /// Steps per trial `T` (training default 15 + 45 + 20 = 80; test default
    /// 1000 + 2000 + 600 = 3600).
    pub fn steps(&self) -> usize {
        self.periods().total()
    }

    /// `α = Δt/τ` (training default 0.2).
    pub fn alpha(&self) -> f64 {
        self.cfg.alpha()
    }

    /// A training batch: the 24 [`conditions`] once each in their documented order (trials
    /// 0..24), then `catch_per_batch` catch trials (trials 24..30 by default). `B = 24 + catch`.
    /// Returns the batch (`x` `[T, B, 5]`, series targets and mask `[T, B, 2]`) and one
    /// [`TrialInfo`] per trial.
    pub fn train_batch(&self, seed: u64) -> (TrialBatch, Vec<TrialInfo>) {
        let infos: Vec<TrialInfo> = conditions()
            .into_iter()
            .map(Some)
            .chain(std::iter::repeat_n(None, self.cfg.catch_per_batch))
            .map(|condition| TrialInfo { condition })
            .collect();
        (self.build(&infos, seed, 0), infos)
    }

    /// A test batch without catch trials: each condition of `conds` repeated
    /// `trials_per_condition` times, condition-major (trial `b = i·R + k` is repeat `k` of
    /// `conds[i]`, `R = trials_per_condition`). Noise is drawn independently of the training
    /// batches of the same seed.
    pub fn test_batch(
        &self,
        conds: &[Condition],
        trials_per_condition: usize,
        seed: u64,
    ) -> (TrialBatch, Vec<TrialInfo>) {
        let infos: Vec<TrialInfo> = conds
            .iter()
            .flat_map(|&c| std::iter::repeat_n(TrialInfo { condition: Some(c) }, trials_per_condition))
            .collect();
        (self.build(&infos, seed, 1), infos)
    }

    /// Builds the batch for `infos`; `purpose` separates the noise streams of training (0)
    /// and test (1) batches.
    fn build(&self, infos: &[TrialInfo], seed: u64, purpose: u64) -> TrialBatch {
        let p = self.periods();
        let (t_len, b_len) = (p.total(), infos.len());
        let x0 = self.cfg.baseline;
        let noise_std = self.cfg.noise_std();
        let mut x = vec![0f32; t_len * b_len * INPUTS];
        let mut y = vec![TARGET_LOW; t_len * b_len * OUTPUTS];
        let mut mask = vec![1f32; t_len * b_len * OUTPUTS];
        let mut noise = vec![0f32; if noise_std > 0.0 { t_len * INPUTS } else { 0 }];
        for (b, info) in infos.iter().enumerate() {
            if noise_std > 0.0 {
                NormalStream::new(derive_seed(seed, &[MSI_STREAM_KEY, purpose, b as u64])).fill(&mut noise);
            }
            let stim = info.condition.map(|c| c.stimulus_levels());
            let mut cue_only = [0.0; INPUTS];
            cue_only[START_CUE] = 1.0;
            for t in 0..t_len {
                let task = match stim {
                    None => [0.0; INPUTS],
                    Some(l) if p.stimulus_range().contains(&t) => l,
                    Some(_) if p.decision_range().contains(&t) => cue_only,
                    Some(_) => [0.0; INPUTS],
                };
                let row = (t * b_len + b) * INPUTS;
                for c in 0..INPUTS {
                    let xi = if noise_std > 0.0 {
                        f64::from(noise[t * INPUTS + c])
                    } else {
                        0.0
                    };
                    x[row + c] = (x0 + task[c] + noise_std * xi) as f32;
                }
            }
            if let Some(c) = info.condition {
                for t in p.stimulus_range().chain(p.pad_range()) {
                    let o = (t * b_len + b) * OUTPUTS;
                    mask[o..o + OUTPUTS].fill(0.0);
                }
                for t in p.decision_range() {
                    let o = (t * b_len + b) * OUTPUTS;
                    y[o + c.correct_choice()] = TARGET_HIGH;
                }
            }
        }
        TrialBatch {
            steps: t_len,
            size: b_len,
            inputs: INPUTS,
            outputs: OUTPUTS,
            x,
            target: TargetData::Series { y, mask },
        }
    }
}

/// Choices from the outputs at the last step, `z_last` `[B, 2]` row-major: [`HIGH`] (0) where
/// `z[b,0] > z[b,1]`, else [`LOW`] (1) (ties and NaN count as low).
///
/// # Panics
/// If `z_last.len()` is odd.
pub(crate) fn choices(z_last: &[f32]) -> Vec<usize> {
    assert!(
        z_last.len().is_multiple_of(OUTPUTS),
        "msi::choices: z_last has {} values, not a multiple of {OUTPUTS}",
        z_last.len()
    );
    z_last
        .chunks_exact(OUTPUTS)
        .map(|z| if z[HIGH] > z[LOW] { HIGH } else { LOW })
        .collect()
}

/// The unit groups of an `n`-unit network as index ranges: `[auditory, visual, none]` =
/// `[0..n/3, n/3..2n/3, 2n/3..n]` (integer division; for `n = 150`: 0–49, 50–99, 100–149).
pub(crate) fn input_groups(n: usize) -> [Range<usize>; 3] {
    let (a, v) = (n / 3, 2 * n / 3);
    [0..a, a..v, v..n]
}

/// The fixed input wiring, `[N, 5]` row-major (`true` = the connection exists): units of the
/// auditory group (see [`input_groups`]) receive channels 1 and 3, units of the visual group
/// channels 0 and 2, units of the third group no sensory channel; the start cue (channel 4)
/// reaches every unit. For `N = 150` the groups are units 0–49, 50–99 and 100–149; for other
/// `N` they are the thirds `[0, ⌊N/3⌋)`, `[⌊N/3⌋, ⌊2N/3⌋)`, `[⌊2N/3⌋, N)`.
pub(crate) fn input_mask(n: usize) -> Vec<bool> {
    let [aud, vis, _] = input_groups(n);
    let mut m = vec![false; n * INPUTS];
    for (i, row) in m.chunks_exact_mut(INPUTS).enumerate() {
        if aud.contains(&i) {
            row[AUDITORY_POS] = true;
            row[AUDITORY_NEG] = true;
        }
        if vis.contains(&i) {
            row[VISUAL_POS] = true;
            row[VISUAL_NEG] = true;
        }
        row[START_CUE] = true;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(b: &TrialBatch, t: usize, trial: usize) -> &[f32] {
        let o = (t * b.size + trial) * b.inputs;
        &b.x[o..o + b.inputs]
    }

    fn series(b: &TrialBatch) -> (&[f32], &[f32]) {
        match &b.target {
            TargetData::Series { y, mask } => (y, mask),
            _ => panic!("MSI gives series targets"),
        }
    }

    fn out(v: &[f32], b: &TrialBatch, t: usize, trial: usize) -> [f32; 2] {
        let o = (t * b.size + trial) * 2;
        [v[o], v[o + 1]]
    }

    fn close(a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-6, "{a:?} vs {b:?}");
        }
    }

    fn noiseless() -> Msi {
        Msi::new(MsiConfig {
            sigma_in: 0.0,
            ..MsiConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn conditions_and_choices() {
        let c = conditions();
        assert_eq!(c.len(), 24);
        assert_eq!(
            c[0],
            Condition {
                modality: Modality::Visual,
                rate: 9
            }
        );
        assert_eq!(
            c[7],
            Condition {
                modality: Modality::Visual,
                rate: 16
            }
        );
        assert_eq!(
            c[8],
            Condition {
                modality: Modality::Auditory,
                rate: 9
            }
        );
        assert_eq!(
            c[23],
            Condition {
                modality: Modality::Both,
                rate: 16
            }
        );
        let high: Vec<u32> = c
            .iter()
            .filter(|c| c.correct_choice() == HIGH)
            .map(|c| c.rate)
            .collect();
        assert_eq!(high, [13, 14, 15, 16, 13, 14, 15, 16, 13, 14, 15, 16]);
        assert_eq!(
            Condition {
                modality: Modality::Both,
                rate: 12
            }
            .correct_choice(),
            LOW
        );
        assert_eq!(choices(&[1.0, 0.2, 0.1, 0.9, 0.5, 0.5]), vec![0, 1, 1]);
    }

    #[test]
    fn step_counts_for_both_protocols() {
        let tr = Msi::new(MsiConfig::default()).unwrap();
        assert_eq!(
            tr.periods(),
            Periods {
                fixation: 15,
                stimulus: 45,
                decision: 20,
                pad: 0
            }
        );
        assert_eq!(tr.steps(), 80);
        assert!((tr.alpha() - 0.2).abs() < 1e-12);
        let te = Msi::new(MsiConfig::test_protocol()).unwrap();
        assert_eq!(
            te.periods(),
            Periods {
                fixation: 1000,
                stimulus: 2000,
                decision: 600,
                pad: 0
            }
        );
        assert_eq!(te.steps(), 3600);
        assert!((te.alpha() - 0.005).abs() < 1e-12);
        // round(ms/Δt): 310/20 = 15.5 → 16, 290/20 = 14.5 → 15 (round half away from zero).
        let c = MsiConfig {
            fixation_ms: 310.0,
            decision_ms: 290.0,
            ..MsiConfig::default()
        };
        assert_eq!(
            c.periods(),
            Periods {
                fixation: 16,
                stimulus: 45,
                decision: 15,
                pad: 0
            }
        );
        let (b, _) = te.test_batch(&conditions()[..1], 1, 0);
        assert_eq!((b.steps, b.size, b.x.len()), (3600, 1, 3600 * 5));
    }

    #[test]
    fn validation_names_the_key() {
        let bad = |c: MsiConfig, key: &str| {
            let e = Msi::new(c).unwrap_err().to_string();
            assert!(e.contains(key), "{e}");
        };
        let d = MsiConfig::default;
        bad(MsiConfig { dt_ms: 0.0, ..d() }, "msi.dt_ms");
        bad(MsiConfig { dt_ms: -1.0, ..d() }, "msi.dt_ms");
        bad(
            MsiConfig {
                dt_ms: f64::NAN,
                ..d()
            },
            "msi.dt_ms",
        );
        bad(MsiConfig { dt_ms: 200.0, ..d() }, "msi.dt_ms");
        bad(MsiConfig { tau_ms: 0.0, ..d() }, "msi.tau_ms");
        bad(
            MsiConfig {
                stimulus_ms: 5.0,
                ..d()
            },
            "msi.stimulus_ms",
        );
        bad(
            MsiConfig {
                decision_ms: 0.0,
                ..d()
            },
            "msi.decision_ms",
        );
        bad(
            MsiConfig {
                fixation_ms: 9.0,
                ..d()
            },
            "msi.fixation_ms",
        );
        bad(
            MsiConfig {
                fixation_ms: -20.0,
                ..d()
            },
            "msi.fixation_ms",
        );
        bad(
            MsiConfig {
                sigma_in: -0.1,
                ..d()
            },
            "msi.sigma_in",
        );
        bad(
            MsiConfig {
                baseline: f64::INFINITY,
                ..d()
            },
            "msi.baseline",
        );
        bad(
            MsiConfig {
                dt_ms: 1e-9,
                tau_ms: 1e-6,
                ..d()
            },
            "steps",
        );
        // A 0 ms fixation is allowed.
        let m = Msi::new(MsiConfig {
            fixation_ms: 0.0,
            ..d()
        })
        .unwrap();
        assert_eq!(m.steps(), 65);
    }

    #[test]
    fn input_levels_baseline_and_cue() {
        let m = noiseless();
        let (b, info) = m.train_batch(1);
        assert_eq!((b.steps, b.size, b.inputs, b.outputs), (80, 30, 5, 2));
        // Trial 7 = visual f = 16, trial 8 = auditory f = 9.
        assert_eq!(
            info[7].condition,
            Some(Condition {
                modality: Modality::Visual,
                rate: 16
            })
        );
        assert_eq!(
            info[8].condition,
            Some(Condition {
                modality: Modality::Auditory,
                rate: 9
            })
        );
        // Stimulus step 20 (period 15..60): visual+ 0.2 + 1.2, visual− 0.2 + 0.4, cue 0.2 + 1.
        close(at(&b, 20, 7), &[1.4, 0.2, 0.6, 0.2, 1.2]);
        // Auditory f = 9: auditory+ 0.2 + 0.4, auditory− 0.2 + 1.2.
        close(at(&b, 20, 8), &[0.2, 0.6, 0.2, 1.4, 1.2]);
        // Both, f = 12 (trial 19): + 0.4 + 0.8·3/7, − 0.4 + 0.8·4/7, on both modalities.
        let (p, n) = (0.2 + 0.4 + 0.8 * 3.0 / 7.0, 0.2 + 0.4 + 0.8 * 4.0 / 7.0);
        close(at(&b, 59, 19), &[p, p, n, n, 1.2]);
        for trial in 0..30 {
            // Fixation: baseline only.
            for t in [0, 14] {
                close(at(&b, t, trial), &[0.2; 5]);
            }
            // Decision: baseline, cue on for stimulus trials, off for catch trials.
            let cue = if trial < 24 { 1.2 } else { 0.2 };
            for t in [60, 79] {
                close(at(&b, t, trial), &[0.2, 0.2, 0.2, 0.2, cue]);
            }
        }
        // Cue onset exactly at the first stimulus step.
        assert_eq!(at(&b, 14, 0)[START_CUE], 0.2);
        assert!((at(&b, 15, 0)[START_CUE] - 1.2).abs() < 1e-6);
        // Catch trials: baseline everywhere, including the stimulus period.
        for (trial, i) in info.iter().enumerate().skip(24) {
            assert!(i.is_catch());
            close(at(&b, 30, trial), &[0.2; 5]);
        }
    }

    #[test]
    fn padding_to_the_authors_2500_ms() {
        // Paper periods 300/900/400 ms at Δt 20 ms = 80 steps, padded to 2500 ms = 125 steps:
        // stimulus trials are masked out after step 80 and see only the baseline there;
        // catch trials are masked in for all 125 steps.
        let m = Msi::new(MsiConfig {
            sigma_in: 0.0,
            pad_ms: 2500.0,
            ..MsiConfig::default()
        })
        .unwrap();
        assert_eq!((m.periods().pad, m.steps()), (45, 125));
        let (b, info) = m.train_batch(1);
        let (y, mask) = series(&b);
        for (trial, i) in info.iter().enumerate() {
            for t in [80, 100, 124] {
                close(at(&b, t, trial), &[0.2; 5]);
                assert_eq!(out(y, &b, t, trial), [0.2, 0.2]);
                let want = if i.is_catch() { [1.0, 1.0] } else { [0.0, 0.0] };
                assert_eq!(out(mask, &b, t, trial), want, "trial {trial} t {t}");
            }
        }
        // Still the decision target at the last step of the trial proper.
        assert_eq!(out(y, &b, 79, 7), [1.0, 0.2]);
        let short = MsiConfig {
            pad_ms: 1000.0,
            ..MsiConfig::default()
        };
        let e = short.validate().unwrap_err().to_string();
        assert!(e.contains("msi.pad_ms") && e.contains("shorter"), "{e}");
        let nan = MsiConfig {
            pad_ms: f64::NAN,
            ..MsiConfig::default()
        };
        assert!(nan.validate().unwrap_err().to_string().contains("msi.pad_ms"));
    }

    #[test]
    fn targets_and_masks_per_period() {
        let m = noiseless();
        let (b, info) = m.train_batch(3);
        let (y, mask) = series(&b);
        assert_eq!(y.len(), 80 * 30 * 2);
        for (trial, i) in info.iter().enumerate() {
            for t in 0..80 {
                let (ty, tm) = (out(y, &b, t, trial), out(mask, &b, t, trial));
                match i.correct_choice() {
                    None => {
                        assert_eq!(ty, [0.2, 0.2]);
                        assert_eq!(tm, [1.0, 1.0]);
                    }
                    Some(c) => {
                        if t < 15 {
                            assert_eq!((ty, tm), ([0.2, 0.2], [1.0, 1.0]), "t {t}");
                        } else if t < 60 {
                            assert_eq!((ty, tm), ([0.2, 0.2], [0.0, 0.0]), "t {t}");
                        } else {
                            let want = if c == HIGH { [1.0, 0.2] } else { [0.2, 1.0] };
                            assert_eq!((ty, tm), (want, [1.0, 1.0]), "t {t}");
                        }
                    }
                }
            }
        }
        // Visual f = 16 is high, auditory f = 9 is low.
        assert_eq!(out(y, &b, 79, 7), [1.0, 0.2]);
        assert_eq!(out(y, &b, 79, 8), [0.2, 1.0]);
    }

    #[test]
    fn test_batch_layout() {
        let m = Msi::new(MsiConfig {
            sigma_in: 0.0,
            ..MsiConfig::test_protocol()
        })
        .unwrap();
        let conds = [
            Condition {
                modality: Modality::Both,
                rate: 16,
            },
            Condition {
                modality: Modality::Visual,
                rate: 10,
            },
        ];
        let (b, info) = m.test_batch(&conds, 3, 5);
        assert_eq!((b.steps, b.size), (3600, 6));
        assert_eq!(info.iter().filter(|i| i.is_catch()).count(), 0);
        assert_eq!(info[2].condition, Some(conds[0]));
        assert_eq!(info[3].condition, Some(conds[1]));
        close(at(&b, 999, 0), &[0.2; 5]);
        close(at(&b, 1000, 0), &[1.4, 1.4, 0.6, 0.6, 1.2]);
        close(
            at(&b, 2999, 4),
            &[0.2 + 0.4 + 0.8 / 7.0, 0.2, 0.2 + 0.4 + 0.8 * 6.0 / 7.0, 0.2, 1.2],
        );
        close(at(&b, 3000, 4), &[0.2, 0.2, 0.2, 0.2, 1.2]);
        let (y, mask) = series(&b);
        assert_eq!(out(y, &b, 3599, 1), [1.0, 0.2]);
        assert_eq!(out(y, &b, 3599, 5), [0.2, 1.0]);
        assert_eq!(out(mask, &b, 1500, 5), [0.0, 0.0]);
        assert_eq!(out(mask, &b, 500, 5), [1.0, 1.0]);
    }

    #[test]
    fn noise_has_the_documented_std() {
        // Test protocol: α = 0.005, std = sqrt(2·0.01²/0.005) = 0.2.
        let m = Msi::new(MsiConfig::test_protocol()).unwrap();
        assert!((m.config().noise_std() - 0.2).abs() < 1e-12);
        let (b, info) = m.test_batch(&conditions()[..2], 20, 11);
        let r = residuals(&m, &b, &info);
        let n = r.len() as f64;
        let mean = r.iter().sum::<f64>() / n;
        let sd = (r.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / n).sqrt();
        assert!(mean.abs() < 0.002, "mean {mean}");
        assert!((sd - 0.2).abs() < 0.002, "sd {sd}");
        // Training: std = sqrt(2·1e-4/0.2) ≈ 0.0316.
        let tr = Msi::new(MsiConfig::default()).unwrap();
        let (b, info) = tr.train_batch(4);
        let r = residuals(&tr, &b, &info);
        let sd = (r.iter().map(|e| e * e).sum::<f64>() / r.len() as f64).sqrt();
        assert!((sd - 1e-3f64.sqrt()).abs() < 0.001, "sd {sd}");
    }

    /// Input minus its noise-free value, for every step, trial and channel.
    fn residuals(m: &Msi, b: &TrialBatch, info: &[TrialInfo]) -> Vec<f64> {
        let mut r = Vec::with_capacity(b.x.len());
        for t in 0..b.steps {
            for (trial, i) in info.iter().enumerate() {
                let clean = m.clean_input(i, t);
                for (&x, c) in at(b, t, trial).iter().zip(clean) {
                    r.push(f64::from(x) - c);
                }
            }
        }
        r
    }

    impl Msi {
        /// Noise-free input of `info` at step `t` (test helper).
        fn clean_input(&self, info: &TrialInfo, t: usize) -> [f64; INPUTS] {
            let p = self.periods();
            let mut l = [self.cfg.baseline; INPUTS];
            if let Some(c) = info.condition {
                if p.stimulus_range().contains(&t) {
                    for (v, s) in l.iter_mut().zip(c.stimulus_levels()) {
                        *v += s;
                    }
                } else if p.decision_range().contains(&t) {
                    l[START_CUE] += 1.0;
                }
            }
            l
        }
    }

    #[test]
    fn deterministic_per_seed_and_distinct_across_seeds() {
        let m = Msi::new(MsiConfig::default()).unwrap();
        let (a, ia) = m.train_batch(42);
        let (b, ib) = m.train_batch(42);
        assert_eq!(a, b);
        assert_eq!(ia, ib);
        let (c, _) = m.train_batch(43);
        assert_ne!(a.x, c.x);
        assert_eq!(a.target, c.target);
        // Noise is fresh per trial: two repeats of one condition differ.
        let (t, _) = m.test_batch(&conditions()[..1], 2, 42);
        assert_ne!(at(&t, 30, 0), at(&t, 30, 1));
        // Test batches do not reuse the training noise of the same seed.
        assert_ne!(at(&t, 30, 0), at(&a, 30, 0));
    }

    #[test]
    fn input_wiring() {
        let m = input_mask(150);
        assert_eq!(m.len(), 750);
        let row = |i: usize| &m[i * 5..i * 5 + 5];
        assert_eq!(row(0), [false, true, false, true, true]);
        assert_eq!(row(49), [false, true, false, true, true]);
        assert_eq!(row(50), [true, false, true, false, true]);
        assert_eq!(row(99), [true, false, true, false, true]);
        assert_eq!(row(100), [false, false, false, false, true]);
        assert_eq!(row(149), [false, false, false, false, true]);
        assert_eq!(input_groups(100), [0..33, 33..66, 66..100]);
        assert_eq!(input_groups(2), [0..0, 0..1, 1..2]);
        assert!(input_mask(0).is_empty());
    }
}
