//! # sasnet — ensemble-level training and explanation of recurrent networks
//!
//! Every connection of a sasnet network is a spike-and-slab distribution
//! `P(w) = π δ(w) + (1-π) N(m, Ξ)`, trained by mean-field generalized back-propagation
//! through time (gBPTT). See `ARCHITECTURE.md` for the data path and module map; programs
//! call [`api`].
//!
//! # Example: train, open, evaluate, analyze
//! ```
//! use sasnet::api::{self, Analysis, AnalysisParams, EvalMode, EvalParams, Preset, Run, RunConfig};
//! let dir = std::env::temp_dir().join(format!("sasnet-doc-root-{}", std::process::id()));
//! let cfg = RunConfig::build(Preset::Msi, None, &["model.n=30".into()], Some(2), Some(2))?;
//! api::train(&cfg, &api::TaskSource::Builtin { data_dir: None }, &dir, &Default::default())?;
//! let run = Run::open(&dir)?;
//! let eval = EvalParams { trials_per_condition: Some(1), ..EvalParams::default() };
//! println!("accuracy {:.3}", run.evaluate(EvalMode::Mean, &eval)?.accuracy());
//! let entropy = api::analyze(Analysis::named("entropy")?, &[run], &dir.join("an"), &AnalysisParams::default())?;
//! println!("{}", entropy.title);
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok::<(), sasnet::SasError>(())
//! ```

#![warn(missing_docs)]
// Internal docs may point at crate-private helpers (they render with --document-private-items).
#![allow(rustdoc::private_intra_doc_links)]

pub mod analysis;
pub mod api;
pub mod bench;
pub mod config;
pub mod data;
pub mod engine;
pub mod error;
pub mod family;
pub mod ff;
pub mod fuzz;
pub mod grad;
pub mod infer;
pub mod io;
pub mod linalg;
pub mod net;
pub mod optim;
pub mod output;
pub mod pipeline;
pub mod real;
pub mod report;
pub mod rng;
pub mod run;
pub mod sas;
pub mod stats;
pub mod sweep;
pub mod task;
pub mod theory;
pub mod train;

pub use error::{Result, SasError};
pub use real::Real;
