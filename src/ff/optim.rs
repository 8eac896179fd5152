//! The feed-forward network's optimizer: the shared [`Optimizer`] (Adam) over the layers'
//! groups `m`, `π`, `Ξ`, each with its learning rate and the common step schedule, decoupled
//! decay on `m` and `Ξ`, per-matrix spectral-norm clipping to `clip` and the constraints
//! `π ← clip(π, 0, 1)`, `Ξ ← max(Ξ, 0)` after every step.

use super::FfNet;
use super::config::AdamConfig;
use crate::config::{EpsPlacement, GroupConfig, LayerGroups, OptimConfig, OptimKind};
use crate::optim::Optimizer;

/// The Adam optimizer of `net` for settings `cfg`: groups `m`, `π`, `Ξ` of every layer with
/// learning rates `lr_m`, `lr_pi`, `lr_xi`, the schedule `× gamma` every `step_every`
/// epochs, decay `decay` on `m` and `Ξ` (not `π`), ε outside the root (PyTorch's Adam).
pub fn optimizer(cfg: &AdamConfig, net: &FfNet<f32>) -> Optimizer {
    let group = |lr: f64, decay: f64| GroupConfig {
        lr,
        decay,
        l2: 0.0,
        step_every: cfg.step_every,
        gamma: cfg.gamma,
        frozen: false,
    };
    let groups = vec![
        [
            group(cfg.lr_m, cfg.decay),
            group(cfg.lr_pi, 0.0),
            group(cfg.lr_xi, cfg.decay)
        ];
        net.layers.len()
    ];
    let unused = LayerGroups {
        m: group(0.0, 0.0),
        pi: group(0.0, 0.0),
        xi: group(0.0, 0.0),
    };
    let settings = OptimConfig {
        kind: OptimKind::Adam,
        beta1: cfg.beta1,
        beta2: cfg.beta2,
        eps: cfg.eps,
        eps_placement: EpsPlacement::Outside,
        schedule_offset: 0,
        lr_floor: 0.0,
        clip: cfg.clip,
        // RMSprop's ρ and the recurrent layers' groups are not used here.
        rho: 0.0,
        inp: unused.clone(),
        rec: unused.clone(),
        out: unused,
    };
    Optimizer::with_groups(&settings, groups, net)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ff::FfConfig;
    use crate::sas::SasGrad;

    #[test]
    fn first_step_moves_by_lr_and_constrains() {
        let mut cfg = FfConfig::preset("ff-mnist").unwrap().optim;
        cfg.decay = 0.0;
        cfg.clip = 0.0;
        let mut net = FfNet::<f32>::zeros(&[2, 1]);
        net.layers[0].pi = vec![0.05, 0.5];
        net.layers[0].xi = vec![0.05, 0.5];
        let mut opt = optimizer(&cfg, &net);
        let mut g = [SasGrad {
            m: vec![1.0, -2.0],
            pi: vec![1.0, -1.0],
            xi: vec![1.0, 0.0],
        }];
        opt.step_layers(&mut net, g.iter_mut().collect(), 0, &[]);
        let l = &net.layers[0];
        assert!((l.m[0] + 0.1).abs() < 1e-6 && (l.m[1] - 0.1).abs() < 1e-6);
        // π: 0.05 - 0.1 → clipped to 0; 0.5 + 0.1 = 0.6. Ξ: 0.05 - 0.1 → 0; unchanged.
        assert_eq!(l.pi[0], 0.0);
        assert!((l.pi[1] - 0.6).abs() < 1e-6);
        assert_eq!(l.xi, vec![0.0, 0.5]);
    }

    #[test]
    fn clipping_uses_the_spectral_norm() {
        let mut cfg = FfConfig::preset("ff-mnist").unwrap().optim;
        cfg.clip = 1.0;
        let mut net = FfNet::<f32>::zeros(&[2, 2]);
        let mut opt = optimizer(&cfg, &net);
        // diag(30, 40): spectral norm 40 → scaled by 1/40; first moment 0.1 · g_clipped.
        let mut g = [SasGrad {
            m: vec![30.0, 0.0, 0.0, 40.0],
            pi: vec![0.0; 4],
            xi: vec![0.0; 4],
        }];
        opt.step_layers(&mut net, g.iter_mut().collect(), 0, &[]);
        let m1 = &opt.state[0][0].m1;
        assert!(
            (m1[0] - 0.075).abs() < 1e-7 && (m1[3] - 0.1).abs() < 1e-7,
            "{m1:?}"
        );
    }
}
