//! The sweep file: TOML naming a preset, an optional base configuration (a file and/or an
//! inline `[base]` table), fixed `set` overrides, a `[grid]` of overrides whose values are
//! lists, the seeds, and optionally the epochs and the data directory.
//!
//! ```toml
//! preset = "msi"
//! config = "base.toml"            # optional, relative to the sweep file
//! set = ["eval.every=0"]          # optional, as --set
//! seeds = 3                       # a count (from `seed`, default the preset's) or a list
//! epochs = 20                     # optional
//! data = "/data/mnist"            # optional (MNIST presets), relative to the sweep file
//! [base]                          # optional inline overlay, any subset of the settings
//! task.msi.test_dt_ms = 5.0
//! [grid]                          # every combination (keys in alphabetical order,
//! "optim.rec.m.lr" = [1e-3, 3e-3] #  the last key varying fastest)
//! "model.n" = [50, 100]
//! ```
//!
//! [`Sweep::manifest`] builds and validates every configuration (errors name the grid point
//! and the key) and names each run `p<index>-<short key>=<value>,…/seed-<s>`.

use super::manifest::{Manifest, Point, Row, RowFamily};
use crate::config::{Config, Preset, Settings};
use crate::error::{Result, SasError};
use crate::ff::FfConfig;
use std::path::{Path, PathBuf};

/// The seeds of every grid point.
#[derive(Clone, Debug, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(untagged)]
pub enum Seeds {
    /// `count` seeds from the first seed (`seed` in the file, else the configuration's).
    Count(usize),
    /// These seeds.
    List(Vec<u64>),
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSweep {
    preset: String,
    config: Option<PathBuf>,
    base: Option<toml::Table>,
    #[serde(default)]
    set: Vec<String>,
    #[serde(default)]
    grid: toml::Table,
    seeds: Option<Seeds>,
    seed: Option<u64>,
    epochs: Option<usize>,
    data: Option<PathBuf>,
}

/// A parsed sweep file (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct Sweep {
    /// The preset every run starts from.
    pub preset: Preset,
    /// The base overlay: the TOML text of the `config` file, if any, and where it came from.
    pub overlay: Option<(String, String)>,
    /// Fixed overrides (`KEY=VALUE`), the inline `[base]` table's keys first.
    pub sets: Vec<String>,
    /// The grid: `(dotted key, values)` in key order.
    pub grid: Vec<(String, Vec<toml::Value>)>,
    /// The seeds.
    pub seeds: Seeds,
    /// The first seed of a seed count (`None`: the configuration's).
    pub first_seed: Option<u64>,
    /// Epochs of every run (`None`: the configuration's).
    pub epochs: Option<usize>,
    /// The MNIST data directory (resolved against the sweep file's folder).
    pub data_dir: Option<PathBuf>,
}

fn bad(key: &str, source: &str, reason: impl Into<String>) -> SasError {
    SasError::Config {
        key: format!("{source}: {key}"),
        reason: reason.into(),
    }
}

/// `[base]` flattened to dotted `KEY=VALUE` overrides.
fn flatten(t: &toml::Table, prefix: &str, out: &mut Vec<String>) {
    for (k, v) in t {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(sub) => flatten(sub, &key, out),
            v => out.push(format!("{key}={v}")),
        }
    }
}

impl Sweep {
    /// Reads and parses the sweep file `path` (a `config` file it names is read too, relative
    /// to `path`'s folder, as is a relative `data` directory).
    pub fn from_file(path: &Path) -> Result<Sweep> {
        let text = std::fs::read_to_string(path).map_err(crate::run::io_err("reading", path))?;
        let dir = path.parent().unwrap_or(Path::new(""));
        Sweep::parse(&text, &path.display().to_string(), Some(dir))
    }

