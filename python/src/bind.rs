//! The functions and classes of `sasnet._sasnet`, each a call into [`sasnet::api`]: names
//! (presets, modes, analyses) are parsed here with the library's own `FromStr`, so unknown
//! names raise `UnknownNameError` listing the known ones.

use crate::{Msg, blocking, guarded};
use numpy::{PyArray1, PyArrayMethods, PyReadonlyArray3, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use sasnet::api::{
    self, Analysis, AnalysisParams, ArrayTargets, EvalMode, EvalParams, Preset, Run, RunConfig, TaskSource,
    UserTask, UserTaskArrays,
};
use sasnet::error::{Result, SasError};
use sasnet::sas::classes::VipRule;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, mpsc};

/// Registers the functions and classes of this module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(presets, m)?)?;
    m.add_function(wrap_pyfunction!(analyses, m)?)?;
    m.add_function(wrap_pyfunction!(train, m)?)?;
    m.add_function(wrap_pyfunction!(analyze, m)?)?;
    m.add_function(wrap_pyfunction!(report, m)?)?;
    m.add_function(wrap_pyfunction!(toml_to_json, m)?)?;
    m.add_function(wrap_pyfunction!(checkpoint_tensors, m)?)?;
    m.add_class::<RunHandle>()?;
    m.add("DEFAULT_SEED", api::DEFAULT_SEED)?;
    Ok(())
}

/// `(name, what it is)` of every preset.
#[pyfunction]
fn presets() -> Vec<(&'static str, &'static str)> {
    api::presets()
}

/// `(name, what it answers)` of every analysis.
#[pyfunction]
fn analyses() -> Vec<(&'static str, &'static str)> {
    api::analyses()
}

/// One line per committed epoch, sent to the waiting Python thread (which writes it to
/// `sys.stderr`, so that notebooks show it).
struct Lines<T> {
    tx: Mutex<mpsc::Sender<Msg<T>>>,
}

impl<T: Send + 'static> api::Observer for Lines<T> {
    fn epoch(&self, e: &api::EpochEvent<'_>) {
        let acc = e
            .test_acc
            .map(|a| format!(" · test acc {:.2}%", 100.0 * a))
            .unwrap_or_default();
        let line = format!(
            "{}: epoch {}/{} · loss {:.4}{acc} · {:.1} s{}",
            e.run_dir.display(),
            e.epoch,
            e.epochs,
            e.train_loss,
            e.wall_s,
            if e.stopped_early { " · stopped early" } else { "" }
        );
        if let Ok(tx) = self.tx.lock() {
            let _ = tx.send(Msg::Line(line));
        }
    }
}

/// `arr` (a numpy array of `T`) as a flat vector in C order with its shape.
fn flat<'py, T: numpy::Element + Copy>(arr: &PyReadonlyArrayDyn<'py, T>) -> (Vec<usize>, Vec<T>) {
    let shape = arr.shape().to_vec();
    let data = match arr.as_slice() {
        Ok(s) => s.to_vec(),
        Err(_) => arr.as_array().iter().copied().collect(),
    };
    (shape, data)
}

fn bad_task(name: &str, reason: String) -> SasError {
    SasError::InvalidArgument {
        name: name.into(),
        reason,
    }
}

