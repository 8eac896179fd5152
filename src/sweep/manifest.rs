//! The manifest of a sweep or of a reproduction's plan: `manifest.json` in its folder, one
//! [`Row`] per training run (its resolved configuration and its run directory, relative to
//! the folder), written before any training so that every backend (here, a Slurm array task,
//! a printed script) runs exactly the same rows.

use crate::config::{Config, Settings};
use crate::error::{Result, SasError};
use crate::ff::FfConfig;
use std::path::{Path, PathBuf};

/// The format name in `manifest.json`.
pub const FORMAT: &str = "sasnet-manifest-1";
/// The manifest's file name inside the sweep (or reproduction) folder.
pub const FILE: &str = "manifest.json";

/// The family of a row's configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RowFamily {
    /// A recurrent run ([`Config`]).
    Recurrent,
    /// A feed-forward run ([`FfConfig`]).
    FeedForward,
}

/// A row's configuration, parsed.
// Built once per row, never in a loop.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum RowConfig {
    /// Recurrent.
    Recurrent(Config),
    /// Feed-forward.
    FeedForward(FfConfig),
}

impl RowConfig {
    /// Epochs the run trains to.
    pub fn epochs(&self) -> usize {
        match self {
            RowConfig::Recurrent(c) => c.train.epochs,
            RowConfig::FeedForward(c) => c.train.epochs,
        }
    }
}

impl RowFamily {
    /// Parses configuration text of this family (validated); `source` names it in errors.
    pub fn parse(self, text: &str, source: &str) -> Result<RowConfig> {
        Ok(match self {
            RowFamily::Recurrent => RowConfig::Recurrent(Config::from_toml(text, source)?),
            RowFamily::FeedForward => RowConfig::FeedForward(FfConfig::from_toml(text, source)?),
        })
    }

    /// The configuration text `text` with its seed replaced by `seed`.
    pub(crate) fn with_seed(self, text: &str, seed: u64) -> Result<String> {
        Ok(match self.parse(text, "configuration")? {
            RowConfig::Recurrent(c) => Config { seed, ..c }.to_toml(),
            RowConfig::FeedForward(c) => FfConfig { seed, ..c }.to_toml(),
        })
    }
}

/// One grid point of a sweep.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Point {
    /// Index (0-based).
    pub index: usize,
    /// Name, e.g. `p003-lr=0.003,n=100` (the folder of its seeds).
    pub name: String,
    /// Its overrides, `KEY=VALUE` (besides the sweep's fixed ones).
    pub sets: Vec<String>,
}

/// One training run.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Row {
    /// Index (0-based; the Slurm array task id).
    pub index: usize,
    /// The grid point it belongs to (sweeps), `None` for a plan's row.
    pub point: Option<usize>,
    /// Seed.
    pub seed: u64,
    /// Run directory, relative to the manifest's folder.
    pub dir: PathBuf,
    /// Family of `config`.
    pub family: RowFamily,
    /// The resolved configuration (TOML, as the run's `config.toml`).
    pub config: String,
}

impl Row {
    /// The row's configuration, parsed and validated.
    pub fn parsed(&self) -> Result<RowConfig> {
        self.family
            .parse(&self.config, &format!("manifest row {}", self.index))
    }
}

/// What a sweep or plan trains (see the module docs).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: String,
    /// What it is, e.g. `sweep of msi` or `reproduce msi`.
    pub title: String,
    /// The MNIST data directory the rows read (a row's runner may be given another).
    pub data_dir: Option<PathBuf>,
    /// Grid points (empty for a plan).
    pub points: Vec<Point>,
    /// The runs.
    pub rows: Vec<Row>,
}

impl Manifest {
    /// A manifest of these points and rows.
    pub fn new(title: String, data_dir: Option<PathBuf>, points: Vec<Point>, rows: Vec<Row>) -> Manifest {
        Manifest {
            format: FORMAT.into(),
            title,
            data_dir,
            points,
            rows,
        }
    }

    /// The run directory of `row` under the manifest's folder `root`.
    pub fn row_dir(root: &Path, row: &Row) -> PathBuf {
        root.join(&row.dir)
    }

    /// The row with index `index`, or an error naming the count.
    pub fn row(&self, index: usize) -> Result<&Row> {
        self.rows.get(index).ok_or_else(|| SasError::InvalidArgument {
            name: "row".into(),
            reason: format!(
                "{index} is out of range: the manifest has {} rows (0..={})",
                self.rows.len(),
                self.rows.len().saturating_sub(1)
            ),
        })
    }

    /// Writes `root/manifest.json` (creating `root`). If one exists with other rows, fails
    /// unless `replace` (a sweep folder holds one sweep; a reproduction's plan may change with
    /// its options, every run directory guarding its own configuration).
    pub fn write(&self, root: &Path, replace: bool) -> Result<PathBuf> {
        std::fs::create_dir_all(root).map_err(crate::run::io_err("creating", root))?;
        let path = root.join(FILE);
        if !replace && path.exists() {
            let old = Manifest::read(root)?;
            if old.rows != self.rows || old.points != self.points {
                return Err(SasError::Config {
                    key: "out".into(),
                    reason: format!(
                        "{} holds another sweep (its manifest.json lists other runs); choose another --out",
                        root.display()
                    ),
                });
            }
        }
        let text = serde_json::to_string_pretty(self).expect("a manifest serializes");
        crate::io::atomic::write_atomic(&path, text.as_bytes())?;
        Ok(path)
    }

    /// Reads `root/manifest.json`.
    pub fn read(root: &Path) -> Result<Manifest> {
        let path = root.join(FILE);
        let text = std::fs::read_to_string(&path).map_err(crate::run::io_err("reading", &path))?;
        let m: Manifest = serde_json::from_str(&text).map_err(|e| SasError::FileFormat {
            name: path.display().to_string(),
            reason: e.to_string(),
        })?;
        if m.format != FORMAT {
            return Err(SasError::FileFormat {
                name: path.display().to_string(),
                reason: format!("format `{}`, expected `{FORMAT}`", m.format),
            });
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_read_and_guarded() {
        let root = std::env::temp_dir().join(format!("sasnet-manifest-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let s = crate::sweep::Sweep::parse("preset = \"msi\"\nseeds = 2\n", "t", None).unwrap();
        let m = s.manifest(None).unwrap();
        m.write(&root, false).unwrap();
        assert_eq!(Manifest::read(&root).unwrap(), m);
        m.write(&root, false).unwrap(); // the same sweep again: fine
        let other = crate::sweep::Sweep::parse("preset = \"msi\"\nseeds = 3\n", "t", None)
            .unwrap()
            .manifest(None)
            .unwrap();
        assert!(
            other
                .write(&root, false)
                .unwrap_err()
                .to_string()
                .contains("another sweep")
        );
        other.write(&root, true).unwrap();
        assert!(m.row(1).is_ok() && m.row(2).unwrap_err().to_string().contains("2 rows"));
        std::fs::remove_dir_all(&root).ok();
    }
}
