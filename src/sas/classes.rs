//! The weight-class rule: one classifier ([`Thresholds::class_of`]) for every analysis and
//! both network families. A connection is VIP (very important: deterministic and always
//! present), UIP (unimportant: always absent) or variable. The VIP rule is one of
//! ([`VipRule`]):
//!
//! - `exact` — `π = 0`, `Ξ = 0`, `m ≠ 0`, exact comparisons on the stored `f32` values. Source:
//!   the paper, MNIST ("π = 0 and m ≠ 0"; such a connection is deterministic — its entropy
//!   vanishes — hence `Ξ = 0`). Default of the MNIST tasks and of feed-forward runs.
//! - `relaxed` — `π < 0.1`, `|m| > 0.05`, `Ξ` not tested. Source: the paper's MSI Fig. 17
//!   caption ("note that Ξ is very small"). Default of MSI and user tasks.
//! - `authors` — `π ≤ 0.1`, `Ξ < 0.1`, `|m| > 0.08`. Source: the authors' MSI analysis code.
//! - `near` — feed-forward near-VIP, `π ≤ 1e-3`, `Ξ < 1e-3` ([`FF_NEAR_VIP`]).
//! - `custom` — the user's bounds replacing those of a named rule.
//!
//! UIP: `π ≥ 0.999` ([`UIP_PI`]; feed-forward runs `π = 1` exactly); variable: the rest.
//! Comparisons are in `f32`, the bounds rounded to `f32` (see [`Thresholds`]).

use super::SasLayer;
use super::ensemble::Ensemble;

/// Default UIP threshold: `π ≥ 0.999` counts as `π = 1`. Training clips `π` to [0, 1], so
/// unimportant weights sit at exactly 1; the tolerance absorbs `f32` rounding and weights
/// that are still converging onto the boundary. (Feed-forward runs use `π = 1` exactly.)
pub const UIP_PI: f64 = 0.999;

/// Default tolerance of the feed-forward *near-VIP* set (`π ≤ 1e-3` and `Ξ < 1e-3`): the
/// connections that are deterministic and always present to three decimals, though Adam's
/// last steps left them just off the exact boundary values that define VIP proper.
pub const FF_NEAR_VIP: f64 = 1e-3;

/// The named VIP rules, each with its source ([`VipRule::source`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum VipRule {
    /// `π = 0`, `Ξ = 0`, `m ≠ 0`, exact comparisons: the paper's MNIST definition ("π = 0 and
    /// m ≠ 0"; a deterministic connection, so its entropy vanishes and `Ξ = 0`). Default of
    /// the MNIST tasks and of feed-forward runs.
    Exact,
    /// `π < 0.1`, `|m| > 0.05`, `Ξ` not tested: the paper's MSI Fig. 17 caption ("note that Ξ
    /// is very small"). Default of MSI and user tasks.
    Relaxed,
    /// `π ≤ 0.1`, `Ξ < 0.1`, `|m| > 0.08`: the authors' MSI analysis code.
    Authors,
    /// The user's thresholds (`--vip-pi-max`, `--vip-xi-max`, `--vip-m-min` over a named rule).
    #[value(skip)]
    Custom,
    /// The feed-forward near-VIP set, `π ≤ 1e-3`, `Ξ < 1e-3` ([`FF_NEAR_VIP`]): sasnet's own
    /// tolerance, not from the paper.
    #[value(skip)]
    Near,
}

