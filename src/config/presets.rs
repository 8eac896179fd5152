//! The reference settings of each recurrent preset (docs/MODEL.md §2).

use super::*;

fn group(lr: f64) -> GroupConfig {
    GroupConfig {
        lr,
        decay: 0.0,
        l2: 0.0,
        step_every: 0,
        gamma: 1.0,
        frozen: false,
    }
}

/// The names of the presets.
pub const PRESETS: [&str; 5] = ["pixel-mnist", "row-mnist", "perm-mnist", "msi", "cognitive"];

impl Config {
    /// The reference settings of the recurrent preset called `name` (one of [`PRESETS`]):
    /// [`Config::of_preset`] of the parsed name.
    pub fn preset(name: &str) -> Result<Config> {
        match name.parse::<Preset>() {
            Ok(p) => Config::of_preset(p),
            Err(_) => Err(not_recurrent(name)),
        }
    }

    /// The reference settings of recurrent preset `p` (docs/MODEL.md §2); a feed-forward
    /// preset is an [`SasError::UnknownName`] error listing the recurrent ones.
    pub fn of_preset(p: Preset) -> Result<Config> {
        let mnist_groups = |stochastic_in: bool| {
            let g = |frozen: bool| {
                let mut m = group(1e-3);
                m.decay = 1e-4;
                m.step_every = 40;
                m.gamma = 0.5;
                let mut xi = m.clone();
                xi.frozen = frozen;
                let mut pi = group(1e-3);
                pi.step_every = 40;
                pi.gamma = 0.5;
                pi.frozen = frozen;
                LayerGroups { m, pi, xi }
            };
            (g(!stochastic_in), g(false), g(false))
        };
        let msi_groups = || {
            let g = |pi_lr: f64, frozen_stoch: bool| {
                let mut m = group(1e-3);
                m.l2 = 1e-3;
                let mut xi = m.clone();
                xi.frozen = frozen_stoch;
                let mut pi = group(pi_lr);
                pi.step_every = 100;
                pi.gamma = 0.5;
                pi.frozen = frozen_stoch;
                LayerGroups { m, pi, xi }
            };
            (g(0.0, true), g(1.0, false), g(0.1, false))
        };
        let msi = MsiSettings {
            dt_ms: 20.0,
            tau_ms: 100.0,
            fixation_ms: 300.0,
            stimulus_ms: 900.0,
            decision_ms: 400.0,
            test_dt_ms: 0.5,
            test_fixation_ms: 500.0,
            test_stimulus_ms: 1000.0,
            test_decision_ms: 300.0,
            baseline: 0.2,
            sigma_in: 0.01,
            catch_per_batch: 6,
            pad_ms: 0.0,
        };
        let task = |kind: TaskKind| TaskConfig {
            kind,
            perm_seed: 0,
            train_limit: 0,
            validation: 0,
            msi: msi.clone(),
            path: String::new(),
            test_path: String::new(),
        };
        let li = |m: InitKind, m_std: f64, xi_max: f64| LayerInit {
            m,
            m_std,
            xi_max,
            pi: 0.0,
        };
        let cfg = match p {
            Preset::PixelMnist | Preset::PermMnist | Preset::RowMnist => {
                let row = p == Preset::RowMnist;
                let (gi, gr, go) = mnist_groups(row);
                let (std, xi) = if row { (0.53, 0.1) } else { (0.1, 0.01) };
                Config {
                    preset: p,
                    seed: 1,
                    task: task(match p {
                        Preset::RowMnist => TaskKind::RowMnist,
                        Preset::PermMnist => TaskKind::PermMnist,
                        _ => TaskKind::PixelMnist,
                    }),
                    model: ModelConfig {
                        n: 100,
                        alpha: 0.1,
                        sigma: 0.0,
                        h0: 0.1,
                        sas_in: row,
                        sas_rec: true,
                        sas_out: true,
                        tau_ms: 0.0,
                    },
                    init: InitConfig {
                        inp: li(InitKind::Normal, std, if row { xi } else { 0.0 }),
                        rec: li(InitKind::Identity, 0.0, xi),
                        out: li(InitKind::Normal, std, xi),
                    },
                    optim: OptimConfig {
                        kind: OptimKind::Adam,
                        beta1: 0.9,
                        beta2: 0.999,
                        rho: 0.9,
                        eps: 1e-8,
                        eps_placement: EpsPlacement::Outside,
                        schedule_offset: 1,
                        lr_floor: 1e-8,
                        clip: 10.0,
                        inp: gi,
                        rec: gr,
                        out: go,
                    },
                    train: TrainConfig {
                        batch: 128,
                        minibatches: 200,
                        epochs: 200,
                        stop_loss: 0.0,
                        stop_after: 0,
                        chunks: 2,
                        history: false,
                        eps_fixed_in_trial: false,
                    },
                    eval: EvalConfig {
                        every: 1,
                        during_limit: if row { 0 } else { 2000 },
                        trials_per_condition: 100,
                        during_trials_per_condition: 10,
                        batch: 500,
                    },
                }
            }
            Preset::Msi => {
                let (gi, gr, go) = msi_groups();
                Config {
                    preset: p,
                    seed: 1,
                    task: task(TaskKind::Msi),
                    model: ModelConfig {
                        n: 150,
                        alpha: 0.2,
                        sigma: 0.15,
                        h0: 0.0,
                        sas_in: false,
                        sas_rec: true,
                        sas_out: true,
                        tau_ms: 0.0,
                    },
                    init: InitConfig {
                        inp: li(InitKind::FanIn, 1.0, 0.0),
                        rec: li(InitKind::FanIn, 1.0, 0.01),
                        out: li(InitKind::FanIn, 1.0, 0.01),
                    },
                    optim: OptimConfig {
                        kind: OptimKind::Rmsprop,
                        beta1: 0.9,
                        beta2: 0.999,
                        rho: 0.9,
                        eps: 1e-8,
                        eps_placement: EpsPlacement::Inside,
                        schedule_offset: 1,
                        lr_floor: 0.0,
                        clip: 0.0,
                        inp: gi,
                        rec: gr,
                        out: go,
                    },
                    train: TrainConfig {
                        batch: 30,
                        minibatches: 1,
                        epochs: 500,
                        stop_loss: 0.002,
                        stop_after: 100,
                        chunks: 2,
                        history: true,
                        eps_fixed_in_trial: false,
                    },
                    eval: EvalConfig {
                        every: 50,
                        during_limit: 0,
                        trials_per_condition: 100,
                        during_trials_per_condition: 10,
                        batch: 600,
                    },
                }
            }
            Preset::Cognitive => {
                // A user's cognitive task (NeuroGym's or their own): leaky dynamics with
                // α = dt / τ from the task's time step, τ = 100 ms; Adam on every group with
                // rates halved every 20 epochs; one pass over the training trials per epoch.
                let decayed = |lr: f64, frozen: bool| GroupConfig {
                    step_every: 20,
                    gamma: 0.5,
                    frozen,
                    ..group(lr)
                };
                let g = |lr: f64, frozen: bool| LayerGroups {
                    m: decayed(lr, false),
                    pi: decayed(lr, frozen),
                    xi: decayed(lr, frozen),
                };
                Config {
                    preset: p,
                    seed: 1,
                    task: task(TaskKind::User),
                    model: ModelConfig {
                        n: 100,
                        alpha: 0.2,
                        sigma: 0.05,
                        h0: 0.0,
                        sas_in: false,
                        sas_rec: true,
                        sas_out: true,
                        tau_ms: 100.0,
                    },
                    init: InitConfig {
                        inp: li(InitKind::FanIn, 1.0, 0.0),
                        rec: li(InitKind::FanIn, 0.9, 0.01),
                        out: li(InitKind::FanIn, 1.0, 0.01),
                    },
                    optim: OptimConfig {
                        kind: OptimKind::Adam,
                        beta1: 0.9,
                        beta2: 0.999,
                        rho: 0.9,
                        eps: 1e-8,
                        eps_placement: EpsPlacement::Outside,
                        schedule_offset: 1,
                        lr_floor: 0.0,
                        clip: 10.0,
                        inp: g(1e-3, true),
                        rec: g(1e-3, false),
                        out: g(1e-3, false),
                    },
                    train: TrainConfig {
                        batch: 32,
                        minibatches: 0,
                        epochs: 60,
                        stop_loss: 0.0,
                        stop_after: 0,
                        chunks: 2,
                        history: true,
                        eps_fixed_in_trial: false,
                    },
                    eval: EvalConfig {
                        every: 5,
                        during_limit: 0,
                        trials_per_condition: 100,
                        during_trials_per_condition: 10,
                        batch: 500,
                    },
                }
            }
            Preset::FfMnist | Preset::FfMnistFull => return Err(not_recurrent(p.name())),
        };
        Ok(cfg)
    }
}

/// The error of a name that is not a recurrent preset.
fn not_recurrent(name: &str) -> SasError {
    SasError::UnknownName {
        what: "preset",
        name: name.into(),
        known: PRESETS.join(", "),
    }
}
