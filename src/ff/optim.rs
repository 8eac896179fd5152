//! Adam for a list of spike-and-slab layers (the feed-forward network's optimizer).
//!
//! Per layer three parameter groups (`m`, `π`, `Ξ`), each with its learning rate (and the
//! common step schedule). One step, per group: per-matrix gradient clipping to spectral norm
//! ≤ `clip` ([`crate::optim::spectral_norm`]; skipped when the Frobenius norm, an upper
//! bound, is already ≤ `clip`), decoupled decay `p ← p (1 - lr·decay)` on `m` and `Ξ`, the
//! Adam update (PyTorch's definition), then the constraints `π ← clip(π, 0, 1)`,
//! `Ξ ← max(Ξ, 0)` ([`crate::optim::constrain`]).

use super::config::FfOptimConfig;
use super::{FfNet, layer_name};
use crate::error::{Result, SasError};
use crate::io::tensors::{TensorFile, TensorWriter};
use crate::optim::{GroupState, KINDS, constrain, spectral_norm};
use crate::sas::SasGrad;

/// Adam state of every group, `state[layer][kind]` with kinds in the order `m`, `π`, `Ξ`.
#[derive(Clone, Debug, PartialEq)]
pub struct FfAdam {
    cfg: FfOptimConfig,
    /// Moment estimates per layer and kind.
    pub state: Vec<[GroupState; 3]>,
    /// Steps taken so far.
    pub steps: u64,
}

impl FfAdam {
    /// Zero moment estimates for `net`.
    pub fn new(cfg: &FfOptimConfig, net: &FfNet<f32>) -> Self {
        let state = net
            .layers
            .iter()
            .map(|l| {
                let n = l.rows * l.cols;
                std::array::from_fn(|_| GroupState {
                    m1: vec![0.0; n],
                    m2: vec![0.0; n],
                })
            })
            .collect();
        FfAdam {
            cfg: cfg.clone(),
            state,
            steps: 0,
        }
    }

    /// Zeroes the moment estimates and the step count (a fresh Adam on the same groups).
    pub fn reset(&mut self) {
        for st in &mut self.state {
            for g in st.iter_mut() {
                g.m1.fill(0.0);
                g.m2.fill(0.0);
            }
        }
        self.steps = 0;
    }

    /// Learning rate of `kind` (0 = `m`, 1 = `π`, 2 = `Ξ`) in epoch `epoch` (0-based).
    pub fn lr(&self, kind: usize, epoch: usize) -> f64 {
        let base = [self.cfg.lr_m, self.cfg.lr_pi, self.cfg.lr_xi][kind];
        match epoch.checked_div(self.cfg.step_every) {
            Some(s) => base * self.cfg.gamma.powi(s as i32),
            None => base,
        }
    }

    /// One step on `net` with gradients `grads` (one per layer; clipped in place).
    pub fn step(&mut self, net: &mut FfNet<f32>, grads: &mut [SasGrad<f32>], epoch: usize) {
        self.steps += 1;
        let t = self.steps as i32;
        let c = &self.cfg;
        let (c1, c2) = (1.0 - c.beta1.powi(t), 1.0 - c.beta2.powi(t));
        let lrs = [self.lr(0, epoch), self.lr(1, epoch), self.lr(2, epoch)];
        for ((layer, g), st) in net.layers.iter_mut().zip(grads.iter_mut()).zip(&mut self.state) {
            let (rows, cols) = (layer.rows, layer.cols);
            let params: [&mut Vec<f32>; 3] = [&mut layer.m, &mut layer.pi, &mut layer.xi];
            let gk: [&mut Vec<f32>; 3] = [&mut g.m, &mut g.pi, &mut g.xi];
            for (ki, ((p, gv), s)) in params.into_iter().zip(gk).zip(st.iter_mut()).enumerate() {
                let lr = lrs[ki];
                if c.clip > 0.0 {
                    let frob = gv.iter().map(|&v| v as f64 * v as f64).sum::<f64>().sqrt();
                    if frob > c.clip {
                        let norm = spectral_norm(gv, rows, cols);
                        if norm > c.clip {
                            let f = (c.clip / norm) as f32;
                            gv.iter_mut().for_each(|v| *v *= f);
                        }
                    }
                }
                let decay = if ki == 1 { 0.0 } else { c.decay };
                for i in 0..p.len() {
                    let gi = gv[i] as f64;
                    let mut pi = p[i] as f64;
                    if decay > 0.0 {
                        pi *= 1.0 - lr * decay;
                    }
                    let m1 = c.beta1 * s.m1[i] as f64 + (1.0 - c.beta1) * gi;
                    let m2 = c.beta2 * s.m2[i] as f64 + (1.0 - c.beta2) * gi * gi;
                    s.m1[i] = m1 as f32;
                    s.m2[i] = m2 as f32;
                    pi -= lr * (m1 / c1) / ((m2 / c2).sqrt() + c.eps);
                    p[i] = pi as f32;
                }
            }
            constrain(layer, None);
        }
    }

