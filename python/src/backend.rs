//! The calls of the Python package, on today's library entry points
//! (`sasnet::pipeline::commands` and the run-directory files).
//!
//! Interim: this module is to be replaced by calls into `sasnet::api` when that lands (see
//! python/README.md, "Status"). What it cannot do yet: `forward`, `report`, a stop flag for
//! training (Ctrl-C waits for the run to finish), per-step labels.

use crate::{Msg, blocking, guarded};
use numpy::PyArray1;
use pyo3::exceptions::PyNotImplementedError;
use pyo3::prelude::*;
use sasnet::analysis::AnalysisOptions;
use sasnet::error::{Result, SasError};
use sasnet::pipeline::commands;
use sasnet::run::files;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

/// Registers the functions and classes of this module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(presets, m)?)?;
    m.add_function(wrap_pyfunction!(analyses, m)?)?;
    m.add_function(wrap_pyfunction!(train, m)?)?;
    m.add_function(wrap_pyfunction!(analyze, m)?)?;
    m.add_function(wrap_pyfunction!(report, m)?)?;
    m.add_function(wrap_pyfunction!(toml_to_json, m)?)?;
    m.add_class::<RunHandle>()?;
    Ok(())
}

/// `(name, what it is)` of every preset.
#[pyfunction]
fn presets() -> Vec<(String, String)> {
    let rec = sasnet::config::PRESETS
        .iter()
        .map(|p| (p.to_string(), "recurrent network".to_string()));
    let ff = sasnet::ff::config::PRESETS
        .iter()
        .map(|p| (p.to_string(), "feed-forward network".to_string()));
    rec.chain(ff).collect()
}

/// `(name, what it answers)` of every analysis.
#[pyfunction]
fn analyses() -> Vec<(String, String)> {
    sasnet::analysis::registry::ANALYSES
        .iter()
        .map(|a| (a.name.to_string(), a.about.to_string()))
        .collect()
}

/// Trains one run of `preset` into `out`; returns the run directory.
#[pyfunction]
#[pyo3(signature = (preset, out, config_path=None, sets=Vec::new(), seed=None, epochs=None, resume=false, progress=true))]
#[allow(clippy::too_many_arguments)]
fn train(
    py: Python<'_>,
    preset: String,
    out: PathBuf,
    config_path: Option<PathBuf>,
    sets: Vec<String>,
    seed: Option<u64>,
    epochs: Option<usize>,
    resume: bool,
    progress: bool,
) -> PyResult<String> {
    let req = commands::TrainRequest {
        preset,
        config: config_path,
        sets,
        data: None,
        out: Some(out.clone()),
        seed,
        epochs,
        seeds: 1,
        resume,
        progress,
    };
    blocking(py, None, move |_tx: mpsc::Sender<Msg<()>>| commands::train(&req).map(|_| ()))?;
    Ok(out.display().to_string())
}

/// Runs analysis `name` on `runs` into `out`; returns JSON: a list of
/// `{name, title, dir, summary, figures, files}`.
#[pyfunction]
#[pyo3(signature = (name, runs, out=None, seed=0, quick=false))]
fn analyze(
    py: Python<'_>,
    name: String,
    runs: Vec<PathBuf>,
    out: Option<PathBuf>,
    seed: u64,
    quick: bool,
) -> PyResult<String> {
    blocking(py, None, move |_tx: mpsc::Sender<Msg<String>>| {
        let opts = AnalysisOptions {
            seed,
            quick,
            ..AnalysisOptions::default()
        };
        let outs = commands::analyze(&name, &runs, out.as_deref(), &opts)?;
        let v: Vec<serde_json::Value> = outs
            .into_iter()
            .map(|(dir, o)| {
                serde_json::json!({
                    "name": o.name,
                    "title": o.title,
                    "dir": dir.display().to_string(),
                    "summary": o.summary,
                    "figures": o.figures,
                    "files": o.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
                })
            })
            .collect();
        Ok(serde_json::Value::Array(v).to_string())
    })
}

/// Not available before `sasnet::api`.
#[pyfunction]
#[pyo3(signature = (runs, out=None))]
fn report(runs: Vec<PathBuf>, out: Option<PathBuf>) -> PyResult<String> {
    let _ = (runs, out);
    Err(PyNotImplementedError::new_err(
        "sasnet.report needs the library API (sasnet::api), not yet bound",
    ))
}

/// TOML text → JSON text (so that Python needs no TOML parser).
#[pyfunction]
fn toml_to_json(py: Python<'_>, text: &str) -> PyResult<String> {
    guarded(py, || {
        let v: toml::Value = toml::from_str(text).map_err(|e| SasError::Config {
            key: "<toml>".into(),
            reason: e.to_string(),
        })?;
        serde_json::to_string(&v).map_err(|e| SasError::Config {
            key: "<toml>".into(),
            reason: e.to_string(),
        })
    })
}

/// A trained run directory.
#[pyclass(module = "sasnet._sasnet", frozen)]
pub struct RunHandle {
    dir: PathBuf,
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| SasError::Io {
        action: "reading",
        path: path.to_path_buf(),
        source,
    })
}

