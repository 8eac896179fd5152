//! Training variants for the stochastic-plasticity comparison (docs/MODEL.md §5.12): the same
//! configuration and seed with one or both sources of weight uncertainty removed.
//!
//! | variant | `Ξ` | `π` | what remains |
//! |---|---|---|---|
//! | [`Variant::Reference`] | trained | trained | the configuration as given |
//! | [`Variant::XiZero`] | ≡ 0 (init 0, frozen) | trained | spike noise only: `v = π(1−π)m²` |
//! | [`Variant::PiZero`] | trained | ≡ 0 (init 0, frozen) | slab noise only: `v = Ξ` |
//! | [`Variant::Bptt`] | ≡ 0 | ≡ 0 | plain BPTT (`v = 0`) |
//!
//! Everything else (architecture, `m` initialization, optimizer, schedules, data order and
//! noise streams) is unchanged, so the variants of a seed start from the same `m` and see the
//! same minibatches. The same could be written with `--set` (e.g. `init.rec.xi_max=0`,
//! `optim.rec.xi.frozen=true` for every layer); [`Variant::config`] is that transformation
//! in one place.
//!
//! [`Variant::Bptt`] runs every layer in the deterministic limit (`model.sas_* = false`): the
//! engine then computes no variance terms at all, which is exactly plain BPTT and about half
//! the work. With `π ≡ Ξ ≡ 0` in spike-and-slab layers (`XiZero` then `PiZero` applied to a
//! configuration) the variance is 0 everywhere and training gives the same parameters (the
//! tests check this).

use crate::config::{Config, LayerGroups, LayerInit};
use crate::error::{Result, SasError};

/// A training variant; see the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Variant {
    /// The configuration as given (π and Ξ trained where the layers are spike-and-slab).
    Reference,
    /// Slab variances fixed at 0: `Ξ ≡ 0`.
    XiZero,
    /// Spike probabilities fixed at 0: `π ≡ 0`.
    PiZero,
    /// Both fixed at 0: plain BPTT on the means.
    Bptt,
}

impl Variant {
    /// Every variant, reference first.
    pub const ALL: [Variant; 4] = [
        Variant::Reference,
        Variant::XiZero,
        Variant::PiZero,
        Variant::Bptt,
    ];