    /// Writes the state into a checkpoint: `optim.l<i>.<m|pi|xi>.<m1|m2>` and `optim_steps`.
    pub fn save(&self, w: &mut TensorWriter) {
        for (l, st) in self.state.iter().enumerate() {
            for (ki, kind) in KINDS.into_iter().enumerate() {
                let name = format!("optim.{}.{kind}", layer_name(l));
                w.add(&format!("{name}.m1"), &[st[ki].m1.len()], &st[ki].m1);
                w.add(&format!("{name}.m2"), &[st[ki].m2.len()], &st[ki].m2);
            }
        }
        w.meta("optim_steps", self.steps.to_string());
    }

    /// Restores the state written by [`FfAdam::save`].
    pub fn load(&mut self, f: &TensorFile) -> Result<()> {
        for (l, st) in self.state.iter_mut().enumerate() {
            for (ki, kind) in KINDS.into_iter().enumerate() {
                let name = format!("optim.{}.{kind}", layer_name(l));
                let n = st[ki].m1.len();
                st[ki].m1 = f.get(&format!("{name}.m1"), &[n])?;
                st[ki].m2 = f.get(&format!("{name}.m2"), &[n])?;
            }
        }
        let s = f
            .metadata()
            .get("optim_steps")
            .ok_or_else(|| SasError::Metadata {
                key: "optim_steps".into(),
                path: f.path().to_path_buf(),
                reason: "missing".into(),
            })?;
        self.steps = s.parse().map_err(|_| SasError::Metadata {
            key: "optim_steps".into(),
            path: f.path().to_path_buf(),
            reason: format!("`{s}` is not a step count"),
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ff::FfConfig;

    #[test]
    fn first_step_moves_by_lr_and_constrains() {
        let mut cfg = FfConfig::preset("ff-mnist").unwrap().optim;
        cfg.decay = 0.0;
        cfg.clip = 0.0;
        let mut net = FfNet::<f32>::zeros(&[2, 1]);
        net.layers[0].pi = vec![0.05, 0.5];
        net.layers[0].xi = vec![0.05, 0.5];
        let mut opt = FfAdam::new(&cfg, &net);
        let mut g = vec![SasGrad {
            m: vec![1.0, -2.0],
            pi: vec![1.0, -1.0],
            xi: vec![1.0, 0.0],
        }];
        opt.step(&mut net, &mut g, 0);
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
        let mut opt = FfAdam::new(&cfg, &net);
        // diag(30, 40): spectral norm 40 → scaled by 1/40; first moment 0.1 · g_clipped.
        let mut g = vec![SasGrad {
            m: vec![30.0, 0.0, 0.0, 40.0],
            pi: vec![0.0; 4],
            xi: vec![0.0; 4],
        }];
        opt.step(&mut net, &mut g, 0);
        let m1 = &opt.state[0][0].m1;
        assert!(
            (m1[0] - 0.075).abs() < 1e-7 && (m1[3] - 0.1).abs() < 1e-7,
            "{m1:?}"
        );
    }
}