impl VipRule {
    /// Lower-case name (`exact`, `relaxed`, `authors`, `custom`, `near`).
    pub fn name(self) -> &'static str {
        match self {
            VipRule::Exact => "exact",
            VipRule::Relaxed => "relaxed",
            VipRule::Authors => "authors",
            VipRule::Custom => "custom",
            VipRule::Near => "near",
        }
    }

    /// Where the rule comes from, as stated in captions and summaries.
    pub fn source(self) -> &'static str {
        match self {
            VipRule::Exact => "paper, MNIST: π = 0 and m ≠ 0",
            VipRule::Relaxed => "paper, Fig. 17 caption",
            VipRule::Authors => "authors' MSI code",
            VipRule::Custom => "user thresholds (--vip-pi-max / --vip-xi-max / --vip-m-min)",
            VipRule::Near => "sasnet's feed-forward near-VIP tolerance, not from the paper",
        }
    }

    /// The default rule of a task kind: MNIST variants (`…mnist`) and feed-forward runs
    /// (`ff…`) [`VipRule::Exact`]; MSI and user tasks [`VipRule::Relaxed`].
    pub fn for_task(kind: &str) -> VipRule {
        if kind.ends_with("mnist") || kind.starts_with("ff") {
            VipRule::Exact
        } else {
            VipRule::Relaxed
        }
    }
}

/// The weight classes: a VIP rule ([`VipRule`] and its bounds) and the UIP threshold.
///
/// A weight is VIP when `π ≤ pi_max` (`π < pi_max` when `pi_strict`), `Ξ ≤ xi_max` (`Ξ <
/// xi_max` when `xi_strict`; no test when `xi_max` is `None`) and `|m| > m_min`; UIP when `π ≥
/// uip_pi`; variable otherwise. Comparisons are on the stored `f32` values against the bounds
/// rounded to `f32` (as PyTorch compares a float32 tensor with a Python float), so a stored
/// `π = 0.1` satisfies `π ≤ 0.1` and fails `π < 0.1`, and the exact rule (`π ≤ 0`, `Ξ ≤ 0`,
/// `|m| > 0`) is `π = 0`, `Ξ = 0`, `m ≠ 0` exactly (`π` and `Ξ` are never negative: the
/// optimizer's constraints clip them).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Thresholds {
    /// Which rule (named, custom or near-VIP).
    pub rule: VipRule,
    /// Bound on the spike probability of a VIP weight.
    pub pi_max: f64,
    /// `π < pi_max` (strict) instead of `π ≤ pi_max`.
    pub pi_strict: bool,
    /// Bound on the slab variance of a VIP weight; `None`: not tested.
    pub xi_max: Option<f64>,
    /// `Ξ < xi_max` (strict) instead of `Ξ ≤ xi_max`.
    pub xi_strict: bool,
    /// VIP weights have a slab mean larger than this in magnitude.
    pub m_min: f64,
    /// Smallest spike probability of a UIP weight.
    pub uip_pi: f64,
}

impl serde::Serialize for Thresholds {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Thresholds", 10)?;
        st.serialize_field("rule", &self.rule)?;
        st.serialize_field("source", self.rule.source())?;
        st.serialize_field("vip", &self.vip_rule())?;
        st.serialize_field("pi_max", &self.pi_max)?;
        st.serialize_field("pi_strict", &self.pi_strict)?;
        st.serialize_field("xi_max", &self.xi_max)?;
        st.serialize_field("xi_strict", &self.xi_strict)?;
        st.serialize_field("m_min", &self.m_min)?;
        st.serialize_field("uip_pi", &self.uip_pi)?;
        st.end()
    }
}

impl Thresholds {
    /// The bounds of a rule, UIP `π ≥` [`UIP_PI`]. `Custom` starts from the authors' bounds
    /// (the user's overrides then replace them, `AnalysisOptions::thresholds`).
    pub fn named(rule: VipRule) -> Thresholds {
        let t = |pi_max, pi_strict, xi_max, xi_strict, m_min| Thresholds {
            rule,
            pi_max,
            pi_strict,
            xi_max,
            xi_strict,
            m_min,
            uip_pi: UIP_PI,
        };
        match rule {
            VipRule::Exact => t(0.0, false, Some(0.0), false, 0.0),
            VipRule::Relaxed => t(0.1, true, None, false, 0.05),
            VipRule::Authors | VipRule::Custom => t(0.1, false, Some(0.1), true, 0.08),
            VipRule::Near => t(FF_NEAR_VIP, false, Some(FF_NEAR_VIP), true, 0.0),
        }
    }

