//! User tasks from files or from arrays in memory, so any task can be trained without
//! writing Rust (docs/MODEL.md §3).
//!
//! A task is a set of named tensors:
//!
//! | tensor | shape | dtype | meaning |
//! |---|---|---|---|
//! | `x` | `[T, B, I]` | f32 or f64 | complete input of every trial (baseline, noise included) |
//! | `labels` | `[B]` | i64, i32, u8, or f32/f64 holding integers | class per trial (cross-entropy on the last step) |
//! | `labels` | `[T, B]` | as above | class per step, with `mask` `[T, B]` (per-step masked cross-entropy) |
//! | `target` | `[T, B, K]` | f32 or f64 | per-step targets (masked MSE) |
//! | `mask` | `[T, B, K]` or `[T, B]` | f32 or f64 | per-step weights, ≥ 0 (0 = not scored), with `target` or per-step `labels` |
//! | `cond.<name>` | `[B]` | any numeric (read as f64) | optional per-trial condition (e.g. coherence), finite |
//!
//! Give `x` and either `labels` `[B]`, or `labels` `[T, B]` and `mask` `[T, B]`, or both
//! `target` and `mask` `[T, B, K]`. f64 values are rounded to f32. All values must be
//! finite. With labels the number of outputs is `K = max label + 1` (over every step, scored
//! or not), or the metadata entry `outputs` if that is larger (at least 2). A condition's
//! name is non-empty and made of `[A-Za-z0-9_]`; conditions are kept sorted by name.
//! The metadata entry `dt`, if present, is the time step in ms (a positive number,
//! [`UserTask::dt_ms`]).
//!
//! Three sources:
//! - **safetensors**: one file holding the tensors above; metadata from its `__metadata__`.
//!   [`UserTask::write_safetensors`] writes this layout (labels as i64, conditions as f64).
//! - **`.npy`**: a directory holding `x.npy` and `labels.npy` or `target.npy` + `mask.npy`
//!   (optionally `meta.json`, a JSON object such as `{"outputs": 10}`, and conditions
//!   `cond_<name>.npy`), or the path of a file `<prefix>x.npy` whose siblings are
//!   `<prefix>labels.npy`, `<prefix>target.npy`, `<prefix>mask.npy`, `<prefix>meta.json` and
//!   `<prefix>cond_<name>.npy` (e.g. `train_x.npy`, `train_labels.npy`).
//!   The reader accepts format versions 1–3, C order, little-endian `<f4`, `<f8`, `<i8`,
//!   `<i4` and `|u1`; it rejects Fortran order, big-endian data, object and structured arrays,
//!   and checks the header's size against the file before allocating anything.
//! - **arrays in memory**: [`UserTask::from_arrays`] with a [`UserTaskArrays`] (engine
//!   layout, time-major; a binding with batch-first arrays transposes them first). The file
//!   readers convert what they read to the same arrays and pass the same checks.
//!
//! Every error names the file (or, from memory, says so), the tensor and what is wrong.

use crate::error::{Result, SasError};
use crate::io::npy::{Elems, le};
use crate::io::tensors::TensorWriter;
use crate::task::{TargetData, TrialBatch};
use safetensors::tensor::{Dtype, SafeTensors};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Largest number of classes accepted for `labels` (guards against a stray huge label).
pub const MAX_CLASSES: usize = 1 << 16;

/// What a user task is scored against, in engine layout.
#[derive(Clone, Debug, PartialEq)]
pub enum ArrayTargets {
    /// Class per trial, `[B]`: cross-entropy on the last step.
    Labels(Vec<usize>),
    /// Class per step and trial with a mask, `[T, B]` each: per-step masked cross-entropy
    /// normalised by the mask sum (docs/MODEL.md §1.5).
    StepLabels {
        /// Classes `[T, B]`, each `< K` (scored or not).
        labels: Vec<usize>,
        /// Weights `[T, B]`, finite and `≥ 0` (0 = not scored), not all 0.
        mask: Vec<f32>,
    },
    /// Per-step targets and mask, `[T, B, K]` each: masked MSE.
    Series {
        /// Targets `[T, B, K]`, finite.
        y: Vec<f32>,
        /// Weights `[T, B, K]`, finite and `≥ 0`, not all 0.
        mask: Vec<f32>,
        /// Outputs `K` (≥ 1).
        outputs: usize,
    },
}

/// A user task as typed arrays in engine layout, before validation: the input of
/// [`UserTask::from_arrays`] (all sizes explicit, so every length is checked).
#[derive(Clone, Debug, PartialEq)]
pub struct UserTaskArrays {
    /// Time steps `T` (≥ 1).
    pub steps: usize,
    /// Trials `B` (≥ 1).
    pub trials: usize,
    /// Input channels `I` (≥ 1).
    pub inputs: usize,
    /// Complete input `[T, B, I]`, time-major, finite.
    pub x: Vec<f32>,
    /// Targets.
    pub targets: ArrayTargets,
    /// Named per-trial conditions, `[B]` each, finite; names non-empty, `[A-Za-z0-9_]`,
    /// distinct (any order; the task keeps them sorted by name).
    pub conditions: Vec<(String, Vec<f64>)>,
    /// String metadata: `outputs` (K for labels, if larger than `max label + 1`; must equal
    /// `K` for series targets), `dt` (time step in ms), anything else kept as is.
    pub metadata: HashMap<String, String>,
}

/// A user task: all trials in memory, in engine layout.
#[derive(Clone, Debug, PartialEq)]
pub struct UserTask {
    path: PathBuf,
    steps: usize,
    size: usize,
    inputs: usize,
    outputs: usize,
    /// `[T, B, I]`.
    x: Vec<f32>,
    targets: ArrayTargets,
    /// Sorted by name, `[B]` each.
    conditions: Vec<(String, Vec<f64>)>,
    metadata: HashMap<String, String>,
}

impl UserTask {
    /// Reads a task from `path`: a directory of `.npy` files, a `<prefix>x.npy` file, or
    /// otherwise a safetensors file (see the module docs for the layout).
    pub fn load(path: impl AsRef<Path>) -> Result<UserTask> {
        let path = path.as_ref();
        if path.is_dir() {
            return Self::load_npy(path, path.to_path_buf(), "");
        }
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.ends_with(".npy") {
            let Some(prefix) = name.strip_suffix("x.npy") else {
                return Err(task_err(
                    path,
                    "x",
                    "an .npy task is named by its input file (`x.npy` or `<prefix>x.npy`) or \
                     its directory"
                        .into(),
                ));
            };
            let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
            return Self::load_npy(path, dir, prefix);
        }
        let bytes = read(path)?;
        Self::from_safetensors_bytes(path, bytes)
    }

    /// A task from typed arrays in memory (engine layout), with every check of the file
    /// readers; errors are [`SasError::TaskArrays`] naming the array. [`UserTask::path`] is
    /// empty for such a task.
    pub fn from_arrays(arrays: UserTaskArrays) -> Result<UserTask> {
        build(arrays, &Source::Memory, PathBuf::new())
    }