    /// Short name (folder names, CSV, command line): `reference`, `xi0`, `pi0`, `bptt`.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Reference => "reference",
            Variant::XiZero => "xi0",
            Variant::PiZero => "pi0",
            Variant::Bptt => "bptt",
        }
    }

    /// Label for figures.
    pub fn label(self) -> &'static str {
        match self {
            Variant::Reference => "reference (π, Ξ trained)",
            Variant::XiZero => "Ξ ≡ 0",
            Variant::PiZero => "π ≡ 0",
            Variant::Bptt => "π ≡ Ξ ≡ 0 (BPTT)",
        }
    }

    /// The variant called `name` (see [`Variant::name`]).
    pub fn parse(name: &str) -> Result<Variant> {
        Variant::ALL
            .into_iter()
            .find(|v| v.name() == name)
            .ok_or_else(|| SasError::UnknownName {
                what: "variant",
                name: name.into(),
                known: "reference, xi0, pi0, bptt".into(),
            })
    }

    /// The configuration of this variant of `base` (validated by the caller's training).
    pub fn config(self, base: &Config) -> Config {
        let mut c = base.clone();
        let zero_xi = |init: &mut LayerInit, g: &mut LayerGroups| {
            init.xi_max = 0.0;
            g.xi.frozen = true;
        };
        let zero_pi = |init: &mut LayerInit, g: &mut LayerGroups| {
            init.pi = 0.0;
            g.pi.frozen = true;
        };
        let layers = |c: &mut Config, f: &dyn Fn(&mut LayerInit, &mut LayerGroups)| {
            f(&mut c.init.inp, &mut c.optim.inp);
            f(&mut c.init.rec, &mut c.optim.rec);
            f(&mut c.init.out, &mut c.optim.out);
        };
        match self {
            Variant::Reference => {}
            Variant::XiZero => layers(&mut c, &zero_xi),
            Variant::PiZero => layers(&mut c, &zero_pi),
            Variant::Bptt => {
                layers(&mut c, &zero_xi);
                layers(&mut c, &zero_pi);
                c.model.sas_in = false;
                c.model.sas_rec = false;
                c.model.sas_out = false;
            }
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::source::TaskData;
    use crate::train::{TrainOptions, train};

    fn tiny() -> Config {
        crate::config::tests::tiny_msi(4, false)
    }

    /// A trained run's network.
    struct Trained {
        net: crate::net::SasNet<f32>,
    }

    fn trained(c: &Config, name: &str) -> Trained {
        let dir = std::env::temp_dir().join(format!("sasnet-variant-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let task = TaskData::load(c, None).unwrap();
        train(c, &task, &dir, &TrainOptions::default()).unwrap();
        let (_, net, _) = crate::run::checkpoint::load_run(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        Trained { net }
    }

    #[test]
    fn names_round_trip_and_configs_validate() {
        for v in Variant::ALL {
            assert_eq!(Variant::parse(v.name()).unwrap(), v);
            v.config(&Config::preset("row-mnist").unwrap())
                .validate()
                .unwrap();
            v.config(&Config::preset("msi").unwrap()).validate().unwrap();
        }
        assert!(Variant::parse("nope").is_err());
        let base = Config::preset("msi").unwrap();
        assert_eq!(Variant::Reference.config(&base), base);
        let b = Variant::Bptt.config(&base);
        assert!(!b.model.sas_rec && b.optim.rec.pi.frozen && b.optim.out.xi.frozen);
        // Only the listed settings change.
        let mut x = Variant::XiZero.config(&base);
        x.init.rec.xi_max = base.init.rec.xi_max;
        x.init.out.xi_max = base.init.out.xi_max;
        x.optim.rec.xi.frozen = false;
        x.optim.out.xi.frozen = false;
        assert_eq!(x, base);
    }

    /// Ξ ≡ 0 keeps every Ξ exactly 0 through training while π moves; π ≡ 0 likewise; the
    /// BPTT variant (deterministic layers) equals training with π ≡ Ξ ≡ 0 in spike-and-slab
    /// layers, and its m differ from the reference's.
    #[test]
    fn variants_keep_their_zeros_and_bptt_is_plain_bptt() {
        let base = tiny();
        let reference = trained(&base, "reference");
        let xi0 = trained(&Variant::XiZero.config(&base), "xi0");
        let pi0 = trained(&Variant::PiZero.config(&base), "pi0");
        let bptt = trained(&Variant::Bptt.config(&base), "bptt");
        let frozen_zeros = trained(&Variant::PiZero.config(&Variant::XiZero.config(&base)), "zeros");
        for l in [&xi0.net.rec, &xi0.net.out] {
            assert!(l.xi.iter().all(|&x| x == 0.0));
            assert!(l.pi.iter().any(|&p| p > 0.0), "π is still trained");
        }
        for l in [&pi0.net.rec, &pi0.net.out] {
            assert!(l.pi.iter().all(|&p| p == 0.0));
            assert!(l.xi.iter().any(|&x| x > 0.0), "Ξ is still trained");
        }
        assert_eq!(bptt.net.stochastic, [false; 3]);
        for l in [&frozen_zeros.net.rec, &frozen_zeros.net.out] {
            assert!(l.pi.iter().chain(&l.xi).all(|&v| v == 0.0));
        }
        for (a, b) in [
            (&bptt.net.inp, &frozen_zeros.net.inp),
            (&bptt.net.rec, &frozen_zeros.net.rec),
            (&bptt.net.out, &frozen_zeros.net.out),
        ] {
            let d =
                a.m.iter()
                    .zip(&b.m)
                    .map(|(x, y)| (x - y).abs())
                    .fold(0.0f32, f32::max);
            assert!(d <= 1e-6, "BPTT differs from π ≡ Ξ ≡ 0 by {d}");
        }
        let d = bptt
            .net
            .rec
            .m
            .iter()
            .zip(&reference.net.rec.m)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(d > 1e-4, "the reference should differ from BPTT");
        // Same seed → same initial m: the variants start alike (epoch-0 m equal).
        let i0 = crate::train::init::init_network(&base, 5, 2);
        let i1 = crate::train::init::init_network(&Variant::Bptt.config(&base), 5, 2);
        assert_eq!(i0.rec.m, i1.rec.m);
        assert_eq!(i0.out.m, i1.out.m);
    }
}