    /// Parses sweep-file text; `source` names it in errors; relative `config` and `data`
    /// paths are resolved against `base_dir` (`None`: the working directory).
    pub fn parse(text: &str, source: &str, base_dir: Option<&Path>) -> Result<Sweep> {
        let raw: RawSweep = toml::from_str(text).map_err(|e| SasError::Config {
            key: source.into(),
            reason: e.to_string(),
        })?;
        let resolve = |p: PathBuf| match base_dir {
            Some(d) if p.is_relative() => d.join(p),
            _ => p,
        };
        let preset: Preset = raw.preset.parse()?;
        let overlay = match raw.config {
            Some(p) => {
                let p = resolve(p);
                let t = std::fs::read_to_string(&p).map_err(crate::run::io_err("reading", &p))?;
                Some((t, p.display().to_string()))
            }
            None => None,
        };
        let mut sets = Vec::new();
        if let Some(b) = &raw.base {
            flatten(b, "", &mut sets);
        }
        sets.extend(raw.set);
        let mut grid = Vec::new();
        for (k, v) in raw.grid {
            let toml::Value::Array(values) = v else {
                return Err(bad(&format!("grid.\"{k}\""), source, "expected a list of values"));
            };
            if values.is_empty() {
                return Err(bad(
                    &format!("grid.\"{k}\""),
                    source,
                    "the list of values is empty",
                ));
            }
            grid.push((k, values));
        }
        let seeds = raw.seeds.unwrap_or(Seeds::Count(1));
        match &seeds {
            Seeds::Count(0) => return Err(bad("seeds", source, "at least 1 seed is needed")),
            Seeds::List(l) if l.is_empty() => return Err(bad("seeds", source, "the list of seeds is empty")),
            Seeds::List(l) => {
                let mut s = l.clone();
                s.sort_unstable();
                s.dedup();
                if s.len() != l.len() {
                    return Err(bad("seeds", source, "a seed is listed twice"));
                }
                if raw.seed.is_some() {
                    return Err(bad(
                        "seed",
                        source,
                        "give either a seed list or a first seed with a count",
                    ));
                }
            }
            Seeds::Count(_) => {}
        }
        if raw.epochs == Some(0) {
            return Err(bad("epochs", source, "must be at least 1"));
        }
        Ok(Sweep {
            preset,
            overlay,
            sets,
            grid,
            seeds,
            first_seed: raw.seed,
            epochs: raw.epochs,
            data_dir: raw.data.map(resolve),
        })
    }

    /// The grid points: every combination of the grid's values (the last key varying
    /// fastest), each as `(key, value)` pairs; one empty point without a grid.
    pub fn points(&self) -> Vec<Vec<(String, toml::Value)>> {
        let mut points: Vec<Vec<(String, toml::Value)>> = vec![Vec::new()];
        for (k, values) in &self.grid {
            points = points
                .into_iter()
                .flat_map(|p| {
                    values.iter().map(move |v| {
                        let mut q = p.clone();
                        q.push((k.clone(), v.clone()));
                        q
                    })
                })
                .collect();
        }
        points
    }

    /// The short name of each grid key: its last dotted component, or the whole key where
    /// two keys share the last component.
    fn short_keys(&self) -> Vec<String> {
        let last = |k: &str| k.rsplit('.').next().unwrap_or(k).to_string();
        self.grid
            .iter()
            .map(|(k, _)| {
                let l = last(k);
                if self.grid.iter().filter(|(o, _)| last(o) == l).count() > 1 {
                    k.clone()
                } else {
                    l
                }
            })
            .collect()
    }

    /// Expands the sweep into its manifest: every grid point × seed, one run directory each
    /// (`<point name>/seed-<s>`), every configuration built and validated (errors name the
    /// point). `data_dir` replaces the file's data directory when given.
    pub fn manifest(&self, data_dir: Option<PathBuf>) -> Result<Manifest> {
        let shorts = self.short_keys();
        let width = self.points().len().saturating_sub(1).to_string().len().max(3);
        let mut points = Vec::new();
        let mut rows = Vec::new();
        for (pi, p) in self.points().into_iter().enumerate() {
            let label: Vec<String> = p
                .iter()
                .zip(&shorts)
                .map(|((_, v), s)| format!("{s}={}", value_text(v)))
                .collect();
            let name = point_name(pi, width, &label.join(","));
            let sets: Vec<String> = p.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let mut all = self.sets.clone();
            all.extend(sets.iter().cloned());
            let overlay = self.overlay.as_ref().map(|(t, s)| (t.as_str(), s.as_str()));
            let context = |e: SasError| SasError::Config {
                key: format!("grid point {name}"),
                reason: e.to_string(),
            };
            let (family, first, base_toml) = match self.preset.family() {
                crate::family::Kind::Recurrent => {
                    let c = Config::build_from(self.preset, overlay, &all, self.first_seed, self.epochs)
                        .map_err(context)?;
                    (RowFamily::Recurrent, c.seed, c.to_toml())
                }
                crate::family::Kind::FeedForward => {
                    let c = FfConfig::build_from(self.preset, overlay, &all, self.first_seed, self.epochs)
                        .map_err(context)?;
                    (RowFamily::FeedForward, c.seed, c.to_toml())
                }
            };
            let seeds: Vec<u64> = match &self.seeds {
                Seeds::Count(k) => (0..*k as u64).map(|i| first + i).collect(),
                Seeds::List(l) => l.clone(),
            };
            for &seed in &seeds {
                let config = family.with_seed(&base_toml, seed)?;
                rows.push(Row {
                    index: rows.len(),
                    point: Some(pi),
                    seed,
                    dir: PathBuf::from(&name).join(format!("seed-{seed}")),
                    family,
                    config,
                });
            }
            points.push(Point {
                index: pi,
                name,
                sets,
            });
        }
        Ok(Manifest::new(
            format!("sweep of {}", self.preset.name()),
            data_dir.or_else(|| self.data_dir.clone()),
            points,
            rows,
        ))
    }
}