    /// Reads a task from the bytes of a safetensors file (`path` is used in messages only).
    pub fn from_safetensors_bytes(path: &Path, bytes: Vec<u8>) -> Result<UserTask> {
        let st_err = |e: safetensors::SafeTensorError| SasError::Safetensors {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let (_, meta) = SafeTensors::read_metadata(&bytes).map_err(st_err)?;
        let metadata = meta.metadata().clone().unwrap_or_default();
        let st = SafeTensors::deserialize(&bytes).map_err(st_err)?;
        let mut names: Vec<String> = st.names().into_iter().map(String::from).collect();
        names.sort();
        let get = |name: &str| -> Result<Option<Raw>> {
            let Ok(v) = st.tensor(name) else {
                return Ok(None);
            };
            let data = match v.dtype() {
                Dtype::F32 => Elems::F32(le(v.data(), f32::from_le_bytes)),
                Dtype::F64 => Elems::F64(le(v.data(), f64::from_le_bytes)),
                Dtype::I64 => Elems::I64(le(v.data(), i64::from_le_bytes)),
                Dtype::I32 => Elems::I32(le(v.data(), i32::from_le_bytes)),
                Dtype::U8 => Elems::U8(v.data().to_vec()),
                // Conditions take any numeric dtype (read as f64).
                d if name.starts_with(COND_TENSOR)
                    && let Some(w) = numeric_f64(d, v.data()) =>
                {
                    Elems::F64(w)
                }
                d => {
                    return Err(task_err(
                        path,
                        name,
                        format!("dtype {d:?} is not supported (use F32, F64, I64, I32 or U8)"),
                    ));
                }
            };
            Ok(Some(Raw {
                file: path.to_path_buf(),
                name: name.into(),
                shape: v.shape().to_vec(),
                data,
            }))
        };
        let Some(x) = get("x")? else {
            return Err(SasError::MissingTensor {
                name: "x".into(),
                path: path.to_path_buf(),
            });
        };
        let mut conditions = Vec::new();
        for n in names.iter().filter(|n| n.starts_with(COND_TENSOR)) {
            if let Some(raw) = get(n)? {
                conditions.push((n[COND_TENSOR.len()..].to_string(), raw));
            }
        }
        let parts = Parts {
            x,
            labels: get("labels")?,
            target: get("target")?,
            mask: get("mask")?,
            conditions,
            metadata,
            present: names,
        };
        assemble(path, parts)
    }

    fn load_npy(path: &Path, dir: PathBuf, prefix: &str) -> Result<UserTask> {
        let file = |name: &str| dir.join(format!("{prefix}{name}"));
        let read_opt = |name: &str, tensor: &str| -> Result<Option<Raw>> {
            let f = file(&format!("{name}.npy"));
            match crate::io::npy::read_npy(&f) {
                Ok(npy) => {
                    let npy = npy.map_err(|reason| task_err(&f, tensor, reason))?;
                    Ok(Some(Raw {
                        file: f,
                        name: tensor.into(),
                        shape: npy.shape,
                        data: npy.data,
                    }))
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(source) => Err(SasError::Io {
                    action: "reading",
                    path: f,
                    source,
                }),
            }
        };
        let Some(x) = read_opt("x", "x")? else {
            return Err(task_err(
                path,
                "x",
                format!("no input file {}", file("x.npy").display()),
            ));
        };
        let labels = read_opt("labels", "labels")?;
        let target = read_opt("target", "target")?;
        let mask = read_opt("mask", "mask")?;
        // Conditions: `<prefix>cond_<name>.npy`, sorted by name.
        let lead = format!("{prefix}{COND_NPY}");
        let mut cond_names: Vec<String> = match std::fs::read_dir(&dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().to_str().map(String::from))
                .filter_map(|n| {
                    n.strip_prefix(&lead)
                        .and_then(|r| r.strip_suffix(".npy"))
                        .map(String::from)
                })
                .collect(),
            Err(source) => {
                return Err(SasError::Io {
                    action: "listing",
                    path: dir.clone(),
                    source,
                });
            }
        };
        cond_names.sort();
        let mut conditions = Vec::new();
        for n in cond_names {
            let tensor = format!("{COND_TENSOR}{n}");
            if let Some(raw) = read_opt(&format!("{COND_NPY}{n}"), &tensor)? {
                conditions.push((n, raw));
            }
        }
        let present = [
            ("x", true),
            ("labels", labels.is_some()),
            ("target", target.is_some()),
        ]
        .into_iter()
        .chain([("mask", mask.is_some())])
        .filter(|p| p.1)
        .map(|p| format!("{prefix}{}.npy", p.0))
        .collect();
        let meta_path = file("meta.json");
        let metadata = match std::fs::read(&meta_path) {
            Ok(bytes) => parse_meta_json(&meta_path, &bytes)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => HashMap::new(),
            Err(source) => {
                return Err(SasError::Io {
                    action: "reading",
                    path: meta_path,
                    source,
                });
            }
        };
        let parts = Parts {
            x,
            labels,
            target,
            mask,
            conditions,
            metadata,
            present,
        };
        assemble(path, parts)
    }

    /// Writes the task to one safetensors file at `path` (atomically), in the layout the
    /// module docs describe: `x` f32 `[T, B, I]`; `labels` i64 `[B]` or `[T, B]` with
    /// `mask` f32 `[T, B]`, or `target` and `mask` f32 `[T, B, K]`; `cond.<name>` f64 `[B]`;
    /// the metadata as is. [`UserTask::load`] reads it back to an equal task.
    pub fn write_safetensors(&self, path: impl AsRef<Path>) -> Result<()> {
        let (t, b) = (self.steps, self.size);
        let i64s = |v: &[usize]| -> Vec<u8> { v.iter().flat_map(|&a| (a as i64).to_le_bytes()).collect() };
        let mut w = TensorWriter::new();
        w.add("x", &[t, b, self.inputs], &self.x);
        match &self.targets {
            ArrayTargets::Labels(l) => {
                w.add_raw("labels", Dtype::I64, &[b], i64s(l));
            }
            ArrayTargets::StepLabels { labels, mask } => {
                w.add_raw("labels", Dtype::I64, &[t, b], i64s(labels));
                w.add("mask", &[t, b], mask);
            }
            ArrayTargets::Series { y, mask, outputs } => {
                w.add("target", &[t, b, *outputs], y);
                w.add("mask", &[t, b, *outputs], mask);
            }
        }
        for (name, v) in &self.conditions {
            w.add(&format!("{COND_TENSOR}{name}"), &[b], v);
        }
        for (k, v) in &self.metadata {
            w.meta(k, v.as_str());
        }
        w.write(path.as_ref())
    }

    /// The file or directory the task was read from (empty for a task from arrays).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Time steps `T`.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// Input channels `I`.
    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// Outputs `K` (classes for labels).
    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// Number of trials `B` in the file.
    pub fn len(&self) -> usize {
        self.size
    }

    /// Whether the task has no trials (never true for a loaded task).
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// Whether the task is scored by cross-entropy on labels, per trial or per step (else
    /// masked MSE on series).
    pub fn is_classification(&self) -> bool {
        !matches!(self.targets, ArrayTargets::Series { .. })
    }

    /// The labels `[B]`, for a task with one label per trial.
    pub fn labels(&self) -> Option<&[usize]> {
        match &self.targets {
            ArrayTargets::Labels(l) => Some(l),
            _ => None,
        }
    }

    /// The per-step labels and mask, `[T, B]` each, for a task with per-step labels.
    pub fn step_labels(&self) -> Option<(&[usize], &[f32])> {
        match &self.targets {
            ArrayTargets::StepLabels { labels, mask } => Some((labels, mask)),
            _ => None,
        }
    }

    /// The targets of every trial (engine layout).
    pub fn targets(&self) -> &ArrayTargets {
        &self.targets
    }

    /// The input of every trial, `[T, B, I]`.
    pub fn x(&self) -> &[f32] {
        &self.x
    }

    /// The per-trial conditions, sorted by name, `[B]` each.
    pub fn conditions(&self) -> &[(String, Vec<f64>)] {
        &self.conditions
    }

    /// The condition `name`, `[B]`, if the task has it.
    pub fn condition(&self, name: &str) -> Option<&[f64]> {
        self.conditions
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// The conditions of trials `idx` (the trials of [`UserTask::batch`]`(idx)`, in that
    /// order), sorted by name, `[idx.len()]` each; `None` if an index is `≥ len()`.
    pub fn conditions_of(&self, idx: &[usize]) -> Option<Vec<(String, Vec<f64>)>> {
        if idx.iter().any(|&i| i >= self.size) {
            return None;
        }
        Some(
            self.conditions
                .iter()
                .map(|(n, v)| (n.clone(), idx.iter().map(|&i| v[i]).collect()))
                .collect(),
        )
    }

    /// The time step in ms from the metadata entry `dt` (checked to be a positive finite
    /// number when the task was built), if given.
    pub fn dt_ms(&self) -> Option<f64> {
        self.metadata.get("dt").and_then(|s| s.trim().parse::<f64>().ok())
    }

    /// The file's metadata (safetensors `__metadata__` or the `.npy` task's `meta.json`).
    pub fn metadata(&self) -> &HashMap<String, String> {
        &self.metadata
    }

    /// The trials `idx` (indices into `0..len()`, repeats allowed) as a batch: `x`
    /// `[T, idx.len(), I]` and labels, per-step labels and mask `[T, idx.len()]`, or series
    /// targets and mask `[T, idx.len(), K]`.
    ///
    /// # Panics
    /// If an index is `≥ len()`.
    pub fn batch(&self, idx: &[usize]) -> TrialBatch {
        if let Some(&bad) = idx.iter().find(|&&i| i >= self.size) {
            panic!(
                "UserTask::batch: trial {bad} out of range (the task has {} trials)",
                self.size
            );
        }
        fn gather<V: Copy>(v: &[V], steps: usize, size: usize, idx: &[usize], width: usize) -> Vec<V> {
            let mut out = Vec::with_capacity(steps * idx.len() * width);
            for t in 0..steps {
                for &b in idx {
                    let o = (t * size + b) * width;
                    out.extend_from_slice(&v[o..o + width]);
                }
            }
            out
        }
        let (t, b) = (self.steps, self.size);
        let target = match &self.targets {
            ArrayTargets::Labels(l) => TargetData::Labels(idx.iter().map(|&b| l[b]).collect()),
            ArrayTargets::StepLabels { labels, mask } => TargetData::StepLabels {
                labels: gather(labels, t, b, idx, 1),
                mask: gather(mask, t, b, idx, 1),
            },
            ArrayTargets::Series { y, mask, .. } => TargetData::Series {
                y: gather(y, t, b, idx, self.outputs),
                mask: gather(mask, t, b, idx, self.outputs),
            },
        };
        TrialBatch {
            steps: self.steps,
            size: idx.len(),
            inputs: self.inputs,
            outputs: self.outputs,
            x: gather(&self.x, t, b, idx, self.inputs),
            target,
        }
    }
}

/// Tensor-name prefix of a condition in safetensors (`cond.<name>`).
const COND_TENSOR: &str = "cond.";
/// File-name prefix of a condition among `.npy` files (`<prefix>cond_<name>.npy`).
const COND_NPY: &str = "cond_";

/// Any numeric safetensors dtype as f64 (`None` for non-numeric or unsupported dtypes).
fn numeric_f64(d: Dtype, data: &[u8]) -> Option<Vec<f64>> {
    Some(match d {
        Dtype::F64 => le(data, f64::from_le_bytes),
        Dtype::F32 => le(data, f32::from_le_bytes).into_iter().map(f64::from).collect(),
        Dtype::I64 => le(data, i64::from_le_bytes)
            .into_iter()
            .map(|a| a as f64)
            .collect(),
        Dtype::I32 => le(data, i32::from_le_bytes).into_iter().map(f64::from).collect(),
        Dtype::I16 => le(data, i16::from_le_bytes).into_iter().map(f64::from).collect(),
        Dtype::I8 => data.iter().map(|&a| f64::from(a as i8)).collect(),
        Dtype::U64 => le(data, u64::from_le_bytes)
            .into_iter()
            .map(|a| a as f64)
            .collect(),
        Dtype::U32 => le(data, u32::from_le_bytes).into_iter().map(f64::from).collect(),
        Dtype::U16 => le(data, u16::from_le_bytes).into_iter().map(f64::from).collect(),
        Dtype::U8 => data.iter().map(|&a| f64::from(a)).collect(),
        Dtype::BOOL => data.iter().map(|&a| f64::from(a)).collect(),
        _ => return None,
    })
}

fn task_err(path: &Path, tensor: &str, reason: String) -> SasError {
    SasError::TaskFile {
        path: path.to_path_buf(),
        tensor: tensor.into(),
        reason,
    }
}

/// Where a task's arrays came from, for messages.
enum Source {
    /// Arrays in memory: [`SasError::TaskArrays`].
    Memory,
    /// Files: the task's path and the file of each array (by array name).
    Files {
        path: PathBuf,
        files: HashMap<String, PathBuf>,
    },
}

impl Source {
    /// An error about array `array`.
    fn err(&self, array: &str, reason: String) -> SasError {
        match self {
            Source::Memory => SasError::TaskArrays {
                what: format!("array `{array}`"),
                reason,
            },
            Source::Files { path, files } => task_err(files.get(array).unwrap_or(path), array, reason),
        }
    }

    /// An error about metadata entry `key`.
    fn meta_err(&self, key: &str, reason: String) -> SasError {
        match self {
            Source::Memory => SasError::TaskArrays {
                what: format!("metadata `{key}`"),
                reason,
            },
            Source::Files { path, .. } => SasError::Metadata {
                key: key.into(),
                path: path.clone(),
                reason,
            },
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| SasError::Io {
        action: "reading",
        path: path.to_path_buf(),
        source,
    })
}

/// One tensor as read, before validation.
struct Raw {
    file: PathBuf,
    name: String,
    shape: Vec<usize>,
    data: Elems,
}

impl Raw {
    fn err(&self, reason: String) -> SasError {
        task_err(&self.file, &self.name, reason)
    }

    /// Float values as finite f32 (f64 rounded).
    fn floats(self) -> Result<Vec<f32>> {
        let (v, wide) = match self.data {
            Elems::F32(v) => (v, None),
            Elems::F64(d) => (d.iter().map(|&a| a as f32).collect::<Vec<f32>>(), Some(d)),
            d => {
                return Err(task_err(
                    &self.file,
                    &self.name,
                    format!(
                        "dtype {} is not supported here; store floats (f32 or f64)",
                        d.dtype()
                    ),
                ));
            }
        };
        if let Some(i) = v.iter().position(|a| !a.is_finite()) {
            let what = match &wide {
                Some(d) if d[i].is_finite() => format!("{} (too large for f32)", d[i]),
                _ => v[i].to_string(),
            };
            return Err(task_err(
                &self.file,
                &self.name,
                format!(
                    "value at index {:?} is {what}; all values must be finite",
                    multi_index(&self.shape, i)
                ),
            ));
        }
        Ok(v)
    }

    /// Any numeric values as f64 (conditions; finiteness is checked by [`build`]).
    fn wide(self) -> Vec<f64> {
        match self.data {
            Elems::F32(v) => v.into_iter().map(f64::from).collect(),
            Elems::F64(v) => v,
            Elems::I64(v) => v.into_iter().map(|a| a as f64).collect(),
            Elems::I32(v) => v.into_iter().map(f64::from).collect(),
            Elems::U8(v) => v.into_iter().map(f64::from).collect(),
        }
    }

    /// Integer class labels.
    fn labels(&self) -> Result<Vec<usize>> {
        let bad = |i: usize, what: String| self.err(format!("label at index {i} is {what}"));
        let check_int = |i: usize, a: i64| -> Result<usize> {
            if a < 0 {
                return Err(bad(i, format!("{a}; labels must be ≥ 0")));
            }
            usize::try_from(a).map_err(|_| bad(i, format!("{a}; too large")))
        };
        let check_float = |i: usize, a: f64| -> Result<usize> {
            if !a.is_finite() || a.fract() != 0.0 {
                return Err(bad(i, format!("{a}; labels must be integers")));
            }
            if a < 0.0 {
                return Err(bad(i, format!("{a}; labels must be ≥ 0")));
            }
            if a >= MAX_CLASSES as f64 {
                return Err(bad(i, format!("{a}; labels must be < {MAX_CLASSES}")));
            }
            Ok(a as usize)
        };
        match &self.data {
            Elems::I64(v) => v.iter().enumerate().map(|(i, &a)| check_int(i, a)).collect(),
            Elems::I32(v) => v
                .iter()
                .enumerate()
                .map(|(i, &a)| check_int(i, a.into()))
                .collect(),
            Elems::U8(v) => Ok(v.iter().map(|&a| a.into()).collect()),
            Elems::F32(v) => v
                .iter()
                .enumerate()
                .map(|(i, &a)| check_float(i, a.into()))
                .collect(),
            Elems::F64(v) => v.iter().enumerate().map(|(i, &a)| check_float(i, a)).collect(),
        }
    }
}

/// The multi-index of flat element `i` of a row-major tensor of `shape`.
fn multi_index(shape: &[usize], mut i: usize) -> Vec<usize> {
    let mut ix = vec![0; shape.len()];
    for (k, &d) in shape.iter().enumerate().rev() {
        if d > 0 {
            ix[k] = i % d;
            i /= d;
        }
    }
    ix
}

/// The tensors of a task file, before validation.
struct Parts {
    x: Raw,
    labels: Option<Raw>,
    target: Option<Raw>,
    mask: Option<Raw>,
    /// `(name, tensor)` of each condition, sorted by name.
    conditions: Vec<(String, Raw)>,
    metadata: HashMap<String, String>,
    /// Names of the tensors (or files) present, for messages.
    present: Vec<String>,
}

/// Checks the tensors read from files as far as their shapes and dtypes go, converts them to
/// [`UserTaskArrays`] and builds the task with [`build`].
fn assemble(path: &Path, p: Parts) -> Result<UserTask> {
    let x = p.x;
    let &[steps, size, inputs] = x.shape.as_slice() else {
        return Err(x.err(format!(
            "shape {:?} is not 3-D; `x` must be [T, B, I] (time, trials, inputs)",
            x.shape
        )));
    };
    if steps == 0 || size == 0 || inputs == 0 {
        return Err(x.err(format!(
            "shape {:?} is empty; `x` must be [T, B, I] with T, B, I ≥ 1",
            x.shape
        )));
    }
    let mut files: HashMap<String, PathBuf> = HashMap::new();
    for r in [Some(&x), p.labels.as_ref(), p.target.as_ref(), p.mask.as_ref()]
        .into_iter()
        .flatten()
        .chain(p.conditions.iter().map(|c| &c.1))
    {
        files.insert(r.name.clone(), r.file.clone());
    }
    let targets = match (p.labels, p.target, p.mask) {
        (Some(l), None, None) => {
            if l.shape != [size] {
                return Err(l.err(format!(
                    "shape {:?} does not match x's B = {size}; `labels` must be [B] = [{size}] \
                     (or [T, B] = [{steps}, {size}] with a `mask` [T, B] for per-step labels)",
                    l.shape
                )));
            }
            ArrayTargets::Labels(l.labels()?)
        }
        (Some(l), None, Some(m)) => {
            if l.shape != [steps, size] {
                return Err(l.err(format!(
                    "shape {:?} does not match x's [T, B] = [{steps}, {size}]; with `mask` (and \
                     no `target`), `labels` are per-step labels and must be [T, B]",
                    l.shape
                )));
            }
            if m.shape != [steps, size] {
                return Err(m.err(format!(
                    "shape {:?}; with per-step `labels` [T, B], `mask` must be [T, B] = \
                     [{steps}, {size}]",
                    m.shape
                )));
            }
            ArrayTargets::StepLabels {
                labels: l.labels()?,
                mask: m.floats()?,
            }
        }
        (None, Some(t), Some(m)) => {
            let &[tt, tb, k] = t.shape.as_slice() else {
                return Err(t.err(format!(
                    "shape {:?} is not 3-D; `target` must be [T, B, K]",
                    t.shape
                )));
            };
            if (tt, tb) != (steps, size) {
                return Err(t.err(format!(
                    "shape {:?} does not match x's [T, B] = [{steps}, {size}]; `target` must be \
                     [{steps}, {size}, K]",
                    t.shape
                )));
            }
            if k == 0 {
                return Err(t.err(format!("shape {:?} has K = 0 outputs", t.shape)));
            }
            if m.shape != t.shape {
                return Err(m.err(format!(
                    "shape {:?} differs from target's {:?}; `mask` must match `target`",
                    m.shape, t.shape
                )));
            }
            ArrayTargets::Series {
                y: t.floats()?,
                mask: m.floats()?,
                outputs: k,
            }
        }
        (Some(_), Some(_), _) => {
            return Err(task_err(
                path,
                "labels",
                "the task has both `labels` and `target`/`mask`; give labels (cross-entropy) or \
                 target + mask (MSE), not both"
                    .into(),
            ));
        }
        (None, Some(_), None) => {
            return Err(task_err(
                path,
                "mask",
                "`target` is given without `mask` (use a mask of ones to score every step)".into(),
            ));
        }
        (None, None, Some(_)) => {
            return Err(task_err(
                path,
                "target",
                "`mask` is given without `target`".into(),
            ));
        }
        (None, None, None) => {
            return Err(task_err(
                path,
                "labels",
                format!(
                    "the task needs `labels`, or `target` and `mask`; found only {:?}",
                    p.present
                ),
            ));
        }
    };
    let mut conditions = Vec::with_capacity(p.conditions.len());
    for (name, c) in p.conditions {
        if c.shape != [size] {
            return Err(c.err(format!(
                "shape {:?} does not match x's B = {size}; a condition must be [B] = [{size}]",
                c.shape
            )));
        }
        conditions.push((name, c.wide()));
    }
    let arrays = UserTaskArrays {
        steps,
        trials: size,
        inputs,
        x: x.floats()?,
        targets,
        conditions,
        metadata: p.metadata,
    };
    let src = Source::Files {
        path: path.to_path_buf(),
        files,
    };
    build(arrays, &src, path.to_path_buf())
}

/// Validates typed arrays and builds the task (both the file readers and
/// [`UserTask::from_arrays`] end here).
fn build(a: UserTaskArrays, src: &Source, path: PathBuf) -> Result<UserTask> {
    let (steps, size, inputs) = (a.steps, a.trials, a.inputs);
    let dims = [steps, size, inputs];
    if steps == 0 || size == 0 || inputs == 0 {
        return Err(src.err(
            "x",
            format!("shape {dims:?} is empty; `x` must be [T, B, I] with T, B, I ≥ 1"),
        ));
    }
    let sized = |array: &str, got: usize, shape: &[usize]| -> Result<()> {
        let want: usize = shape.iter().product();
        if got != want {
            return Err(src.err(
                array,
                format!("holds {got} values; it must be {shape:?} = {want} values"),
            ));
        }
        Ok(())
    };
    let finite = |array: &str, v: &[f32], shape: &[usize]| -> Result<()> {
        match v.iter().position(|a| !a.is_finite()) {
            Some(i) => Err(src.err(
                array,
                format!(
                    "value at index {:?} is {}; all values must be finite",
                    multi_index(shape, i),
                    v[i]
                ),
            )),
            None => Ok(()),
        }
    };
    let mask_ok = |v: &[f32], shape: &[usize]| -> Result<()> {
        finite("mask", v, shape)?;
        if let Some(i) = v.iter().position(|&m| m < 0.0) {
            return Err(src.err(
                "mask",
                format!(
                    "value at index {:?} is {}; mask values must be ≥ 0",
                    multi_index(shape, i),
                    v[i]
                ),
            ));
        }
        if v.iter().all(|&m| m == 0.0) {
            return Err(src.err("mask", "mask is 0 everywhere, so nothing would be scored".into()));
        }
        Ok(())
    };
    sized("x", a.x.len(), &dims)?;
    let meta_outputs = match a.metadata.get("outputs") {
        None => None,
        Some(s) => Some(
            s.trim()
                .parse::<usize>()
                .map_err(|_| src.meta_err("outputs", format!("`{s}` is not a non-negative integer")))?,
        ),
    };
    if let Some(s) = a.metadata.get("dt")
        && !s.trim().parse::<f64>().is_ok_and(|v| v > 0.0 && v.is_finite())
    {
        return Err(src.meta_err(
            "dt",
            format!("`{s}` is not a positive number (the time step in ms)"),
        ));
    }
    // Classes of labels (per trial or per step): at least 2, within the metadata `outputs`.
    let classes = |labels: &[usize], at: &dyn Fn(usize) -> String| -> Result<usize> {
        if let Some((i, &c)) = labels.iter().enumerate().find(|(_, c)| **c >= MAX_CLASSES) {
            return Err(src.err(
                "labels",
                format!("label at {} is {c}; labels must be < {MAX_CLASSES}", at(i)),
            ));
        }
        let needed = labels.iter().max().map_or(0, |m| m + 1);
        let outputs = match meta_outputs {
            Some(k) if k < needed => {
                let i = labels.iter().position(|&c| c >= k).unwrap_or(0);
                return Err(match src {
                    Source::Memory => src.err(
                        "labels",
                        format!(
                            "value {} at {} is ≥ outputs {k} (metadata `outputs`)",
                            labels[i],
                            at(i)
                        ),
                    ),
                    Source::Files { .. } => src.meta_err(
                        "outputs",
                        format!("{k} outputs, but `labels` holds class {}", needed - 1),
                    ),
                });
            }
            Some(k) if k > MAX_CLASSES => {
                return Err(src.meta_err("outputs", format!("{k} outputs exceeds the limit {MAX_CLASSES}")));
            }
            Some(k) => k,
            None => needed,
        };
        if outputs < 2 {
            return Err(src.err(
                "labels",
                format!(
                    "every label is 0, so there is only {outputs} class; give at least two classes \
                     or set metadata `outputs`"
                ),
            ));
        }
        Ok(outputs)
    };
    let outputs = match &a.targets {
        ArrayTargets::Labels(l) => {
            if l.len() != size {
                return Err(src.err(
                    "labels",
                    format!(
                        "shape [{}] does not match x's B = {size}; `labels` must be [B] = [{size}]",
                        l.len()
                    ),
                ));
            }
            let memory = matches!(src, Source::Memory);
            classes(l, &|i| {
                if memory {
                    format!("trial {i}")
                } else {
                    format!("index {i}")
                }
            })?
        }
        ArrayTargets::StepLabels { labels, mask } => {
            sized("labels", labels.len(), &[steps, size])?;
            sized("mask", mask.len(), &[steps, size])?;
            mask_ok(mask, &[steps, size])?;
            classes(labels, &|i| format!("step {}, trial {}", i / size, i % size))?
        }
        ArrayTargets::Series { y, mask, outputs: k } => {
            let k = *k;
            if k == 0 {
                return Err(src.err(
                    "target",
                    format!("shape {:?} has K = 0 outputs", [steps, size, k]),
                ));
            }
            if let Some(mk) = meta_outputs.filter(|&mk| mk != k) {
                return Err(src.meta_err("outputs", format!("{mk} outputs, but `target` has K = {k}")));
            }
            let shape = [steps, size, k];
            sized("target", y.len(), &shape)?;
            sized("mask", mask.len(), &shape)?;
            finite("target", y, &shape)?;
            mask_ok(mask, &shape)?;
            k
        }
    };
    finite("x", &a.x, &dims)?;
    let mut conditions = a.conditions;
    for (name, v) in &conditions {
        let array = format!("{COND_TENSOR}{name}");
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(src.err(
                &array,
                format!("condition name `{name}` must be non-empty and made of A-Z, a-z, 0-9 and _"),
            ));
        }
        if v.len() != size {
            return Err(src.err(
                &array,
                format!("holds {} values; a condition must be [B] = [{size}]", v.len()),
            ));
        }
        if let Some(i) = v.iter().position(|c| !c.is_finite()) {
            return Err(src.err(
                &array,
                format!("value at trial {i} is {}; all values must be finite", v[i]),
            ));
        }
    }
    conditions.sort_by(|p, q| p.0.cmp(&q.0));
    if let Some(w) = conditions.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(src.err(
            &format!("{COND_TENSOR}{}", w[0].0),
            "the condition is given twice".into(),
        ));
    }
    Ok(UserTask {
        path,
        steps,
        size,
        inputs,
        outputs,
        x: a.x,
        targets: a.targets,
        conditions,
        metadata: a.metadata,
    })
}

/// Reads `meta.json`: a JSON object whose values are strings, numbers or booleans.
fn parse_meta_json(path: &Path, bytes: &[u8]) -> Result<HashMap<String, String>> {
    let err = |reason: String| SasError::Metadata {
        key: "meta.json".into(),
        path: path.to_path_buf(),
        reason,
    };
    let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| err(e.to_string()))?;
    let serde_json::Value::Object(obj) = v else {
        return Err(err("must be a JSON object such as {\"outputs\": 10}".into()));
    };
    obj.into_iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => Ok((k, s)),
            serde_json::Value::Number(n) => Ok((k, n.to_string())),
            serde_json::Value::Bool(b) => Ok((k, b.to_string())),
            other => Err(err(format!(
                "value of `{k}` is {other}; use a string, number or boolean"
            ))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::npy::parse_npy;
    use crate::io::tensors::TensorWriter;

    /// A `.npy` file (version `major`) with the given descr, shape and raw data bytes.
    #[test]
    fn an_npy_whose_header_disagrees_with_its_size_is_refused_before_reading() {
        let d = std::env::temp_dir().join(format!("sasnet-npy-len-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let f = d.join("x.npy");
        // The header promises 4 TB of floats; the file holds 16 bytes.
        std::fs::write(
            &f,
            npy_bytes(1, "<f4", false, &[1_000_000, 1_000_000], &[0u8; 16]),
        )
        .unwrap();
        let e = crate::io::npy::read_npy(&f).unwrap().unwrap_err();
        assert!(
            e.contains("header promises") && e.contains("16 data bytes"),
            "{e}"
        );
        // A consistent file reads.
        std::fs::write(&f, npy_bytes(1, "<f4", false, &[2, 2], &[0u8; 16])).unwrap();
        assert_eq!(crate::io::npy::read_npy(&f).unwrap().unwrap().shape, vec![2, 2]);
        std::fs::remove_dir_all(&d).unwrap();
    }

    fn npy_bytes(major: u8, descr: &str, fortran: bool, shape: &[usize], data: &[u8]) -> Vec<u8> {
        let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        let shape_s = match dims.len() {
            1 => format!("({},)", dims[0]),
            _ => format!("({})", dims.join(", ")),
        };
        let f = if fortran { "True" } else { "False" };
        let mut h = format!("{{'descr': '{descr}', 'fortran_order': {f}, 'shape': {shape_s}, }}");
        let pre = if major == 1 { 10 } else { 12 };
        while (pre + h.len() + 1) % 64 != 0 {
            h.push(' ');
        }
        h.push('\n');
        let mut b = b"\x93NUMPY".to_vec();
        b.extend([major, 0]);
        if major == 1 {
            b.extend((h.len() as u16).to_le_bytes());
        } else {
            b.extend((h.len() as u32).to_le_bytes());
        }
        b.extend(h.as_bytes());
        b.extend(data);
        b
    }

    fn f32_bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|a| a.to_le_bytes()).collect()
    }

    /// A scratch directory unique to this process and test.
    struct Scratch(PathBuf);
    impl Scratch {
        fn new(name: &str) -> Self {
            let d = std::env::temp_dir().join(format!("sasnet-user-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d).unwrap();
            Scratch(d)
        }
        fn write(&self, name: &str, bytes: &[u8]) {
            std::fs::write(self.0.join(name), bytes).unwrap();
        }
    }
    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// x [T=2, B=3, I=2] with x[t,b,i] = 100 t + 10 b + i.
    fn xs() -> Vec<f32> {
        let mut v = Vec::new();
        for t in 0..2 {
            for b in 0..3 {
                for i in 0..2 {
                    v.push((100 * t + 10 * b + i) as f32);
                }
            }
        }
        v
    }

    #[test]
    fn npy_parses_each_dtype_and_version() {
        let x = parse_npy(&npy_bytes(
            1,
            "<f4",
            false,
            &[2, 3],
            &f32_bytes(&[1., 2., 3., 4., 5., 6.]),
        ))
        .unwrap();
        assert_eq!(x.shape, [2, 3]);
        assert_eq!(x.data, Elems::F32(vec![1., 2., 3., 4., 5., 6.]));
        let d: Vec<u8> = [1.5f64, -2.0].iter().flat_map(|a| a.to_le_bytes()).collect();
        assert_eq!(
            parse_npy(&npy_bytes(2, "<f8", false, &[2], &d)).unwrap().data,
            Elems::F64(vec![1.5, -2.0])
        );
        let d: Vec<u8> = [7i64, -1].iter().flat_map(|a| a.to_le_bytes()).collect();
        assert_eq!(
            parse_npy(&npy_bytes(1, "<i8", false, &[2], &d)).unwrap().data,
            Elems::I64(vec![7, -1])
        );
        let d: Vec<u8> = [3i32, 4].iter().flat_map(|a| a.to_le_bytes()).collect();
        assert_eq!(
            parse_npy(&npy_bytes(3, "<i4", false, &[2], &d)).unwrap().data,
            Elems::I32(vec![3, 4])
        );
        let u = parse_npy(&npy_bytes(1, "|u1", false, &[1, 3], &[0, 9, 255])).unwrap();
        assert_eq!((u.shape, u.data), (vec![1, 3], Elems::U8(vec![0, 9, 255])));
        // Scalars and empty arrays.
        assert_eq!(
            parse_npy(&npy_bytes(1, "|u1", false, &[], &[5])).unwrap().data,
            Elems::U8(vec![5])
        );
        assert_eq!(
            parse_npy(&npy_bytes(1, "<f4", false, &[0, 4], &[]))
                .unwrap()
                .shape,
            [0, 4]
        );
        // What numpy itself writes (version 1.0, double quotes tolerated too).
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        let h = "{\"descr\": \"|u1\", \"fortran_order\": False, \"shape\": (2,)}\n";
        b.extend((h.len() as u16).to_le_bytes());
        b.extend(h.as_bytes());
        b.extend([1, 2]);
        assert_eq!(parse_npy(&b).unwrap().data, Elems::U8(vec![1, 2]));
    }

    #[test]
    fn npy_rejects_malformed_headers() {
        let ok = npy_bytes(1, "<f4", false, &[2], &f32_bytes(&[1.0, 2.0]));
        let check = |bytes: &[u8], needle: &str| {
            let e = parse_npy(bytes).unwrap_err();
            assert!(e.contains(needle), "{e:?} lacks {needle:?}");
        };
        check(b"", "not an .npy");
        check(b"PK\x03\x04 zip file.....", "not an .npy");
        check(&ok[..9], "not an .npy");
        let mut v = ok.clone();
        v[6] = 4;
        check(&v, "version 4.0");
        check(
            &npy_bytes(1, "<f4", true, &[2], &f32_bytes(&[1.0, 2.0])),
            "Fortran",
        );
        check(&npy_bytes(1, ">f4", false, &[2], &[0; 8]), "big-endian");
        check(&npy_bytes(1, "|O", false, &[2], &[0; 16]), "object");
        check(&npy_bytes(1, "<c8", false, &[2], &[0; 16]), "not supported");
        // A lying header: a huge shape over a few bytes is refused before any allocation.
        check(
            &npy_bytes(1, "<f4", false, &[1 << 40, 1 << 20], &[0; 8]),
            "header promises",
        );
        check(
            &npy_bytes(1, "<f8", false, &[usize::MAX, 3], &[0; 8]),
            "overflows",
        );
        check(&npy_bytes(1, "<f4", false, &[3], &[0; 8]), "holds 8 data bytes");
        check(&npy_bytes(1, "<f4", false, &[1], &[0; 8]), "holds 8 data bytes");
        // Header length past the end of the file.
        let mut v = ok.clone();
        v[8..10].copy_from_slice(&60000u16.to_le_bytes());
        check(&v, "runs past the end");
        let mut v = npy_bytes(2, "<f4", false, &[2], &f32_bytes(&[1.0, 2.0]));
        v[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        check(&v, "runs past the end");
        // Broken dictionaries.
        let raw = |h: &str| {
            let mut b = b"\x93NUMPY\x01\x00".to_vec();
            b.extend((h.len() as u16).to_le_bytes());
            b.extend(h.as_bytes());
            b
        };
        check(&raw("{'descr': '<f4', 'shape': (0,)}"), "must hold");
        check(
            &raw("{'descr': '<f4', 'fortran_order': False, 'shape': (0,), 'x': 1}"),
            "unsupported value",
        );
        check(
            &raw("{'descr': '<f4', 'fortran_order': False, 'shape': (0,), 'x': 'a'}"),
            "unknown key",
        );
        check(
            &raw("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (0,)}"),
            "duplicate",
        );
        check(
            &raw("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (0,)}"),
            "structured",
        );
        check(
            &raw("{'descr': '<f4', 'fortran_order': 0, 'shape': (0,)}"),
            "unsupported value",
        );
        check(
            &raw("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}"),
            "non-negative",
        );
        check(
            &raw("{'descr': '<f4', 'fortran_order': False, 'shape': (2L,)}"),
            "expected `,`",
        );
        check(
            &raw("{'descr': '<f4', 'fortran_order': False, 'shape': '2'}"),
            "wrong type",
        );
        check(
            &raw("{'descr': '<f4', 'fortran_order': False, 'shape': (0,)} junk"),
            "after the dictionary",
        );
        check(&raw("{'descr: '<f4'"), "expected");
        check(
            &raw("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,)}"),
            "too large",
        );
        check(&raw("\u{ff}"), "expected `{`");
    }

    #[test]
    fn npy_directory_round_trip_with_labels() {
        let s = Scratch::new("labels");
        s.write(
            "x.npy",
            &npy_bytes(1, "<f4", false, &[2, 3, 2], &f32_bytes(&xs())),
        );
        let l: Vec<u8> = [2i64, 0, 1].iter().flat_map(|a| a.to_le_bytes()).collect();
        s.write("labels.npy", &npy_bytes(1, "<i8", false, &[3], &l));
        let task = UserTask::load(&s.0).unwrap();
        assert_eq!(
            (task.steps(), task.len(), task.inputs(), task.outputs()),
            (2, 3, 2, 3)
        );
        assert!(task.is_classification() && !task.is_empty());
        let b = task.batch(&[2, 0]);
        assert_eq!((b.steps, b.size, b.inputs, b.outputs), (2, 2, 2, 3));
        assert_eq!(b.x, [20., 21., 0., 1., 120., 121., 100., 101.]);
        assert_eq!(b.target, TargetData::Labels(vec![1, 2]));
        // More outputs from meta.json.
        s.write("meta.json", br#"{"outputs": 10, "name": "toy"}"#);
        let task = UserTask::load(&s.0).unwrap();
        assert_eq!(task.outputs(), 10);
        assert_eq!(task.metadata()["name"], "toy");
        s.write("meta.json", br#"{"outputs": 2}"#);
        let e = UserTask::load(&s.0).unwrap_err().to_string();
        assert!(e.contains("outputs") && e.contains("class 2"), "{e}");
        s.write("meta.json", b"[1]");
        assert!(
            UserTask::load(&s.0)
                .unwrap_err()
                .to_string()
                .contains("JSON object")
        );
    }

    #[test]
    fn npy_prefix_pair_with_series() {
        let s = Scratch::new("series");
        s.write(
            "train_x.npy",
            &npy_bytes(2, "<f4", false, &[2, 3, 2], &f32_bytes(&xs())),
        );
        let y: Vec<f32> = (0..6).map(|v| v as f32 * 0.5).collect();
        let y64: Vec<u8> = y.iter().flat_map(|&a| f64::from(a).to_le_bytes()).collect();
        s.write("train_target.npy", &npy_bytes(1, "<f8", false, &[2, 3, 1], &y64));
        let m = [1f32, 1., 0., 0., 1., 1.];
        s.write(
            "train_mask.npy",
            &npy_bytes(1, "<f4", false, &[2, 3, 1], &f32_bytes(&m)),
        );
        let task = UserTask::load(s.0.join("train_x.npy")).unwrap();
        assert_eq!(task.outputs(), 1);
        assert!(!task.is_classification() && task.labels().is_none());
        let b = task.batch(&[1, 1]);
        assert_eq!(
            b.target,
            TargetData::Series {
                y: vec![0.5, 0.5, 2.0, 2.0],
                mask: vec![1.0, 1.0, 1.0, 1.0]
            }
        );
        let e = UserTask::load(s.0.join("train_target.npy"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("<prefix>x.npy"), "{e}");
        // A malformed file names itself and its tensor.
        s.write(
            "train_mask.npy",
            &npy_bytes(1, ">f4", false, &[2, 3, 1], &[0; 24]),
        );
        let e = UserTask::load(s.0.join("train_x.npy")).unwrap_err().to_string();
        assert!(
            e.contains("train_mask.npy") && e.contains("`mask`") && e.contains("big-endian"),
            "{e}"
        );
        std::fs::remove_file(s.0.join("train_mask.npy")).unwrap();
        let e = UserTask::load(s.0.join("train_x.npy")).unwrap_err().to_string();
        assert!(e.contains("without `mask`"), "{e}");
        let e = UserTask::load(s.0.join("nothing_x.npy")).unwrap_err().to_string();
        assert!(e.contains("no input file"), "{e}");
    }

    fn st(build: impl FnOnce(&mut TensorWriter)) -> Result<UserTask> {
        let mut w = TensorWriter::new();
        build(&mut w);
        UserTask::from_safetensors_bytes(Path::new("task.safetensors"), w.to_bytes().unwrap())
    }

    fn st_err(build: impl FnOnce(&mut TensorWriter), needles: &[&str]) {
        let e = st(build).unwrap_err().to_string();
        for n in needles {
            assert!(e.contains(n), "{e:?} lacks {n:?}");
        }
    }

    #[test]
    fn safetensors_round_trip() {
        let labels = |w: &mut TensorWriter, dtype: Dtype, bytes: Vec<u8>| {
            w.add("x", &[2, 3, 2], &xs());
            w.add_raw("labels", dtype, &[3], bytes);
        };
        for (dtype, bytes) in [
            (
                Dtype::I64,
                [1i64, 0, 4]
                    .iter()
                    .flat_map(|a| a.to_le_bytes())
                    .collect::<Vec<u8>>(),
            ),
            (
                Dtype::I32,
                [1i32, 0, 4].iter().flat_map(|a| a.to_le_bytes()).collect(),
            ),
            (Dtype::U8, vec![1, 0, 4]),
            (Dtype::F32, f32_bytes(&[1.0, 0.0, 4.0])),
        ] {
            let t = st(|w| labels(w, dtype, bytes)).unwrap();
            assert_eq!(t.labels(), Some(&[1usize, 0, 4][..]));
            assert_eq!(t.outputs(), 5);
            let b = t.batch(&[0, 1, 2]);
            assert_eq!(b.x, xs());
            assert_eq!(b.one_hot()[..5], [0., 1., 0., 0., 0.]);
        }
        let t = st(|w| {
            labels(w, Dtype::U8, vec![1, 0, 1]);
            w.meta("outputs", "4");
        })
        .unwrap();
        assert_eq!(t.outputs(), 4);
        // Series targets (f64 target is rounded to f32).
        let t = st(|w| {
            w.add("x", &[2, 3, 2], &xs());
            w.add("target", &[2, 3, 2], &[0.25f64; 12]);
            w.add("mask", &[2, 3, 2], &[1f32; 12]);
        })
        .unwrap();
        assert_eq!((t.outputs(), t.path()), (2, Path::new("task.safetensors")));
        let b = t.batch(&[]);
        assert_eq!((b.size, b.x.len()), (0, 0));
    }

    #[test]
    fn safetensors_errors_name_file_tensor_and_problem() {
        let x = |w: &mut TensorWriter| {
            w.add("x", &[2, 3, 2], &xs());
        };
        st_err(|_| {}, &["`x` is missing", "task.safetensors"]);
        st_err(
            |w| {
                w.add("x", &[6, 2], &xs())
                    .add_raw("labels", Dtype::U8, &[3], vec![0, 1, 0]);
            },
            &["`x`", "not 3-D"],
        );
        st_err(
            |w| {
                w.add("x", &[0, 3, 2], &[0f32; 0])
                    .add_raw("labels", Dtype::U8, &[3], vec![0, 1, 0]);
            },
            &["empty"],
        );
        st_err(
            |w| {
                let mut v = xs();
                v[7] = f32::NAN;
                w.add("x", &[2, 3, 2], &v)
                    .add_raw("labels", Dtype::U8, &[3], vec![0, 1, 0]);
            },
            &["task.safetensors", "`x`", "[1, 0, 1]", "NaN"],
        );
        st_err(
            |w| {
                w.add("x", &[2, 3, 2], &[1e300f64; 12])
                    .add_raw("labels", Dtype::U8, &[3], vec![0, 1, 0]);
            },
            &["too large for f32"],
        );
        st_err(
            |w| {
                w.add("x", &[2, 3, 2], &xs())
                    .add_raw("labels", Dtype::I16, &[3], vec![0; 6]);
            },
            &["`labels`", "I16"],
        );
        st_err(
            |w| {
                x(w);
                w.add_raw(
                    "labels",
                    Dtype::I64,
                    &[3],
                    [0i64, -3, 1].iter().flat_map(|a| a.to_le_bytes()).collect(),
                );
            },
            &["`labels`", "index 1", "-3", "≥ 0"],
        );
        st_err(
            |w| {
                x(w);
                w.add("labels", &[3], &[0f32, 1.5, 1.0]);
            },
            &["`labels`", "1.5", "integers"],
        );
        st_err(
            |w| {
                x(w);
                w.add("labels", &[3], &[0f32, f32::NAN, 1.0]);
            },
            &["`labels`", "NaN"],
        );
        st_err(
            |w| {
                x(w);
                w.add_raw("labels", Dtype::U8, &[4], vec![0, 1, 0, 1]);
            },
            &["`labels`", "[4]", "B = 3"],
        );
        st_err(
            |w| {
                x(w);
                w.add_raw("labels", Dtype::U8, &[3], vec![0; 3]);
            },
            &["only 1 class"],
        );
        st_err(
            |w| {
                x(w);
                w.add_raw(
                    "labels",
                    Dtype::I32,
                    &[3],
                    [0i32, 1 << 20, 1].iter().flat_map(|a| a.to_le_bytes()).collect(),
                );
            },
            &["labels must be <"],
        );
        st_err(
            |w| {
                x(w);
                w.add_raw("labels", Dtype::U8, &[3], vec![0, 1, 0])
                    .meta("outputs", "many");
            },
            &["metadata `outputs`", "many"],
        );
        st_err(
            |w| {
                x(w);
                w.add("target", &[2, 4, 1], &[0f32; 8])
                    .add("mask", &[2, 4, 1], &[1f32; 8]);
            },
            &["`target`", "[2, 4, 1]", "[2, 3]"],
        );
        st_err(
            |w| {
                x(w);
                w.add("target", &[2, 3, 1], &[0f32; 6])
                    .add("mask", &[2, 3, 2], &[1f32; 12]);
            },
            &["`mask`", "differs"],
        );
        st_err(
            |w| {
                x(w);
                w.add("target", &[2, 3, 1], &[0f32; 6])
                    .add("mask", &[2, 3, 1], &[1f32, 1., -1., 1., 1., 1.]);
            },
            &["`mask`", "≥ 0"],
        );
        st_err(
            |w| {
                x(w);
                w.add("target", &[2, 3, 1], &[0f32; 6])
                    .add("mask", &[2, 3, 1], &[0f32; 6]);
            },
            &["`mask`", "0 everywhere"],
        );
        st_err(
            |w| {
                x(w);
                w.add("target", &[2, 3, 1], &[0f32, 0., f32::INFINITY, 0., 0., 0.])
                    .add("mask", &[2, 3, 1], &[1f32; 6]);
            },
            &["`target`", "inf"],
        );
        st_err(
            |w| {
                x(w);
                w.add("target", &[2, 3, 1], &[0f32; 6])
                    .add("mask", &[2, 3, 1], &[1f32; 6])
                    .meta("outputs", "3");
            },
            &["K = 1"],
        );
        st_err(
            |w| {
                x(w);
                w.add("target", &[2, 3, 1], &[0f32; 6])
                    .add("mask", &[2, 3, 1], &[1f32; 6])
                    .add_raw("labels", Dtype::U8, &[3], vec![0, 1, 0]);
            },
            &["both"],
        );
        st_err(
            |w| {
                x(w);
                w.add("targets", &[2, 3, 1], &[0f32; 6]);
            },
            &["needs `labels`", "\"targets\""],
        );
        let e = UserTask::from_safetensors_bytes(Path::new("junk.bin"), vec![1, 2, 3]).unwrap_err();
        assert!(e.to_string().contains("junk.bin"), "{e}");
    }

    #[test]
    fn load_reads_a_safetensors_file() {
        let s = Scratch::new("st");
        let mut w = TensorWriter::new();
        w.add("x", &[2, 3, 2], &xs()).add("labels", &[3], &[1f64, 0., 1.]);
        w.write(&s.0.join("t.safetensors")).unwrap();
        let t = UserTask::load(s.0.join("t.safetensors")).unwrap();
        assert_eq!((t.len(), t.outputs()), (3, 2));
        let e = UserTask::load(s.0.join("missing.safetensors"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.safetensors"), "{e}");
    }

    /// A per-step-label task from arrays: T = 2, B = 3, I = 2, K = 3 (labels up to 2).
    fn step_arrays() -> UserTaskArrays {
        UserTaskArrays {
            steps: 2,
            trials: 3,
            inputs: 2,
            x: xs(),
            targets: ArrayTargets::StepLabels {
                labels: vec![0, 0, 0, 1, 2, 0],
                mask: vec![0., 0., 0., 1., 1., 0.5],
            },
            conditions: vec![
                ("coh".into(), vec![0.1, -0.2, 0.4]),
                ("block_2".into(), vec![1.0, 2.0, 3.0]),
            ],
            metadata: HashMap::from([("dt".to_string(), "20".to_string())]),
        }
    }

    fn arr_err(edit: impl FnOnce(&mut UserTaskArrays), needles: &[&str]) {
        let mut a = step_arrays();
        edit(&mut a);
        let e = UserTask::from_arrays(a).unwrap_err();
        assert!(matches!(e, SasError::TaskArrays { .. }), "{e:?}");
        let e = e.to_string();
        for n in needles {
            assert!(e.contains(n), "{e:?} lacks {n:?}");
        }
    }

    #[test]
    fn from_arrays_builds_step_labels_and_conditions() {
        let t = UserTask::from_arrays(step_arrays()).unwrap();
        assert_eq!((t.steps(), t.len(), t.inputs(), t.outputs()), (2, 3, 2, 3));
        assert_eq!(t.path(), Path::new(""));
        assert!(t.is_classification() && t.labels().is_none());
        assert_eq!(t.step_labels().unwrap().0, [0, 0, 0, 1, 2, 0]);
        assert_eq!(t.dt_ms(), Some(20.0));
        // Conditions sorted by name.
        let names: Vec<&str> = t.conditions().iter().map(|c| c.0.as_str()).collect();
        assert_eq!(names, ["block_2", "coh"]);
        assert_eq!(t.condition("coh"), Some(&[0.1, -0.2, 0.4][..]));
        assert_eq!(t.condition("nope"), None);
        assert_eq!(
            t.conditions_of(&[2, 0]).unwrap(),
            vec![
                ("block_2".to_string(), vec![3.0, 1.0]),
                ("coh".to_string(), vec![0.4, 0.1])
            ]
        );
        assert_eq!(t.conditions_of(&[3]), None);
        let b = t.batch(&[2, 0]);
        assert_eq!(b.x, [20., 21., 0., 1., 120., 121., 100., 101.]);
        assert_eq!(
            b.target,
            TargetData::StepLabels {
                labels: vec![0, 0, 0, 1],
                mask: vec![0., 0., 0.5, 1.]
            }
        );
        // Metadata `outputs` raises K; no `dt` gives None.
        let mut a = step_arrays();
        a.metadata = HashMap::from([("outputs".to_string(), "5".to_string())]);
        let t = UserTask::from_arrays(a).unwrap();
        assert_eq!((t.outputs(), t.dt_ms()), (5, None));
        // Labels per trial and series targets.
        let mut a = step_arrays();
        a.targets = ArrayTargets::Labels(vec![1, 0, 1]);
        assert_eq!(
            UserTask::from_arrays(a).unwrap().labels(),
            Some(&[1usize, 0, 1][..])
        );
        let mut a = step_arrays();
        a.targets = ArrayTargets::Series {
            y: vec![0.5; 12],
            mask: vec![1.0; 12],
            outputs: 2,
        };
        let t = UserTask::from_arrays(a).unwrap();
        assert!(!t.is_classification() && t.outputs() == 2);
    }

    #[test]
    fn from_arrays_errors_name_the_array() {
        arr_err(|a| a.x[5] = f32::NAN, &["array `x`", "[0, 2, 1]", "NaN"]);
        arr_err(
            |a| {
                a.x.pop();
            },
            &["array `x`", "11 values", "[2, 3, 2]"],
        );
        arr_err(|a| a.trials = 0, &["array `x`", "empty"]);
        arr_err(
            |a| {
                a.targets = ArrayTargets::Labels(vec![1, 0, 12]);
                a.metadata.insert("outputs".into(), "3".into());
            },
            &["array `labels`", "value 12 at trial 2", "≥ outputs 3"],
        );
        arr_err(
            |a| {
                a.targets = ArrayTargets::StepLabels {
                    labels: vec![0, 0, 0, 1, 4, 0],
                    mask: vec![1.0; 6],
                };
                a.metadata.insert("outputs".into(), "3".into());
            },
            &["array `labels`", "value 4 at step 1, trial 1", "≥ outputs 3"],
        );
        arr_err(
            |a| a.targets = ArrayTargets::Labels(vec![1, 0]),
            &["array `labels`", "[2]", "B = 3"],
        );
        arr_err(
            |a| a.targets = ArrayTargets::Labels(vec![0, 0, 0]),
            &["array `labels`", "only 1 class"],
        );
        arr_err(
            |a| a.targets = ArrayTargets::Labels(vec![0, 1, MAX_CLASSES]),
            &["array `labels`", "trial 2", "labels must be <"],
        );
        let steps = |labels: Vec<usize>, mask: Vec<f32>| ArrayTargets::StepLabels { labels, mask };
        arr_err(
            |a| a.targets = steps(vec![0, 1, 0, 1, 0], vec![1.0; 6]),
            &["array `labels`", "5 values", "[2, 3]"],
        );
        arr_err(
            |a| a.targets = steps(vec![0, 1, 0, 1, 0, 1], vec![1., 1., 1., -0.5, 1., 1.]),
            &["array `mask`", "[1, 0]", "≥ 0"],
        );
        arr_err(
            |a| a.targets = steps(vec![0, 1, 0, 1, 0, 1], vec![1., f32::INFINITY, 1., 1., 1., 1.]),
            &["array `mask`", "[0, 1]", "inf"],
        );
        arr_err(
            |a| a.targets = steps(vec![0, 1, 0, 1, 0, 1], vec![0.0; 6]),
            &["array `mask`", "0 everywhere"],
        );
        arr_err(
            |a| {
                a.targets = ArrayTargets::Series {
                    y: vec![0.0; 12],
                    mask: vec![1.0; 12],
                    outputs: 0,
                }
            },
            &["array `target`", "K = 0"],
        );
        arr_err(
            |a| {
                a.targets = ArrayTargets::Series {
                    y: vec![f32::NAN; 12],
                    mask: vec![1.0; 12],
                    outputs: 2,
                }
            },
            &["array `target`", "NaN"],
        );
        arr_err(
            |a| {
                a.targets = ArrayTargets::Series {
                    y: vec![0.0; 12],
                    mask: vec![1.0; 10],
                    outputs: 2,
                }
            },
            &["array `mask`", "10 values"],
        );
        arr_err(
            |a| a.conditions[0].1.push(1.0),
            &["array `cond.coh`", "4 values", "[B] = [3]"],
        );
        arr_err(
            |a| a.conditions[1].1[1] = f64::NAN,
            &["array `cond.block_2`", "trial 1", "NaN"],
        );
        arr_err(
            |a| a.conditions[0].0 = "co-h".into(),
            &["`co-h`", "A-Z, a-z, 0-9 and _"],
        );
        arr_err(|a| a.conditions[0].0 = String::new(), &["non-empty"]);
        arr_err(
            |a| a.conditions[1].0 = "coh".into(),
            &["array `cond.coh`", "twice"],
        );
        arr_err(
            |a| {
                a.metadata.insert("dt".into(), "-1".into());
            },
            &["metadata `dt`", "positive"],
        );
        arr_err(
            |a| {
                a.metadata.insert("outputs".into(), "x".into());
            },
            &["metadata `outputs`", "not a non-negative integer"],
        );
    }

    #[test]
    fn write_safetensors_round_trip() {
        let s = Scratch::new("write");
        let mut cases = vec![step_arrays()];
        let mut a = step_arrays();
        a.targets = ArrayTargets::Labels(vec![3, 0, 1]);
        a.conditions.clear();
        cases.push(a);
        let mut a = step_arrays();
        a.targets = ArrayTargets::Series {
            y: (0..12).map(|v| v as f32 * 0.25).collect(),
            mask: vec![1.0; 12],
            outputs: 2,
        };
        cases.push(a);
        for (i, a) in cases.into_iter().enumerate() {
            let t = UserTask::from_arrays(a).unwrap();
            let f = s.0.join(format!("t{i}.safetensors"));
            t.write_safetensors(&f).unwrap();
            let back = UserTask::load(&f).unwrap();
            assert_eq!(back.path(), f);
            // Equal in everything but the path.
            let mut same = back.clone();
            same.path = PathBuf::new();
            assert_eq!(same, t, "case {i}");
        }
    }

    #[test]
    fn files_with_step_labels_and_conditions() {
        // safetensors: per-step labels [T, B] + mask [T, B], conditions of other dtypes.
        let t = st(|w| {
            w.add("x", &[2, 3, 2], &xs())
                .add_raw("labels", Dtype::U8, &[2, 3], vec![0, 0, 0, 1, 2, 0])
                .add("mask", &[2, 3], &[0f64, 0., 0., 1., 1., 1.])
                .add_raw(
                    "cond.coh",
                    Dtype::I16,
                    &[3],
                    [-3i16, 0, 5].iter().flat_map(|a| a.to_le_bytes()).collect(),
                )
                .add("cond.a", &[3], &[0.5f32, 1.5, 2.5])
                .meta("dt", "10");
        })
        .unwrap();
        assert_eq!(t.outputs(), 3);
        assert_eq!(t.step_labels().unwrap().1, [0., 0., 0., 1., 1., 1.]);
        assert_eq!(t.condition("coh"), Some(&[-3.0, 0.0, 5.0][..]));
        assert_eq!(t.conditions()[0].0, "a");
        assert_eq!(t.dt_ms(), Some(10.0));
        let step = |w: &mut TensorWriter| {
            w.add("x", &[2, 3, 2], &xs())
                .add_raw("labels", Dtype::U8, &[2, 3], vec![0, 0, 0, 1, 2, 0]);
        };
        st_err(step, &["`labels`", "[2, 3]", "with a `mask`"]);
        st_err(
            |w| {
                step(w);
                w.add("mask", &[2, 3, 1], &[1f32; 6]);
            },
            &["task.safetensors", "`mask`", "[2, 3, 1]", "must be [T, B]"],
        );
        st_err(
            |w| {
                w.add("x", &[2, 3, 2], &xs())
                    .add_raw("labels", Dtype::U8, &[3], vec![0, 1, 0])
                    .add("mask", &[3], &[1f32; 3]);
            },
            &["`labels`", "per-step labels and must be [T, B]"],
        );
        st_err(
            |w| {
                step(w);
                w.add("mask", &[2, 3], &[1f32; 6]).meta("outputs", "2");
            },
            &["metadata `outputs`", "class 2"],
        );
        st_err(
            |w| {
                step(w);
                w.add("mask", &[2, 3], &[1f32; 6]).add("cond.c", &[2], &[1f32; 2]);
            },
            &["task.safetensors", "`cond.c`", "[2]", "B = 3"],
        );
        st_err(
            |w| {
                step(w);
                w.add("mask", &[2, 3], &[1f32; 6])
                    .add_raw("cond.c", Dtype::F16, &[3], vec![0; 6]);
            },
            &["`cond.c`", "F16"],
        );
        st_err(
            |w| {
                step(w);
                w.add("mask", &[2, 3], &[1f32; 6])
                    .add("cond.c-d", &[3], &[1f32; 3]);
            },
            &["`cond.c-d`", "A-Z"],
        );
        st_err(
            |w| {
                step(w);
                w.add("mask", &[2, 3], &[1f32; 6]).meta("dt", "fast");
            },
            &["metadata `dt`", "fast"],
        );
        // .npy: conditions beside a prefixed task, and in a directory task.
        let s = Scratch::new("cond");
        s.write(
            "tr_x.npy",
            &npy_bytes(1, "<f4", false, &[2, 3, 2], &f32_bytes(&xs())),
        );
        let l: Vec<u8> = [0i64, 0, 0, 1, 2, 0]
            .iter()
            .flat_map(|a| a.to_le_bytes())
            .collect();
        s.write("tr_labels.npy", &npy_bytes(1, "<i8", false, &[2, 3], &l));
        s.write(
            "tr_mask.npy",
            &npy_bytes(1, "<f4", false, &[2, 3], &f32_bytes(&[1.0; 6])),
        );
        let c: Vec<u8> = [7i32, 8, 9].iter().flat_map(|a| a.to_le_bytes()).collect();
        s.write("tr_cond_block.npy", &npy_bytes(1, "<i4", false, &[3], &c));
        s.write("cond_other.npy", &npy_bytes(1, "<i4", false, &[3], &c));
        let t = UserTask::load(s.0.join("tr_x.npy")).unwrap();
        assert_eq!(t.conditions().len(), 1);
        assert_eq!(t.condition("block"), Some(&[7.0, 8.0, 9.0][..]));
        s.write("tr_cond_bad.npy", &npy_bytes(1, "<i4", false, &[2], &c[..8]));
        let e = UserTask::load(s.0.join("tr_x.npy")).unwrap_err().to_string();
        assert!(
            e.contains("tr_cond_bad.npy") && e.contains("`cond.bad`") && e.contains("B = 3"),
            "{e}"
        );
        let d = Scratch::new("cond-dir");
        d.write(
            "x.npy",
            &npy_bytes(1, "<f4", false, &[2, 3, 2], &f32_bytes(&xs())),
        );
        d.write("labels.npy", &npy_bytes(1, "|u1", false, &[3], &[0, 1, 1]));
        d.write(
            "cond_coh.npy",
            &npy_bytes(1, "<f4", false, &[3], &f32_bytes(&[0.1, 0.2, 0.3])),
        );
        let t = UserTask::load(&d.0).unwrap();
        assert_eq!(t.condition("coh").map(|c| c.len()), Some(3));
        assert_eq!(t.labels(), Some(&[0usize, 1, 1][..]));
    }

    #[test]
    #[should_panic(expected = "out of range")]
    fn batch_index_out_of_range_panics() {
        let t = st(|w| {
            w.add("x", &[2, 3, 2], &xs())
                .add_raw("labels", Dtype::U8, &[3], vec![0, 1, 0]);
        })
        .unwrap();
        t.batch(&[3]);
    }
}