/// A user task from the engine-layout arrays of `sasnet.Task._engine_dict()`: `x` float32
/// `[T, B, I]`; `labels` int64 `[B]`, or `labels` int64 `[T, B]` with `mask` float32
/// `[T, B]`, or `target` + `mask` float32 `[T, B, K]`; `conditions` {name: float64 `[B]`};
/// `metadata` {str: str}. Copies the arrays (with the GIL); validation is the library's.
fn task_arrays(d: &Bound<'_, PyDict>) -> PyResult<UserTaskArrays> {
    let get = |k: &str| d.get_item(k);
    let x: PyReadonlyArrayDyn<'_, f32> = get("x")?
        .ok_or_else(|| pyo3::exceptions::PyValueError::new_err("task: no `x`"))?
        .extract()?;
    let (xs, x) = flat(&x);
    let py = d.py();
    let dims = guarded(py, || match xs.as_slice() {
        [t, b, i] => Ok((*t, *b, *i)),
        _ => Err(bad_task("x", format!("must be [T, B, I], got shape {xs:?}"))),
    })?;
    let (steps, trials, inputs) = dims;
    let mask: Option<(Vec<usize>, Vec<f32>)> = match get("mask")? {
        Some(m) => Some(flat(&m.extract::<PyReadonlyArrayDyn<'_, f32>>()?)),
        None => None,
    };
    let labels: Option<(Vec<usize>, Vec<i64>)> = match get("labels")? {
        Some(l) => Some(flat(&l.extract::<PyReadonlyArrayDyn<'_, i64>>()?)),
        None => None,
    };
    let target: Option<(Vec<usize>, Vec<f32>)> = match get("target")? {
        Some(t) => Some(flat(&t.extract::<PyReadonlyArrayDyn<'_, f32>>()?)),
        None => None,
    };
    let mut conditions = Vec::new();
    if let Some(c) = get("conditions")? {
        let c = c.cast_into::<PyDict>()?;
        for (k, v) in c.iter() {
            let name: String = k.extract()?;
            let (_, vals) = flat(&v.extract::<PyReadonlyArrayDyn<'_, f64>>()?);
            conditions.push((name, vals));
        }
    }
    let metadata: HashMap<String, String> = match get("metadata")? {
        Some(m) => m.extract()?,
        None => HashMap::new(),
    };
    let targets = guarded(py, || {
        let classes = |l: Vec<i64>| -> Result<Vec<usize>> {
            l.into_iter()
                .map(|v| usize::try_from(v).map_err(|_| bad_task("labels", format!("class {v} is negative"))))
                .collect()
        };
        match (labels, target, mask) {
            (Some((ls, l)), None, None) if ls.len() == 1 => Ok(ArrayTargets::Labels(classes(l)?)),
            (Some((ls, l)), None, Some((_, m))) if ls.len() == 2 => Ok(ArrayTargets::StepLabels {
                labels: classes(l)?,
                mask: m,
            }),
            (None, Some((ts, y)), Some((_, m))) if ts.len() == 3 => Ok(ArrayTargets::Series {
                y,
                mask: m,
                outputs: ts[2],
            }),
            _ => Err(bad_task(
                "task",
                "give labels [B], labels [T, B] with mask [T, B], or target and mask [T, B, K]".into(),
            )),
        }
    })?;
    Ok(UserTaskArrays {
        steps,
        trials,
        inputs,
        x,
        targets,
        conditions,
        metadata,
    })
}

/// Trains one run of `preset` into `out` on its built-in task or on the user task `task`
/// (with test trials `test`; see [`task_arrays`]); returns the opened run. Ctrl-C stops it
/// at the next minibatch, leaving the run resumable, and raises `KeyboardInterrupt`.
#[pyfunction]
#[pyo3(signature = (preset, out, config_toml=None, config_path=None, sets=Vec::new(), seed=None, epochs=None, resume=false, progress=true, data_dir=None, task=None, test=None))]
#[allow(clippy::too_many_arguments)]
fn train(
    py: Python<'_>,
    preset: &str,
    out: PathBuf,
    config_toml: Option<String>,
    config_path: Option<PathBuf>,
    sets: Vec<String>,
    seed: Option<u64>,
    epochs: Option<usize>,
    resume: bool,
    progress: bool,
    data_dir: Option<PathBuf>,
    task: Option<Bound<'_, PyDict>>,
    test: Option<Bound<'_, PyDict>>,
) -> PyResult<RunHandle> {
    let cfg = guarded(py, || {
        let p: Preset = preset.parse()?;
        match &config_path {
            Some(path) => RunConfig::build_with_file(p, path, &sets, seed, epochs),
            None => RunConfig::build(p, config_toml.as_deref(), &sets, seed, epochs),
        }
    })?;
    let train_arrays = task.as_ref().map(task_arrays).transpose()?;
    let test_arrays = test.as_ref().map(task_arrays).transpose()?;
    let stop = Arc::new(AtomicBool::new(false));
    let worker_stop = Arc::clone(&stop);
    let run = blocking(py, Some(stop), move |tx| {
        let source = match train_arrays {
            None => TaskSource::Builtin { data_dir },
            Some(a) => TaskSource::User {
                train: Box::new(UserTask::from_arrays(a)?),
                test: test_arrays.map(UserTask::from_arrays).transpose()?.map(Box::new),
            },
        };
        let observer: Option<Arc<dyn api::Observer>> = if progress {
            Some(Arc::new(Lines { tx: Mutex::new(tx) }))
        } else {
            None
        };
        let opts = api::TrainOptions {
            resume,
            observer,
            stop: Some(worker_stop),
            command: vec!["python".into()],
        };
        api::train(&cfg, &source, &out, &opts)
    })?;
    Ok(RunHandle { run })
}

/// User tasks' psychometric settings: `(condition, group, choice)`.
type Choice = (Option<String>, Option<String>, Option<usize>);

/// The analysis settings of the Python keyword arguments.
#[allow(clippy::too_many_arguments)]
fn params(
    seed: Option<u64>,
    quick: bool,
    data_dir: Option<PathBuf>,
    test_dt_ms: Option<f64>,
    fast_dt_ms: Option<f64>,
    vip_rule: Option<&str>,
    vip_pi_max: Option<f64>,
    vip_xi_max: Option<f64>,
    vip_m_min: Option<f64>,
    skip: Vec<String>,
    choice: Choice,
) -> Result<AnalysisParams> {
    let rule = match vip_rule {
        None => None,
        Some("exact") => Some(VipRule::Exact),
        Some("relaxed") => Some(VipRule::Relaxed),
        Some("authors") => Some(VipRule::Authors),
        Some(other) => {
            return Err(SasError::UnknownName {
                what: "VIP rule",
                name: other.into(),
                known: "exact, relaxed, authors".into(),
            });
        }
    };
    let mut p = AnalysisParams {
        quick,
        data_dir,
        test_dt_ms,
        fast_dt_ms,
        skip: api::parse_skip(&skip)?,
        ..AnalysisParams::default()
    };
    if let Some(s) = seed {
        p.seed = s;
    }
    p.classes.rule = rule;
    p.classes.pi_max = vip_pi_max;
    p.classes.xi_max = vip_xi_max;
    p.classes.m_min = vip_m_min;
    (p.condition, p.group, p.choice) = choice;
    Ok(p)
}

/// Runs analysis `name` on the runs in `runs` into the folder `out`; returns JSON
/// `{name, title, dir, summary, figures, files}`.
#[pyfunction]
#[pyo3(signature = (name, runs, out, seed=None, quick=false, data_dir=None, test_dt_ms=None, fast_dt_ms=None, vip_rule=None, vip_pi_max=None, vip_xi_max=None, vip_m_min=None, condition=None, group=None, choice=None))]
#[allow(clippy::too_many_arguments)]
fn analyze(
    py: Python<'_>,
    name: &str,
    runs: Vec<PathBuf>,
    out: PathBuf,
    seed: Option<u64>,
    quick: bool,
    data_dir: Option<PathBuf>,
    test_dt_ms: Option<f64>,
    fast_dt_ms: Option<f64>,
    vip_rule: Option<&str>,
    vip_pi_max: Option<f64>,
    vip_xi_max: Option<f64>,
    vip_m_min: Option<f64>,
    condition: Option<String>,
    group: Option<String>,
    choice: Option<usize>,
) -> PyResult<String> {
    let (a, p) = guarded(py, || {
        let a = Analysis::named(name)?;
        let p = params(
            seed,
            quick,
            data_dir,
            test_dt_ms,
            fast_dt_ms,
            vip_rule,
            vip_pi_max,
            vip_xi_max,
            vip_m_min,
            Vec::new(),
            (condition, group, choice),
        )?;
        Ok((a, p))
    })?;
    blocking(py, None, move |_tx: mpsc::Sender<Msg<String>>| {
        let runs = api::open_runs(&runs)?;
        let o = api::analyze(a, &runs, &out, &p)?;
        let v = serde_json::json!({
            "name": o.name,
            "title": o.title,
            "dir": out.display().to_string(),
            "summary": o.summary_json(),
            "figures": o.figures,
            "files": o.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
        });
        Ok(v.to_string())
    })
}

/// Runs every applicable analysis over `runs` and writes the HTML page `page`; returns JSON
/// `{page, ran: [[name, dir]], failed: [[name, message]]}`. One line per step to stderr.
#[pyfunction]
#[pyo3(signature = (runs, page, seed=None, quick=false, data_dir=None, test_dt_ms=None, fast_dt_ms=None, skip=Vec::new(), progress=true, condition=None, group=None, choice=None))]
#[allow(clippy::too_many_arguments)]
fn report(
    py: Python<'_>,
    runs: Vec<PathBuf>,
    page: PathBuf,
    seed: Option<u64>,
    quick: bool,
    data_dir: Option<PathBuf>,
    test_dt_ms: Option<f64>,
    fast_dt_ms: Option<f64>,
    skip: Vec<String>,
    progress: bool,
    condition: Option<String>,
    group: Option<String>,
    choice: Option<usize>,
) -> PyResult<String> {
    let p = guarded(py, || {
        params(
            seed,
            quick,
            data_dir,
            test_dt_ms,
            fast_dt_ms,
            None,
            None,
            None,
            None,
            skip,
            (condition, group, choice),
        )
    })?;
    blocking(py, None, move |tx: mpsc::Sender<Msg<String>>| {
        let runs = api::open_runs(&runs)?;
        let mut lines = |s: &str| {
            if progress {
                let _ = tx.send(Msg::Line(s.to_string()));
            }
        };
        let r = api::report(&runs, &page, &p, &mut lines)?;
        Ok(serde_json::json!({
            "page": r.page.display().to_string(),
            "ran": r.ran.iter().map(|(n, d)| (*n, d.display().to_string())).collect::<Vec<_>>(),
            "failed": r.failed,
        })
        .to_string())
    })
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

/// `(name, shape, values)` of one tensor, as handed to Python.
type Tensor<'py, T> = (String, Vec<usize>, Bound<'py, PyArray1<T>>);

/// Every tensor of a run's checkpoint (parameters and optimizer state) as
/// `[(name, shape, float64 array)]`, for tests that compare runs bit for bit.
#[pyfunction]
fn checkpoint_tensors<'py>(py: Python<'py>, run_dir: PathBuf) -> PyResult<Vec<Tensor<'py, f64>>> {
    let list = guarded(py, || {
        let path = run_dir.join(sasnet::run::files::CHECKPOINT);
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
        let mut out = Vec::new();
        for (name, v) in st.iter() {
            let d = v.data();
            let data: Vec<f64> = match v.dtype() {
                safetensors::Dtype::F32 => d
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
                    .collect(),
                safetensors::Dtype::F64 => d
                    .chunks_exact(8)
                    .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                    .collect(),
                other => {
                    return Err(SasError::Dtype {
                        name: name.to_string(),
                        got: format!("{other:?}"),
                        expected: "F32 or F64".into(),
                    });
                }
            };
            out.push((name.to_string(), v.shape().to_vec(), data));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    })?;
    Ok(list
        .into_iter()
        .map(|(n, s, d)| (n, s, PyArray1::from_vec(py, d)))
        .collect())
}

/// An evaluation mode from its name and the sampled mode's redraw interval.
fn mode(name: &str, resample_every: Option<usize>) -> Result<EvalMode> {
    let mut m: EvalMode = name.parse()?;
    match (&mut m, resample_every) {
        (EvalMode::Sampled { every }, Some(k)) => *every = k,
        (_, Some(_)) => {
            return Err(SasError::InvalidArgument {
                name: "resample_every".into(),
                reason: "applies to mode=\"sampled\" only".into(),
            });
        }
        (_, None) => {}
    }
    Ok(m)
}

/// A trained run directory, opened once ([`sasnet::api::Run`]).
#[pyclass(module = "sasnet._sasnet", frozen)]
pub struct RunHandle {
    run: Run,
}

#[pymethods]
impl RunHandle {
    /// Opens the run in `path`.
    #[new]
    fn new(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        guarded(py, || {
            Ok(RunHandle {
                run: Run::open(&path)?,
            })
        })
    }

    /// The run directory.
    #[getter]
    fn path(&self) -> String {
        self.run.dir().display().to_string()
    }

    /// Completed epochs.
    #[getter]
    fn epoch(&self) -> usize {
        self.run.epoch()
    }

    /// `"recurrent"` or `"feed-forward"`.
    #[getter]
    fn family(&self) -> &'static str {
        match self.run.family() {
            api::Family::Recurrent => "recurrent",
            api::Family::FeedForward => "feed-forward",
        }
    }

    /// The resolved configuration as TOML.
    #[getter]
    fn config_toml(&self) -> String {
        self.run.config().to_toml()
    }

    /// `[(column, float64 array)]` of the per-epoch metrics (NaN where empty).
    fn metrics<'py>(&self, py: Python<'py>) -> Vec<(String, Bound<'py, PyArray1<f64>>)> {
        let m = self.run.metrics();
        m.header
            .iter()
            .enumerate()
            .map(|(j, h)| {
                let col: Vec<f64> = m
                    .rows
                    .iter()
                    .map(|r| r.get(j).copied().unwrap_or(f64::NAN))
                    .collect();
                (h.clone(), PyArray1::from_vec(py, col))
            })
            .collect()
    }

    /// `[(name, shape, float32 array)]`: `<layer>.m`, `.pi`, `.xi` of every layer.
    fn params<'py>(&self, py: Python<'py>) -> Vec<Tensor<'py, f32>> {
        self.run
            .params()
            .into_iter()
            .map(|p| (p.name, p.shape, PyArray1::from_vec(py, p.data)))
            .collect()
    }

    /// Evaluates the run on its test set; returns the JSON of `sasnet eval --json`.
    #[pyo3(signature = (mode_name, samples=None, resample_every=None, trials=None, limit=0, seed=None, data_dir=None))]
    #[allow(clippy::too_many_arguments)]
    fn evaluate(
        &self,
        py: Python<'_>,
        mode_name: &str,
        samples: Option<usize>,
        resample_every: Option<usize>,
        trials: Option<usize>,
        limit: usize,
        seed: Option<u64>,
        data_dir: Option<PathBuf>,
    ) -> PyResult<String> {
        let m = guarded(py, || mode(mode_name, resample_every))?;
        let p = EvalParams {
            samples,
            data_dir,
            trials_per_condition: trials,
            limit,
            seed: seed.unwrap_or(api::DEFAULT_SEED),
        };
        let run = self.run.clone();
        blocking(py, None, move |_tx: mpsc::Sender<Msg<String>>| {
            let r = run.evaluate(m, &p)?;
            serde_json::to_string(&r).map_err(|e| SasError::FileFormat {
                name: "evaluation report".into(),
                reason: e.to_string(),
            })
        })
    }

    /// The readout and rates of the network on `x` `[T, B, I]` (float32, time-major):
    /// `(z [T, B, K], rates [T, B, N])`.
    #[pyo3(signature = (x, mode_name, seed=0, resample_every=None))]
    #[allow(clippy::type_complexity)]
    fn forward<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray3<'py, f32>,
        mode_name: &str,
        seed: u64,
        resample_every: Option<usize>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let m = guarded(py, || mode(mode_name, resample_every))?;
        let shape = x.shape().to_vec();
        let (steps, trials) = (shape[0], shape[1]);
        let data: Vec<f32> = match x.as_slice() {
            Ok(s) => s.to_vec(),
            Err(_) => x.as_array().iter().copied().collect(),
        };
        let run = self.run.clone();
        let f = blocking(py, None, move |_tx: mpsc::Sender<Msg<api::Forward>>| {
            run.forward(&data, steps, trials, m, seed)
        })?;
        let z = PyArray1::from_vec(py, f.z).reshape([f.steps, f.trials, f.outputs])?;
        let r = PyArray1::from_vec(py, f.rates).reshape([f.steps, f.trials, f.units])?;
        Ok((z.into_any(), r.into_any()))
    }
}