/// A grid value as it appears in a run name: numbers and booleans as TOML writes them,
/// strings without quotes.
fn value_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

/// `p<index>-<label>` with every character outside `[A-Za-z0-9._+=,-]` replaced by `_`; just
/// `p<index>` for an empty or too long label (over 80 characters).
fn point_name(index: usize, width: usize, label: &str) -> String {
    let safe: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._+=,-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe.is_empty() || safe.len() > 80 {
        format!("p{index:0width$}")
    } else {
        format!("p{index:0width$}-{safe}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"
preset = "msi"
seeds = 2
epochs = 3
set = ["eval.every=0"]
[base]
task.msi.test_dt_ms = 5.0
[grid]
"optim.rec.m.lr" = [1e-3, 3e-3]
"model.n" = [20, 30, 40]
"#;

    #[test]
    fn grid_expands_to_points_times_seeds_with_readable_names() {
        let s = Sweep::parse(TEXT, "t.toml", None).unwrap();
        assert_eq!(s.sets, vec!["task.msi.test_dt_ms=5.0", "eval.every=0"]);
        let m = s.manifest(None).unwrap();
        assert_eq!((m.points.len(), m.rows.len()), (6, 12));
        // Keys in alphabetical order, the last varying fastest.
        assert_eq!(m.points[0].name, "p000-n=20,lr=0.001");
        assert_eq!(m.points[1].name, "p001-n=20,lr=0.003");
        assert_eq!(m.rows[3].dir, PathBuf::from("p001-n=20,lr=0.003/seed-2"));
        let c = Config::from_toml(&m.rows[3].config, "row").unwrap();
        assert_eq!(
            (c.model.n, c.optim.rec.m.lr, c.seed, c.train.epochs),
            (20, 3e-3, 2, 3)
        );
        assert_eq!((c.eval.every, c.task.msi.test_dt_ms), (0, 5.0));
        assert_eq!(m.rows[3].point, Some(1));
    }

    #[test]
    fn seed_lists_first_seeds_and_errors() {
        let s = Sweep::parse("preset = \"msi\"\nseeds = [4, 9]\n", "t", None).unwrap();
        let m = s.manifest(None).unwrap();
        assert_eq!(m.rows.iter().map(|r| r.seed).collect::<Vec<_>>(), vec![4, 9]);
        assert_eq!(m.points[0].name, "p000");
        let s = Sweep::parse("preset = \"msi\"\nseeds = 2\nseed = 7\n", "t", None).unwrap();
        let m = s.manifest(None).unwrap();
        assert_eq!(m.rows.iter().map(|r| r.seed).collect::<Vec<_>>(), vec![7, 8]);
        for (text, needle) in [
            ("preset = \"nope\"", "nope"),
            ("preset = \"msi\"\nbogus = 1", "bogus"),
            ("preset = \"msi\"\nseeds = 0", "seeds"),
            ("preset = \"msi\"\nseeds = [1, 1]", "twice"),
            ("preset = \"msi\"\n[grid]\n\"model.n\" = 5", "list"),
            ("preset = \"msi\"\n[grid]\n\"model.n\" = []", "empty"),
        ] {
            let e = Sweep::parse(text, "t", None).unwrap_err().to_string();
            assert!(e.contains(needle), "{text}: {e}");
        }
        let e = Sweep::parse("preset = \"msi\"\n[grid]\n\"model.bogus\" = [1]", "t", None)
            .unwrap()
            .manifest(None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("p000-bogus=1") && e.contains("model.bogus"), "{e}");
    }

    #[test]
    fn names_are_filesystem_safe() {
        assert_eq!(point_name(3, 3, "mode=a/b c"), "p003-mode=a_b_c");
        assert_eq!(point_name(12, 3, &"x".repeat(81)), "p012");
        let s = Sweep::parse(
            "preset = \"msi\"\n[grid]\n\"optim.rec.m.lr\" = [1e-3]\n\"optim.out.m.lr\" = [2e-3]\n",
            "t",
            None,
        )
        .unwrap();
        assert_eq!(
            s.manifest(None).unwrap().points[0].name,
            "p000-optim.out.m.lr=0.002,optim.rec.m.lr=0.001"
        );
    }
}