    /// The default classes of a task kind: [`VipRule::for_task`]; feed-forward runs (`ff…`)
    /// count UIP at `π = 1` exactly.
    pub fn for_task(kind: &str) -> Thresholds {
        let mut t = Thresholds::named(VipRule::for_task(kind));
        if kind.starts_with("ff") {
            t.uip_pi = 1.0;
        }
        t
    }

    /// The VIP and UIP rules with the VIP rule's name and source, e.g. `VIP (relaxed rule;
    /// paper, Fig. 17 caption): π < 0.1, |m| > 0.05, Ξ not tested; UIP: π ≥ 0.999`.
    pub fn describe(&self) -> String {
        format!("{}; UIP: π ≥ {}", self.label(), self.uip_pi)
    }

    /// The VIP rule with its name and source, e.g. `VIP (exact rule; paper, MNIST: π = 0 and
    /// m ≠ 0): π = 0, Ξ = 0, m ≠ 0`.
    pub fn label(&self) -> String {
        format!(
            "VIP ({} rule; {}): {}",
            self.rule.name(),
            self.rule.source(),
            self.vip_rule()
        )
    }

    /// The VIP bounds as text, e.g. `π ≤ 0.1, Ξ < 0.1, |m| > 0.08` or `π = 0, Ξ = 0, m ≠ 0`.
    pub fn vip_rule(&self) -> String {
        let bound = |sym: &str, v: f64, strict: bool| match (v == 0.0, strict) {
            (true, false) => format!("{sym} = 0"),
            (_, true) => format!("{sym} < {v}"),
            _ => format!("{sym} ≤ {v}"),
        };
        let pi = bound("π", self.pi_max, self.pi_strict);
        let m = if self.m_min == 0.0 {
            "m ≠ 0".to_string()
        } else {
            format!("|m| > {}", self.m_min)
        };
        match self.xi_max {
            Some(x) => format!("{pi}, {}, {m}", bound("Ξ", x, self.xi_strict)),
            None => format!("{pi}, {m}, Ξ not tested"),
        }
    }

    /// Indices (row-major, `row · cols + col`) of the VIP connections of `l` among the
    /// allowed ones (`mask[k] = false`: structurally absent, never VIP).
    pub fn vip_indices(&self, l: &SasLayer<f32>, mask: Option<&[bool]>) -> Vec<usize> {
        (0..l.m.len())
            .filter(|&k| mask.is_none_or(|m| m[k]) && self.is_vip(l.pi[k], l.m[k], l.xi[k]))
            .collect()
    }

    /// Whether a weight with these stored values is VIP (see the type's docs).
    pub fn is_vip(&self, pi: f32, m: f32, xi: f32) -> bool {
        let le = |v: f32, b: f64, strict: bool| if strict { v < b as f32 } else { v <= b as f32 };
        le(pi, self.pi_max, self.pi_strict)
            && self.xi_max.is_none_or(|x| le(xi, x, self.xi_strict))
            && m.abs() > self.m_min as f32
    }

    /// The class of one weight from its stored values.
    pub fn class_of(&self, pi: f32, m: f32, xi: f32) -> WeightClass {
        if pi >= self.uip_pi as f32 {
            WeightClass::Uip
        } else if self.is_vip(pi, m, xi) {
            WeightClass::Vip
        } else {
            WeightClass::Variable
        }
    }
}

/// The class of one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum WeightClass {
    /// Very important: almost always present, nearly deterministic and strong.
    Vip,
    /// Unimportant: always absent (`π = 1`).
    Uip,
    /// Neither.
    Variable,
    /// Not classified: structurally masked, or on the skipped diagonal.
    Excluded,
}

impl WeightClass {
    /// Lower-case name: `vip`, `uip`, `variable`, `excluded`.
    pub fn name(&self) -> &'static str {
        match self {
            WeightClass::Vip => "vip",
            WeightClass::Uip => "uip",
            WeightClass::Variable => "variable",
            WeightClass::Excluded => "excluded",
        }
    }
}

