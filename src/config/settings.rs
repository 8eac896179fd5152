//! What every configuration type shares, written once: the [`Settings`] trait (TOML overlay,
//! dotted `KEY=VALUE` overrides, building from a preset, reading and writing TOML) and the
//! TOML machinery behind it.

use crate::error::{Result, SasError};
use serde::Serialize;

/// What every configuration type (recurrent [`super::Config`], feed-forward `ff::FfConfig`) can do,
/// written once: overlay TOML text, set one dotted key, write and read the whole as TOML.
pub trait Settings: Serialize + serde::de::DeserializeOwned + Sized {
    /// Checks every value; the error names the key and why it is invalid.
    fn check(&self) -> Result<()>;

    /// Overlays the keys present in `toml_text` (any subset of the configuration) on `self`;
    /// unknown keys and wrongly typed values are errors naming the dotted key; `source` names
    /// the text.
    fn merge_toml(&mut self, toml_text: &str, source: &str) -> Result<()> {
        merge_toml_into(self, toml_text, source)
    }

    /// Sets one dotted key from a command-line `KEY=VALUE` (the value is parsed as TOML, and
    /// as a string if that fails), e.g. `train.epochs=20`.
    fn set(&mut self, assignment: &str) -> Result<()> {
        set_key(self, assignment)
    }

    /// The configuration as TOML text.
    fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a configuration always serializes")
    }

    /// The configuration of `preset` (an error for a preset of the other family).
    fn named(preset: super::Preset) -> Result<Self>;

    /// Replaces the seed and the number of epochs, where given.
    fn set_seed_epochs(&mut self, seed: Option<u64>, epochs: Option<usize>);

    /// `preset` with, in order of precedence, the TOML file `overlay`, the `KEY=VALUE`
    /// overrides `sets`, and the seed and epoch count given on the command line; validated.
    fn build(
        preset: super::Preset,
        overlay: Option<&std::path::Path>,
        sets: &[String],
        seed: Option<u64>,
        epochs: Option<usize>,
    ) -> Result<Self> {
        let text = match overlay {
            Some(path) => Some(std::fs::read_to_string(path).map_err(|source| SasError::Io {
                action: "reading",
                path: path.to_path_buf(),
                source,
            })?),
            None => None,
        };
        let source = overlay.map(|p| p.display().to_string()).unwrap_or_default();
        Self::build_from(
            preset,
            text.as_deref().map(|t| (t, source.as_str())),
            sets,
            seed,
            epochs,
        )
    }

    /// `preset` with, in order of precedence, the TOML text `overlay` (`(text, source)`,
    /// `source` naming it in errors), the `KEY=VALUE` overrides `sets`, and `seed` and
    /// `epochs`; validated.
    fn build_from(
        preset: super::Preset,
        overlay: Option<(&str, &str)>,
        sets: &[String],
        seed: Option<u64>,
        epochs: Option<usize>,
    ) -> Result<Self> {
        let mut c = Self::named(preset)?;
        if let Some((text, source)) = overlay {
            c.merge_toml(text, source)?;
        }
        for a in sets {
            c.set(a)?;
        }
        c.set_seed_epochs(seed, epochs);
        c.check()?;
        Ok(c)
    }

    /// Parses and validates a complete configuration (as written to a run directory).
    fn from_toml(text: &str, source: &str) -> Result<Self> {
        let c: Self = parse_toml(text, source)?;
        c.check()?;
        Ok(c)
    }
}

/// Parses a whole configuration of type `C` from TOML text; `source` names it in errors.
pub(crate) fn parse_toml<C: serde::de::DeserializeOwned>(text: &str, source: &str) -> Result<C> {
    toml::from_str(text).map_err(|e| SasError::Config {
        key: source.into(),
        reason: e.to_string(),
    })
}

/// The error of an invalid setting `key`: `reason` says why.
pub fn bad(key: &str, reason: String) -> Result<()> {
    Err(SasError::Config {
        key: key.into(),
        reason,
    })
}

/// Checks a run's `seed`: TOML integers are signed 64-bit, so a larger seed could not be read
/// back from `config.toml`.
pub fn check_seed(seed: u64) -> Result<()> {
    if seed > i64::MAX as u64 {
        return bad(
            "seed",
            format!(
                "{seed} is larger than {} (the largest seed config.toml can hold)",
                i64::MAX
            ),
        );
    }
    Ok(())
}

/// Overlays the keys present in `toml_text` on any serde configuration `cfg`; unknown keys
/// and wrongly typed values are errors naming the dotted key; `source` names the text.
pub(crate) fn merge_toml_into<C: Serialize + serde::de::DeserializeOwned>(
    cfg: &mut C,
    toml_text: &str,
    source: &str,
) -> Result<()> {
    let cfg_err = |e: &dyn std::fmt::Display| SasError::Config {
        key: source.into(),
        reason: e.to_string(),
    };
    let overlay: toml::Table = toml_text.parse().map_err(|e| cfg_err(&e))?;
    let mut base = toml::Table::try_from(&*cfg).map_err(|e| cfg_err(&e))?;
    merge_tables(&mut base, overlay, "")?;
    *cfg = toml::Value::Table(base)
        .try_into()
        .map_err(|e: toml::de::Error| cfg_err(&e))?;
    Ok(())
}

/// Sets one dotted key of any serde configuration from `KEY=VALUE` (the value parsed as
/// TOML, as a string if that fails).
pub(crate) fn set_key<C: Serialize + serde::de::DeserializeOwned>(
    cfg: &mut C,
    assignment: &str,
) -> Result<()> {
    let (key, value) = assignment.split_once('=').ok_or_else(|| SasError::Config {
        key: assignment.into(),
        reason: "expected KEY=VALUE".into(),
    })?;
    let (key, value) = (key.trim(), value.trim());
    let parsed: toml::Value = format!("v = {value}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.into()));
    let mut table = toml::Table::new();
    let parts: Vec<&str> = key.split('.').collect();
    let mut cur = &mut table;
    for p in &parts[..parts.len() - 1] {
        cur = cur
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .expect("fresh table");
    }
    cur.insert(parts[parts.len() - 1].into(), parsed);
    let text = toml::to_string(&table).map_err(|e| SasError::Config {
        key: key.into(),
        reason: e.to_string(),
    })?;
    merge_toml_into(cfg, &text, &format!("--set {key}"))
}

fn merge_tables(base: &mut toml::Table, overlay: toml::Table, prefix: &str) -> Result<()> {
    for (k, v) in overlay {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge_tables(b, o, &key)?,
            (Some(toml::Value::Table(_)), _) => {
                return Err(SasError::Config {
                    key,
                    reason: "is a section; give its keys".into(),
                });
            }
            (Some(slot), v) => {
                if std::mem::discriminant(slot) != std::mem::discriminant(&v)
                    && !matches!((&*slot, &v), (toml::Value::Float(_), toml::Value::Integer(_)))
                {
                    return Err(SasError::Config {
                        key,
                        reason: format!("expected a {}, got `{v}`", slot.type_str()),
                    });
                }
                *slot = match (&*slot, v) {
                    (toml::Value::Float(_), toml::Value::Integer(i)) => toml::Value::Float(i as f64),
                    (_, v) => v,
                };
            }
            (None, _) => {
                return Err(SasError::Config {
                    key,
                    reason: "unknown key".into(),
                });
            }
        }
    }
    Ok(())
}
