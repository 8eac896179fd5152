//! Error types of the library. Every failure names what is wrong and where.

use std::path::PathBuf;
use thiserror::Error;

/// Errors of the sasnet library.
#[derive(Debug, Error)]
pub enum SasError {
    /// A tensor has the wrong shape.
    #[error("tensor `{name}` has shape {got:?}, expected {expected:?}")]
    Shape {
        /// Tensor name.
        name: String,
        /// Shape found.
        got: Vec<usize>,
        /// Shape required.
        expected: Vec<usize>,
    },
    /// A required tensor is absent from a file.
    #[error("tensor `{name}` is missing from {path}")]
    MissingTensor {
        /// Tensor name.
        name: String,
        /// File that lacks it.
        path: PathBuf,
    },
    /// A tensor has an unsupported or inconsistent dtype.
    #[error("tensor `{name}` has dtype {got}, expected {expected}")]
    Dtype {
        /// Tensor name.
        name: String,
        /// Dtype found.
        got: String,
        /// Dtype required.
        expected: String,
    },
    /// A metadata entry is missing or invalid.
    #[error("metadata `{key}` in {path}: {reason}")]
    Metadata {
        /// Metadata key.
        key: String,
        /// File.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An analysis was given no run directories.
    #[error("analysis `{analysis}`: no runs given")]
    NoRuns {
        /// The analysis.
        analysis: String,
    },
    /// An analysis does not apply to the runs it was given.
    #[error("analysis `{analysis}` does not apply to this configuration ({reason})")]
    NotApplicable {
        /// The analysis.
        analysis: String,
        /// Why (task, preset or family).
        reason: String,
    },
    /// A name (analysis, evaluation mode, preset, VIP rule) is not one of the known ones.
    #[error("unknown {what} `{name}` (known: {known})")]
    UnknownName {
        /// What kind of name.
        what: &'static str,
        /// The name given.
        name: String,
        /// The known names, comma-separated.
        known: String,
    },
    /// A computation needs the MNIST files and no data directory was given.
    #[error("{what} needs the MNIST files: pass --data DIR or set SASNET_DATA")]
    DataDirRequired {
        /// What needs them.
        what: String,
    },
    /// A numerical value is invalid (NaN, out of range, ...).
    #[error("invalid value in `{name}`: {reason}")]
    InvalidValue {
        /// Where the value is.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A safetensors file could not be parsed.
    #[error("{path} is not a valid safetensors file: {reason}")]
    Safetensors {
        /// File.
        path: PathBuf,
        /// Parser message.
        reason: String,
    },
    /// An I/O operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was attempted ("reading", "writing", ...).
        action: &'static str,
        /// File.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// A configuration value is invalid.
    #[error("config `{key}`: {reason}")]
    Config {
        /// Dotted key.
        key: String,
        /// Why it is invalid.
        reason: String,
    },
    /// A user task file (safetensors or `.npy`) is malformed or inconsistent.
    #[error("{path}: tensor `{tensor}`: {reason}")]
    TaskFile {
        /// File (or `.npy` directory) concerned.
        path: PathBuf,
        /// Tensor concerned (`x`, `labels`, `target`, `mask`).
        tensor: String,
        /// What is wrong.
        reason: String,
    },
    /// A user task built from arrays in memory is inconsistent.
    #[error("task from arrays: {what}: {reason}")]
    TaskArrays {
        /// What is concerned: ``array `labels` ``, ``metadata `outputs` ``, ….
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// An IDX (MNIST) file is malformed: bad magic, inconsistent sizes, corrupt gzip, bad labels.
    #[error("{path}: not a valid IDX file: {reason}")]
    Idx {
        /// File.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A data set directory is missing, incomplete or inconsistent.
    #[error("data in {path}: {reason}")]
    Data {
        /// Directory (or file) concerned.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A data file could not be downloaded from any of the mirrors tried.
    #[error("could not download {name}: {}", failures.join("; "))]
    Download {
        /// File name that was requested.
        name: String,
        /// One entry per URL tried: `"URL: reason"`.
        failures: Vec<String>,
    },
    /// A figure could not be drawn or encoded.
    #[error("rendering {path}: {reason}")]
    Render {
        /// Output file (SVG or PNG) concerned.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// Result alias of the library.
pub type Result<T, E = SasError> = std::result::Result<T, E>;
