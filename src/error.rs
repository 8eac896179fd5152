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
    /// Training diverged: a non-finite loss, gradient or parameter. The run directory keeps
    /// the checkpoint of the last completed epoch, from which the run can be resumed with
    /// other settings.
    #[error(
        "invalid value in `training`: diverged in epoch {epoch} minibatch {minibatch}: {what}; \
         the last good checkpoint is kept at {}",
        checkpoint.display()
    )]
    Diverged {
        /// The epoch that diverged (1-based).
        epoch: usize,
        /// The minibatch of that epoch (0-based).
        minibatch: usize,
        /// What was not finite.
        what: String,
        /// The last good checkpoint.
        checkpoint: PathBuf,
    },
    /// Training was stopped by its stop flag (Ctrl-C, SIGTERM, a caller) at a minibatch
    /// boundary; the run directory holds the last completed epoch and resumes bit for bit.
    #[error(
        "training in {} was interrupted; it holds {epoch} completed epoch(s) and resumes with --resume",
        run_dir.display()
    )]
    Interrupted {
        /// The run directory.
        run_dir: PathBuf,
        /// Completed epochs kept in the run directory.
        epoch: usize,
    },
    /// Runs of different model families (recurrent and feed-forward) were given together.
    #[error(
        "{} and {} hold different network families (recurrent and feed-forward runs cannot be \
         analysed together)",
        first.display(),
        other.display()
    )]
    MixedFamilies {
        /// The first run directory.
        first: PathBuf,
        /// A run directory of the other family.
        other: PathBuf,
    },
    /// An argument of a library call is invalid (out of range, inconsistent with another).
    #[error("invalid argument `{name}`: {reason}")]
    InvalidArgument {
        /// The argument (as the command line and Python name it).
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A tensor's values are invalid (not finite, out of range, not a matrix).
    #[error("tensor `{name}`: {reason}")]
    InvalidTensor {
        /// The tensor (`rec.pi`, `x`, …).
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A numerical procedure failed (an eigendecomposition, non-finite intermediate values).
    #[error("numerical failure in {name}: {reason}")]
    Numerical {
        /// The computation.
        name: String,
        /// What failed.
        reason: String,
    },
    /// A file's content is malformed (a run's `metrics.csv`) or could not be serialized.
    #[error("{name}: {reason}")]
    FileFormat {
        /// The file.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// Training a network that an analysis needs (a BPTT baseline, a retraining variant)
    /// failed; `source` is the training's own error (e.g. [`SasError::Diverged`]).
    #[error("training {what}: {source}")]
    Training {
        /// The run being trained.
        what: String,
        /// Its error.
        source: Box<SasError>,
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
    /// Another process holds the run directory's lock (`<run>/.lock`): two writers never
    /// share a run directory.
    #[error(
        "{} is in use by process {pid} on host {host} (lock file {}/.lock); wait for it to end, \
         or remove the lock file if that process is gone",
        dir.display(),
        dir.display()
    )]
    Locked {
        /// The run directory.
        dir: PathBuf,
        /// The holder's process id.
        pid: u32,
        /// The holder's host name.
        host: String,
    },
    /// A run directory's files disagree with its checkpoint (metrics rows, history files,
    /// `config.toml`) in a way that cannot be repaired.
    #[error("{}: {reason}", path.display())]
    RunInconsistent {
        /// The file that disagrees.
        path: PathBuf,
        /// What disagrees (names the key or the epoch).
        reason: String,
    },
    /// A run directory or checkpoint belongs to the other model family (a feed-forward
    /// checkpoint where a recurrent run is expected, or the reverse).
    #[error("{} holds a {found} run, not a {expected} one", path.display())]
    WrongFamily {
        /// The file that tells (checkpoint or `config.toml`).
        path: PathBuf,
        /// The family found (`recurrent`, `feed-forward`).
        found: String,
        /// The family expected.
        expected: String,
    },
    /// A computation would need more memory than the machine has available.
    #[error(
        "{what} needs about {} ({needed} bytes), more than the {} available",
        crate::error::human_bytes(*needed),
        crate::error::human_bytes(*available)
    )]
    OutOfMemory {
        /// What would allocate it (names the setting).
        what: String,
        /// Bytes needed (lower bound).
        needed: u64,
        /// Bytes available (`MemAvailable`).
        available: u64,
    },
}

/// Result alias of the library.
pub type Result<T, E = SasError> = std::result::Result<T, E>;

/// `bytes` in binary units (`1.5 GiB`).
pub(crate) fn human_bytes(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}
