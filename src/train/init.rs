//! Initial parameters of a network from the configuration (docs/MODEL.md §2 "init" rows).

use crate::config::{Config, InitKind, LayerInit};
use crate::engine::Dims;
use crate::net::SasNet;
use crate::optim::{Masks, constrain};
use crate::rng::{NormalStream, derive_seed, splitmix64};
use crate::sas::SasLayer;

const KEY_INIT: u64 = 1;

/// Structural masks implied by the task (MSI: the fixed input wiring).
pub(crate) fn masks(cfg: &Config, d: Dims) -> Masks {
    let inp = (cfg.task.kind == crate::config::TaskKind::Msi && d.i == crate::task::msi::INPUTS)
        .then(|| crate::task::msi::input_mask(d.n));
    [inp, None, None]
}

fn init_layer(l: &mut SasLayer<f32>, li: &LayerInit, stochastic: bool, seed: u64) {
    let mut g = NormalStream::new(derive_seed(seed, &[0]));
    let mut s = derive_seed(seed, &[1]);
    let fan_in = l.cols.max(1) as f64;
    for (i, m) in l.m.iter_mut().enumerate() {
        *m = match li.m {
            InitKind::Identity => f32::from(i / l.cols == i % l.cols),
            InitKind::Normal => (li.m_std * g.sample() as f64) as f32,
            InitKind::FanIn => (li.m_std / fan_in.sqrt() * g.sample() as f64) as f32,
            InitKind::Zero => 0.0,
        };
    }
    for x in l.xi.iter_mut() {
        let u = (splitmix64(&mut s) >> 40) as f64 / (1u64 << 24) as f64;
        *x = if stochastic { (li.xi_max * u) as f32 } else { 0.0 };
    }
    for p in l.pi.iter_mut() {
        *p = if stochastic { li.pi as f32 } else { 0.0 };
    }
}

/// A freshly initialized network for `cfg` with `I` inputs and `K` outputs.
pub(crate) fn init_network(cfg: &Config, inputs: usize, outputs: usize) -> SasNet<f32> {
    let d = Dims {
        n: cfg.model.n,
        i: inputs,
        k: outputs,
    };
    let m = &cfg.model;
    let mut net = SasNet::zeros(d, [m.sas_in, m.sas_rec, m.sas_out]);
    let inits = [&cfg.init.inp, &cfg.init.rec, &cfg.init.out];
    let stoch = net.stochastic;
    let masks = masks(cfg, d);
    for (li, (_, l)) in net.layers_mut().into_iter().enumerate() {
        init_layer(
            l,
            inits[li],
            stoch[li],
            derive_seed(cfg.seed, &[KEY_INIT, li as u64]),
        );
        constrain(l, masks[li].as_deref());
    }
    net
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_initializations() {
        let c = Config::preset("pixel-mnist").unwrap();
        let net = init_network(&c, 1, 10);
        assert_eq!(net.rec.m[0], 1.0);
        assert_eq!(net.rec.m[1], 0.0);
        assert_eq!(net.rec.m[101], 1.0);
        assert!(net.rec.xi.iter().all(|&x| (0.0..0.01).contains(&x)));
        assert!(net.rec.pi.iter().all(|&p| p == 0.0));
        assert!(net.inp.xi.iter().all(|&x| x == 0.0));
        let sd = (net.out.m.iter().map(|&v| (v * v) as f64).sum::<f64>() / 1000.0).sqrt();
        assert!((sd - 0.1).abs() < 0.01, "out std {sd}");
        let c = Config::preset("msi").unwrap();
        let net = init_network(&c, 5, 2);
        // Unit 0 (auditory group) gets no visual channel: masked entries are π = 1, m = 0.
        assert_eq!((net.inp.pi[0], net.inp.m[0]), (1.0, 0.0));
        assert_eq!(net.inp.pi[1], 0.0);
        let sd = (net.rec.m.iter().map(|&v| (v * v) as f64).sum::<f64>() / 22500.0).sqrt();
        assert!((sd - 1.0 / 150f64.sqrt()).abs() < 0.005, "rec std {sd}");
        assert_eq!(init_network(&c, 5, 2), net, "initialization is seeded");
    }
}
