//! Library errors → Python exceptions: one class of `sasnet._errors` per kind of
//! [`SasError`], chosen by an exhaustive match (a new variant does not compile until it is
//! mapped), with the variant's name as `kind` and its fields as `details`.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use sasnet::SasError;
use std::any::Any;

/// The exception class (in `sasnet._errors`) and the field list of `e`.
fn classify(e: &SasError) -> (&'static str, &'static str, Vec<(&'static str, Field)>) {
    use Field::{Int, List, Str};
    let p = |p: &std::path::Path| Str(p.display().to_string());
    match e {
        SasError::Shape { name, got, expected } => (
            "DataError",
            "Shape",
            vec![
                ("name", Str(name.clone())),
                ("got", List(got.clone())),
                ("expected", List(expected.clone())),
            ],
        ),
        SasError::MissingTensor { name, path } => (
            "DataError",
            "MissingTensor",
            vec![("name", Str(name.clone())), ("path", p(path))],
        ),
        SasError::Dtype { name, got, expected } => (
            "DataError",
            "Dtype",
            vec![
                ("name", Str(name.clone())),
                ("got", Str(got.clone())),
                ("expected", Str(expected.clone())),
            ],
        ),
        SasError::Metadata { key, path, reason } => (
            "RunDirError",
            "Metadata",
            vec![
                ("key", Str(key.clone())),
                ("path", p(path)),
                ("reason", Str(reason.clone())),
            ],
        ),
        SasError::NoRuns { analysis } => (
            "InvalidArgumentError",
            "NoRuns",
            vec![("analysis", Str(analysis.clone()))],
        ),
        SasError::NotApplicable { analysis, reason } => (
            "NotApplicableError",
            "NotApplicable",
            vec![
                ("analysis", Str(analysis.clone())),
                ("reason", Str(reason.clone())),
            ],
        ),
        SasError::UnknownName { what, name, known } => (
            "UnknownNameError",
            "UnknownName",
            vec![
                ("what", Str((*what).into())),
                ("name", Str(name.clone())),
                ("known", Str(known.clone())),
            ],
        ),
        SasError::DataDirRequired { what } => {
            ("DataError", "DataDirRequired", vec![("what", Str(what.clone()))])
        }
        SasError::Diverged {
            epoch,
            minibatch,
            what,
            checkpoint,
        } => (
            "DivergedError",
            "Diverged",
            vec![
                ("epoch", Int(*epoch)),
                ("minibatch", Int(*minibatch)),
                ("what", Str(what.clone())),
                ("checkpoint", p(checkpoint)),
            ],
        ),
        SasError::Interrupted { run_dir, epoch } => (
            "TrainingStopped",
            "Interrupted",
            vec![("run_dir", p(run_dir)), ("epoch", Int(*epoch))],
        ),
        SasError::MixedFamilies { first, other } => (
            "MixedFamiliesError",
            "MixedFamilies",
            vec![("first", p(first)), ("other", p(other))],
        ),
        SasError::InvalidArgument { name, reason } => (
            "InvalidArgumentError",
            "InvalidArgument",
            vec![("name", Str(name.clone())), ("reason", Str(reason.clone()))],
        ),
        SasError::InvalidTensor { name, reason } => (
            "DataError",
            "InvalidTensor",
            vec![("name", Str(name.clone())), ("reason", Str(reason.clone()))],
        ),
        SasError::Numerical { name, reason } => (
            "NumericalError",
            "Numerical",
            vec![("name", Str(name.clone())), ("reason", Str(reason.clone()))],
        ),
        SasError::FileFormat { name, reason } => (
            "RunDirError",
            "FileFormat",
            vec![("name", Str(name.clone())), ("reason", Str(reason.clone()))],
        ),
        SasError::Training { what, source } => {
            let (class, kind, _) = classify(source);
            (
                "AnalysisTrainingError",
                "Training",
                vec![
                    ("what", Str(what.clone())),
                    ("source_class", Str(class.into())),
                    ("source_kind", Str(kind.into())),
                    ("source", Str(source.to_string())),
                ],
            )
        }
        SasError::InvalidValue { name, reason } => (
            "InvalidArgumentError",
            "InvalidValue",
            vec![("name", Str(name.clone())), ("reason", Str(reason.clone()))],
        ),
        SasError::Safetensors { path, reason } => (
            "DataError",
            "Safetensors",
            vec![("path", p(path)), ("reason", Str(reason.clone()))],
        ),
        SasError::Io { action, path, source } => (
            "SasnetIOError",
            "Io",
            vec![
                ("action", Str((*action).into())),
                ("path", p(path)),
                ("reason", Str(source.to_string())),
            ],
        ),
        SasError::Config { key, reason } => (
            "ConfigError",
            "Config",
            vec![("key", Str(key.clone())), ("reason", Str(reason.clone()))],
        ),
        SasError::TaskFile { path, tensor, reason } => (
            "DataError",
            "TaskFile",
            vec![
                ("path", p(path)),
                ("tensor", Str(tensor.clone())),
                ("reason", Str(reason.clone())),
            ],
        ),
        SasError::TaskArrays { what, reason } => (
            "DataError",
            "TaskArrays",
            vec![("what", Str(what.clone())), ("reason", Str(reason.clone()))],
        ),
        SasError::Idx { path, reason } => (
            "DataError",
            "Idx",
            vec![("path", p(path)), ("reason", Str(reason.clone()))],
        ),
        SasError::Data { path, reason } => (
            "DataError",
            "Data",
            vec![("path", p(path)), ("reason", Str(reason.clone()))],
        ),
        SasError::Download { name, failures } => (
            "SasnetIOError",
            "Download",
            vec![
                ("name", Str(name.clone())),
                ("failures", Str(failures.join("; "))),
            ],
        ),
        SasError::Render { path, reason } => (
            "RenderError",
            "Render",
            vec![("path", p(path)), ("reason", Str(reason.clone()))],
        ),
        SasError::Locked { dir, pid, host } => (
            "SasnetIOError",
            "Locked",
            vec![
                ("path", p(dir)),
                ("pid", Int(*pid as usize)),
                ("host", Str(host.clone())),
            ],
        ),
        SasError::RunInconsistent { path, reason } => (
            "DataError",
            "RunInconsistent",
            vec![("path", p(path)), ("reason", Str(reason.clone()))],
        ),
        SasError::WrongFamily {
            path,
            found,
            expected,
        } => (
            "DataError",
            "WrongFamily",
            vec![
                ("path", p(path)),
                ("found", Str(found.clone())),
                ("expected", Str(expected.clone())),
            ],
        ),
        SasError::OutOfMemory {
            what,
            needed,
            available,
        } => (
            "InvalidArgumentError",
            "OutOfMemory",
            vec![
                ("what", Str(what.clone())),
                ("needed", Int(*needed as usize)),
                ("available", Int(*available as usize)),
            ],
        ),
    }
}

/// A field value of an error's `details`.
enum Field {
    Str(String),
    Int(usize),
    List(Vec<usize>),
}

/// Builds the Python exception of `class` in `sasnet._errors` with `message`, `kind` and
/// `details` (falls back to `RuntimeError` if the Python package cannot be imported).
fn make(py: Python<'_>, class: &str, message: String, kind: &str, details: Vec<(&str, Field)>) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let cls = py.import("sasnet._errors")?.getattr(class)?;
        let exc = cls.call1((message.clone(),))?;
        exc.setattr("kind", kind)?;
        let d = PyDict::new(py);
        for (k, v) in details {
            match v {
                Field::Str(s) => d.set_item(k, s)?,
                Field::Int(i) => d.set_item(k, i)?,
                Field::List(l) => d.set_item(k, l)?,
            }
        }
        exc.setattr("details", d)?;
        Ok(PyErr::from_value(exc))
    };
    build().unwrap_or_else(|_| PyRuntimeError::new_err(message))
}

/// The Python exception for a library error.
pub fn to_py(py: Python<'_>, e: &SasError) -> PyErr {
    let (class, kind, details) = classify(e);
    make(py, class, e.to_string(), kind, details)
}

/// The Python exception (`InternalError`) for a caught Rust panic.
pub fn panic_to_py(py: Python<'_>, payload: Box<dyn Any + Send>) -> PyErr {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    make(
        py,
        "InternalError",
        format!("internal error in sasnet (please report it): {what}"),
        "Panic",
        vec![("message", Field::Str(what))],
    )
}