/// The class of every entry of `l` (row-major, `rows × cols`), entries with `mask[k] =
/// false` and, when `skip_diagonal`, the diagonal `i = j` marked [`WeightClass::Excluded`].
pub(crate) fn classify(
    l: &SasLayer<f32>,
    t: &Thresholds,
    mask: Option<&[bool]>,
    skip_diagonal: bool,
) -> Vec<WeightClass> {
    (0..l.rows * l.cols)
        .map(|k| {
            let (i, j) = (k / l.cols, k % l.cols);
            if mask.is_some_and(|m| !m[k]) || (skip_diagonal && i == j) {
                WeightClass::Excluded
            } else {
                t.class_of(l.pi[k], l.m[k], l.xi[k])
            }
        })
        .collect()
}

/// Fractions of the classes among the classified (non-excluded) entries.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct ClassFractions {
    /// Fraction of VIP weights.
    pub vip: f64,
    /// Fraction of UIP weights.
    pub uip: f64,
    /// Fraction of variable weights.
    pub variable: f64,
    /// Number of VIP weights.
    pub vip_count: usize,
    /// Number of classified entries (the denominator).
    pub count: usize,
}

impl ClassFractions {
    /// The fractions of `classes` at the indices `idx` (all entries when `None`), excluded
    /// entries not counted; NaN fractions when nothing is classified.
    pub fn of(classes: &[WeightClass], idx: Option<&[usize]>) -> ClassFractions {
        let mut c = [0usize; 3];
        let mut add = |w: WeightClass| match w {
            WeightClass::Vip => c[0] += 1,
            WeightClass::Uip => c[1] += 1,
            WeightClass::Variable => c[2] += 1,
            WeightClass::Excluded => {}
        };
        match idx {
            Some(idx) => idx.iter().for_each(|&k| add(classes[k])),
            None => classes.iter().for_each(|&w| add(w)),
        }
        let n = c.iter().sum::<usize>();
        let d = if n > 0 { n as f64 } else { f64::NAN };
        ClassFractions {
            vip: c[0] as f64 / d,
            uip: c[1] as f64 / d,
            variable: c[2] as f64 / d,
            vip_count: c[0],
            count: n,
        }
    }
}

/// Weight-class counts and fractions of one layer.
#[derive(Clone, Debug, serde::Serialize, PartialEq)]
pub struct LayerClasses {
    /// Layer name (`l0`, …, or `in`, `rec`, `out`).
    pub layer: String,
    /// Connections.
    pub total: usize,
    /// VIP connections.
    pub vip: usize,
    /// UIP connections.
    pub uip: usize,
    /// Variable connections.
    pub variable: usize,
    /// `vip / total`.
    pub vip_frac: f64,
    /// `uip / total`.
    pub uip_frac: f64,
    /// `variable / total`.
    pub variable_frac: f64,
}

/// Indices (row-major) of the connections of `layer` in class `class` by rule `t`.
pub fn class_indices(layer: &SasLayer<f32>, t: &Thresholds, class: WeightClass) -> Vec<usize> {
    (0..layer.pi.len())
        .filter(|&i| t.class_of(layer.pi[i], layer.m[i], layer.xi[i]) == class)
        .collect()
}

/// Weight classes of every layer of `net` by rule `t` (every entry counted).
pub(crate) fn layer_classes<E: Ensemble + ?Sized>(net: &E, t: &Thresholds) -> Vec<LayerClasses> {
    net.named_layers()
        .into_iter()
        .map(|(name, layer)| {
            let (mut vip, mut uip, mut var) = (0, 0, 0);
            for i in 0..layer.pi.len() {
                match t.class_of(layer.pi[i], layer.m[i], layer.xi[i]) {
                    WeightClass::Vip => vip += 1,
                    WeightClass::Uip => uip += 1,
                    _ => var += 1,
                }
            }
            let total = layer.pi.len();
            let f = |c: usize| c as f64 / total.max(1) as f64;
            LayerClasses {
                layer: name,
                total,
                vip,
                uip,
                variable: var,
                vip_frac: f(vip),
                uip_frac: f(uip),
                variable_frac: f(var),
            }
        })
        .collect()
}
