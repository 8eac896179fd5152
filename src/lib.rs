//! # sasnet — ensemble-level training and explanation of recurrent networks
//!
//! Every connection of a sasnet network is a spike-and-slab distribution
//! `P(w) = π δ(w) + (1-π) N(m, Ξ)`, trained by mean-field generalized back-propagation
//! through time (gBPTT). See `ARCHITECTURE.md` for the data path and module map.

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
pub mod task;
pub mod theory;
pub mod train;

pub use error::{Result, SasError};
pub use real::Real;