#[pymethods]
impl RunHandle {
    /// Opens the run in `path` (it must hold a checkpoint).
    #[new]
    fn new(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        guarded(py, || {
            let ck = path.join(files::CHECKPOINT);
            if !ck.is_file() {
                return Err(SasError::Metadata {
                    key: "checkpoint".into(),
                    path: path.clone(),
                    reason: format!("no {} here: not a run directory", files::CHECKPOINT),
                });
            }
            Ok(RunHandle { dir: path })
        })
    }

    /// The run directory.
    #[getter]
    fn path(&self) -> String {
        self.dir.display().to_string()
    }

    /// Completed epochs (from the checkpoint).
    #[getter]
    fn epoch(&self, py: Python<'_>) -> PyResult<usize> {
        guarded(py, || {
            let path = self.dir.join(files::CHECKPOINT);
            let f = sasnet::io::tensors::TensorFile::open(&path)?;
            let e = f.metadata().get("epoch").cloned().unwrap_or_default();
            e.parse().map_err(|_| SasError::Metadata {
                key: "epoch".into(),
                path,
                reason: format!("`{e}` is not a number of epochs"),
            })
        })
    }

    /// The resolved configuration as TOML.
    #[getter]
    fn config_toml(&self, py: Python<'_>) -> PyResult<String> {
        guarded(py, || read_text(&self.dir.join(files::CONFIG)))
    }

    /// `[(column, float64 array)]` of `metrics.csv`.
    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Vec<(String, Bound<'py, PyArray1<f64>>)>> {
        let cols = guarded(py, || {
            let path = self.dir.join(files::METRICS);
            let text = read_text(&path)?;
            let mut lines = text.lines();
            let header: Vec<String> = lines.next().unwrap_or("").split(',').map(String::from).collect();
            let mut cols: Vec<Vec<f64>> = vec![Vec::new(); header.len()];
            for line in lines.filter(|l| !l.trim().is_empty()) {
                for (c, v) in cols.iter_mut().zip(line.split(',')) {
                    c.push(v.trim().parse().unwrap_or(f64::NAN));
                }
            }
            Ok(header.into_iter().zip(cols).collect::<Vec<_>>())
        })?;
        Ok(cols
            .into_iter()
            .map(|(n, v)| (n, PyArray1::from_vec(py, v)))
            .collect())
    }

    /// `[(name, shape, float32 array)]` of the checkpoint's tensors (optimizer state
    /// included, as stored).
    fn params<'py>(&self, py: Python<'py>) -> PyResult<Vec<(String, Vec<usize>, Bound<'py, PyArray1<f32>>)>> {
        let list = guarded(py, || {
            let path = self.dir.join(files::CHECKPOINT);
            let bytes = std::fs::read(&path).map_err(|source| SasError::Io {
                action: "reading",
                path: path.clone(),
                source,
            })?;
            let st_err = |e: safetensors::SafeTensorError| SasError::Safetensors {
                path: path.clone(),
                reason: e.to_string(),
            };
            let st = safetensors::SafeTensors::deserialize(&bytes).map_err(st_err)?;
            let mut names: Vec<String> = st.names().into_iter().map(String::from).collect();
            names.sort();
            let mut out = Vec::with_capacity(names.len());
            for name in names {
                let v = st.tensor(&name).map_err(st_err)?;
                let d = v.data();
                let data: Vec<f32> = match v.dtype() {
                    safetensors::Dtype::F32 => d.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
                    safetensors::Dtype::F64 => d
                        .chunks_exact(8)
                        .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f32)
                        .collect(),
                    other => {
                        return Err(SasError::Dtype {
                            name,
                            got: format!("{other:?}"),
                            expected: "F32 or F64".into(),
                        });
                    }
                };
                out.push((name, v.shape().to_vec(), data));
            }
            Ok(out)
        })?;
        Ok(list
            .into_iter()
            .map(|(n, s, d)| (n, s, PyArray1::from_vec(py, d)))
            .collect())
    }

    /// Evaluates the run; returns the JSON of `sasnet eval --json`.
    #[pyo3(signature = (mode, samples=None, resample_every=None, trials=None, limit=0, seed=0))]
    fn evaluate(
        &self,
        py: Python<'_>,
        mode: String,
        samples: Option<usize>,
        resample_every: Option<usize>,
        trials: Option<usize>,
        limit: usize,
        seed: u64,
    ) -> PyResult<String> {
        let req = commands::EvalRequest {
            run_dir: self.dir.clone(),
            mode,
            resample_every,
            samples,
            data: None,
            trials,
            limit,
            seed,
        };
        blocking(py, None, move |_tx: mpsc::Sender<Msg<String>>| {
            commands::evaluate(&req).map(|e| e.json.to_string())
        })
    }

    /// Not available before `sasnet::api`.
    #[pyo3(signature = (x, mode, seed=0))]
    fn forward(&self, x: Bound<'_, PyAny>, mode: String, seed: u64) -> PyResult<()> {
        let _ = (x, mode, seed);
        Err(PyNotImplementedError::new_err(
            "Run.forward needs the library API (sasnet::api), not yet bound",
        ))
    }
}
