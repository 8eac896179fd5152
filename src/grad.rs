//! The verification interface (docs/MODEL.md §8): one minibatch's loss and every parameter gradient
//! from fully specified inputs, so anyone can check the engine against an autodiff framework.
//!
//! Input tensors (row = receiving unit): `in.{m,pi,xi}` `[N,I]`, `rec.{m,pi,xi}` `[N,N]`,
//! `out.{m,pi,xi}` `[K,N]`, `h0` `[B,N]`, `x` `[T,B,I]`, `eps_u` `[T,B,N]`, `eps_out` `[T,B,K]`,
//! `noise_rec` `[T,B,N]`, and the targets: `target` `[B,K]` for `loss = ce`; `target`
//! `[T,B,K]` with `mask` `[T,B,K]` for `loss = mse`; `labels` `[T,B]` (integer classes
//! `0..K-1` stored in the common dtype) with `mask` `[T,B]` for `loss = ce_steps` (per-step
//! masked cross-entropy, docs/MODEL.md §1.5). Metadata: `alpha`, `sigma`, `loss`
//! (`ce`|`mse`|`ce_steps`), `sas_in`
//! (`true`|`false`). All tensors share one dtype, `F32` or `F64`, and the computation runs in
//! it. Output: `loss` `[1]` and `grad.<in|rec|out>.<m|pi|xi>`.

use crate::engine::noise::TensorNoise;
use crate::engine::{Batch, Dims, Engine, EngineConfig, RunOptions, Targets};
use crate::error::{Result, SasError};
use crate::io::tensors::{TensorFile, TensorWriter};
use crate::net::{SasNet, SasNetGrad};
use crate::real::Real;
use std::path::Path;

/// The loss of a verification case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GradLoss {
    /// Cross-entropy on the last step.
    Ce,
    /// Masked squared error over time.
    Mse,
    /// Per-step masked cross-entropy (`labels`, `mask` `[T,B]`).
    CeSteps,
}

/// Summary of one `grad` computation.
#[derive(Clone, Debug)]
pub struct GradSummary {
    /// The loss value.
    pub loss: f64,
    /// `"F32"` or `"F64"`.
    pub dtype: String,
    /// Sizes.
    pub dims: Dims,
    /// Batch size `B`.
    pub batch: usize,
    /// Time steps `T`.
    pub steps: usize,
}

fn meta_str<'a>(f: &'a TensorFile, key: &str) -> Result<&'a str> {
    f.metadata()
        .get(key)
        .map(String::as_str)
        .ok_or_else(|| SasError::Metadata {
            key: key.into(),
            path: f.path().to_path_buf(),
            reason: "missing".into(),
        })
}

fn meta_f64(f: &TensorFile, key: &str) -> Result<f64> {
    let s = meta_str(f, key)?;
    s.trim().parse::<f64>().map_err(|_| SasError::Metadata {
        key: key.into(),
        path: f.path().to_path_buf(),
        reason: format!("`{s}` is not a number"),
    })
}

/// Reads `input`, computes the loss and all gradients, writes `output` (atomically).
pub fn grad_file(input: &Path, output: &Path) -> Result<GradSummary> {
    let f = TensorFile::open(input)?;
    let dtype = f.dtype("rec.m")?;
    match dtype.as_str() {
        "F32" => grad_typed::<f32>(&f, output),
        "F64" => grad_typed::<f64>(&f, output),
        other => Err(SasError::Dtype {
            name: "rec.m".into(),
            got: other.into(),
            expected: "F32 or F64".into(),
        }),
    }
}

fn dim(f: &TensorFile, name: &str, rank: usize) -> Result<Vec<usize>> {
    let s = f.shape(name)?;
    if s.len() != rank {
        return Err(SasError::InvalidValue {
            name: name.into(),
            reason: format!("has rank {} (shape {s:?}), expected rank {rank}", s.len()),
        });
    }
    Ok(s)
}

