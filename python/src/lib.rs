//! `sasnet._sasnet`: the Rust side of the Python package `sasnet` (the pure-Python layer in
//! `python/sasnet/` validates arrays, converts layouts and documents the surface).
//!
//! Long calls (training, evaluation, analyses) run on a Rust thread while the calling thread
//! waits **without the GIL**, waking every 50 ms to run Python's signal handlers: Ctrl-C sets
//! the training's stop flag, the thread finishes its minibatch and leaves a resumable run,
//! and `KeyboardInterrupt` is raised. Rust panics become `sasnet.InternalError`; library
//! errors become the `sasnet._errors` class of their kind (`errors.rs`).

mod bind;
mod errors;

use pyo3::prelude::*;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// How often the waiting thread checks for signals.
const POLL: Duration = Duration::from_millis(50);

/// What a worker thread sends back: progress lines, then its result.
pub(crate) enum Msg<T> {
    /// A line to write to Python's `sys.stderr` (sent by the training observer).
    Line(String),
    /// The call's result (a caught panic as `Err`).
    Done(std::thread::Result<sasnet::Result<T>>),
}

/// Runs `f` on a new thread, waiting without the GIL and checking signals at every progress
/// line and at least every [`POLL`].
/// On a signal error (Ctrl-C) `stop` is set, the thread is joined and the signal's
/// exception is raised. `f` gets a sender for progress lines, written to `sys.stderr`.
pub(crate) fn blocking<T, F>(py: Python<'_>, stop: Option<Arc<AtomicBool>>, f: F) -> PyResult<T>
where
    T: Send + 'static,
    F: FnOnce(mpsc::Sender<Msg<T>>) -> sasnet::Result<T> + Send + 'static,
{
    let (tx, rx) = mpsc::channel::<Msg<T>>();
    let worker_tx = tx.clone();
    let handle = std::thread::Builder::new()
        .name("sasnet".into())
        .spawn(move || {
            let r = std::panic::catch_unwind(AssertUnwindSafe(|| f(worker_tx.clone())));
            let _ = worker_tx.send(Msg::Done(r));
        })
        .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(format!("cannot start a thread: {e}")))?;
    drop(tx);
    // `detach` needs a `Send` closure: the receiver is shared through a mutex.
    let rx = std::sync::Mutex::new(rx);
    let mut interrupted: Option<PyErr> = None;
    let result = loop {
        let msg = py.detach(|| match rx.lock() {
            Ok(r) => r.recv_timeout(POLL),
            Err(_) => Err(mpsc::RecvTimeoutError::Disconnected),
        });
        match msg {
            Ok(Msg::Line(s)) => write_stderr(py, &s),
            Ok(Msg::Done(r)) => break r,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                break Err(Box::new("the worker thread ended without a result"));
            }
        }
        // After every wake-up, not only on a timeout: progress lines arriving faster than
        // POLL must not keep Ctrl-C from being seen.
        if interrupted.is_none()
            && let Err(e) = py.check_signals()
        {
            if let Some(s) = &stop {
                s.store(true, Ordering::SeqCst);
            }
            interrupted = Some(e);
        }
    };
    let _ = py.detach(|| handle.join());
    if let Some(e) = interrupted {
        return Err(e);
    }
    match result {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(errors::to_py(py, &e)),
        Err(payload) => Err(errors::panic_to_py(py, payload)),
    }
}

/// Runs a short call with the GIL held, catching panics.
pub(crate) fn guarded<T>(py: Python<'_>, f: impl FnOnce() -> sasnet::Result<T>) -> PyResult<T> {
    match std::panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(errors::to_py(py, &e)),
        Err(payload) => Err(errors::panic_to_py(py, payload)),
    }
}

fn write_stderr(py: Python<'_>, s: &str) {
    let _ = (|| -> PyResult<()> {
        let err = py.import("sys")?.getattr("stderr")?;
        err.call_method1("write", (format!("{s}\n"),))?;
        err.call_method0("flush")?;
        Ok(())
    })();
}

/// The extension module `sasnet._sasnet`.
#[pymodule]
fn _sasnet(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    bind::register(m)?;
    Ok(())
}
