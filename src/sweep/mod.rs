//! Sweeps and plans: many training runs described once, executed anywhere.
//!
//! - [`file`]: the sweep file (TOML): a preset with an optional base configuration, a grid of
//!   `--set`-style overrides, seeds, epochs, the data directory; [`Sweep::manifest`] expands
//!   it to grid points × seeds.
//! - [`manifest`]: the [`Manifest`] (`manifest.json` in the sweep folder): one [`Row`] per
//!   training run, each with its resolved configuration and its run directory. Reproductions
//!   write the same kind of manifest (a *plan*) for the runs they need.
//! - [`row`]: running one row (start it, resume it, or find it finished), its state file
//!   (`state/row-<i>.json`) and [`row::status`]; [`row::run_local`] runs every row here.
//! - [`collect`]: one table over the finished rows (per-seed final mean-field test accuracy
//!   and loss from each run's `metrics.csv`, mean, sample std, 95 % t-interval per point),
//!   written as CSV, JSON and an HTML page.
//! - [`slurm`]: the batch scripts of a Slurm job array over the rows and of the dependent job
//!   that runs after it (text only: submitting is the caller's).
//!
//! Reading the environment, spawning `sbatch` and drawing progress stay in the command line.

pub mod collect;
pub mod file;
pub mod manifest;
pub mod row;
pub mod slurm;

pub use file::{Seeds, Sweep};
pub use manifest::{Manifest, Point, Row, RowFamily};