fn grad_typed<T: Real>(f: &TensorFile, output: &Path) -> Result<GradSummary> {
    let alpha = meta_f64(f, "alpha")?;
    let sigma = meta_f64(f, "sigma")?;
    let loss = match meta_str(f, "loss")? {
        "ce" => GradLoss::Ce,
        "mse" => GradLoss::Mse,
        "ce_steps" => GradLoss::CeSteps,
        other => {
            return Err(SasError::Metadata {
                key: "loss".into(),
                path: f.path().to_path_buf(),
                reason: format!("`{other}` is not `ce`, `mse` or `ce_steps`"),
            });
        }
    };
    let sas_in = match meta_str(f, "sas_in")? {
        "true" => true,
        "false" => false,
        other => {
            return Err(SasError::Metadata {
                key: "sas_in".into(),
                path: f.path().to_path_buf(),
                reason: format!("`{other}` is not `true` or `false`"),
            });
        }
    };
    let rec = dim(f, "rec.m", 2)?;
    let inp = dim(f, "in.m", 2)?;
    let out = dim(f, "out.m", 2)?;
    let x = dim(f, "x", 3)?;
    let d = Dims {
        n: rec[0],
        i: inp[1],
        k: out[0],
    };
    let (tt, b) = (x[0], x[1]);
    let layer = |name: &str, rows: usize, cols: usize| crate::sas::read_layer::<T>(f, name, rows, cols);
    let net = SasNet {
        inp: layer("in", d.n, d.i)?,
        rec: layer("rec", d.n, d.n)?,
        out: layer("out", d.k, d.n)?,
        stochastic: [sas_in, true, true],
    };
    net.validate()?;
    let xv: Vec<T> = f.get("x", &[tt, b, d.i])?;
    let h0: Vec<T> = f.get("h0", &[b, d.n])?;
    let eps_u: Vec<T> = f.get("eps_u", &[tt, b, d.n])?;
    let eps_out: Vec<T> = f.get("eps_out", &[tt, b, d.k])?;
    let noise_rec: Vec<T> = f.get("noise_rec", &[tt, b, d.n])?;
    for (name, v) in [
        ("x", &xv),
        ("h0", &h0),
        ("eps_u", &eps_u),
        ("eps_out", &eps_out),
        ("noise_rec", &noise_rec),
    ] {
        finite(name, v)?;
    }
    let (target, mask): (Vec<T>, Vec<T>) = match loss {
        GradLoss::Ce => (f.get("target", &[b, d.k])?, Vec::new()),
        GradLoss::Mse => (f.get("target", &[tt, b, d.k])?, f.get("mask", &[tt, b, d.k])?),
        GradLoss::CeSteps => (f.get("labels", &[tt, b])?, f.get("mask", &[tt, b])?),
    };
    finite(
        if loss == GradLoss::CeSteps {
            "labels"
        } else {
            "target"
        },
        &target,
    )?;
    finite("mask", &mask)?;
    let labels: Vec<usize> = if loss == GradLoss::CeSteps {
        class_labels(&target, d.k)?
    } else {
        Vec::new()
    };
    let targets = match loss {
        GradLoss::Ce => Targets::CrossEntropyLast(&target),
        GradLoss::Mse => Targets::MaskedMse {
            y: &target,
            mask: &mask,
        },
        GradLoss::CeSteps => Targets::CrossEntropySteps {
            labels: &labels,
            mask: &mask,
        },
    };
    let batch = Batch {
        steps: tt,
        size: b,
        x: &xv,
        h0: &h0,
        targets,
    };
    let noise = TensorNoise {
        batch: b,
        n: d.n,
        k: d.k,
        eps_u: &eps_u,
        eps_out: &eps_out,
        noise_rec: &noise_rec,
    };
    let mut engine = Engine::<T>::new(EngineConfig {
        alpha,
        sigma,
        chunks: 1,
    })?;
    let moments = net.moments();
    let res = engine.run(
        &moments,
        &batch,
        &noise,
        RunOptions {
            grad: true,
            ..Default::default()
        },
    )?;
    let g: SasNetGrad<T> = net.chain(res.grads.as_ref().expect("gradient run"));
    let mut w = TensorWriter::new();
    w.add("loss", &[1], &[T::from_f64(res.loss)]);
    for ((name, gl), (_, l)) in g.layers().into_iter().zip(net.layers()) {
        let sh = [l.rows, l.cols];
        w.add(&format!("grad.{name}.m"), &sh, &gl.m);
        w.add(&format!("grad.{name}.pi"), &sh, &gl.pi);
        w.add(&format!("grad.{name}.xi"), &sh, &gl.xi);
    }
    w.meta("producer", format!("sasnet {}", env!("CARGO_PKG_VERSION")));
    w.write(output)?;
    Ok(GradSummary {
        loss: res.loss,
        dtype: T::DTYPE.into(),
        dims: d,
        batch: b,
        steps: tt,
    })
}

fn finite<T: Real>(name: &str, v: &[T]) -> Result<()> {
    match v.iter().position(|x| !x.is_finite()) {
        Some(i) => Err(SasError::InvalidValue {
            name: name.into(),
            reason: format!("entry {i} is not finite"),
        }),
        None => Ok(()),
    }
}

/// Class labels stored as floats: each an integer in `0..k`.
fn class_labels<T: Real>(v: &[T], k: usize) -> Result<Vec<usize>> {
    v.iter()
        .enumerate()
        .map(|(i, x)| {
            let a = x.to_f64();
            if a.fract() != 0.0 || a < 0.0 || a >= k as f64 {
                return Err(SasError::InvalidValue {
                    name: "labels".into(),
                    reason: format!("entry {i} is {a}; labels must be integers in 0..{k} (K = {k})"),
                });
            }
            Ok(a as usize)
        })
        .collect()
}
