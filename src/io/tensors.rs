//! Reading and writing named tensors in the safetensors format, with shape and dtype checks.
//!
//! Values are converted to the engine's scalar type only when the file's dtype matches it
//! exactly (`F32` ↔ `f32`, `F64` ↔ `f64`), so a check in f64 is never silently rounded.

use crate::error::{Result, SasError};
use crate::io::atomic::write_atomic;
use crate::real::Real;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// The tensor shapes of safetensors file `path`, read from its header only (the data is
/// not read).
pub fn header_shapes(path: &Path) -> Result<BTreeMap<String, Vec<usize>>> {
    use std::io::Read;
    let bad = |reason: String| SasError::Safetensors {
        path: path.to_path_buf(),
        reason,
    };
    let io = |source| SasError::Io {
        action: "reading",
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let size = f.metadata().map_err(io)?.len();
    let mut n = [0u8; 8];
    f.read_exact(&mut n).map_err(io)?;
    let n = u64::from_le_bytes(n);
    if n > 100_000_000 || n + 8 > size {
        return Err(bad(format!(
            "header length {n} does not fit the file of {size} bytes"
        )));
    }
    let mut h = vec![0u8; n as usize];
    f.read_exact(&mut h).map_err(io)?;
    let v: serde_json::Value = serde_json::from_slice(&h).map_err(|e| bad(e.to_string()))?;
    let mut out = BTreeMap::new();
    for (name, t) in v.as_object().into_iter().flatten() {
        if name == "__metadata__" {
            continue;
        }
        let shape = t["shape"]
            .as_array()
            .map(|a| a.iter().filter_map(|d| d.as_u64().map(|d| d as usize)).collect())
            .ok_or_else(|| bad(format!("tensor `{name}` has no shape")))?;
        out.insert(name.clone(), shape);
    }
    Ok(out)
}

/// A safetensors file held in memory and validated.
pub struct TensorFile {
    path: PathBuf,
    bytes: Vec<u8>,
    metadata: HashMap<String, String>,
}

impl TensorFile {
    /// Reads and validates `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|source| SasError::Io {
            action: "reading",
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_bytes(path, bytes)
    }

    /// Validates `bytes` read from `path` (used for error messages only).
    pub fn from_bytes(path: &Path, bytes: Vec<u8>) -> Result<Self> {
        let st_err = |e: safetensors::SafeTensorError| SasError::Safetensors {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let (_, meta) = SafeTensors::read_metadata(&bytes).map_err(st_err)?;
        SafeTensors::deserialize(&bytes).map_err(st_err)?;
        Ok(TensorFile {
            path: path.to_path_buf(),
            metadata: meta.metadata().clone().unwrap_or_default(),
            bytes,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The `__metadata__` string map (empty if absent).
    pub fn metadata(&self) -> &HashMap<String, String> {
        &self.metadata
    }

    fn view(&self, name: &str) -> Result<TensorView<'_>> {
        let st = SafeTensors::deserialize(&self.bytes).map_err(|e| SasError::Safetensors {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        st.tensor(name).map_err(|_| SasError::MissingTensor {
            name: name.into(),
            path: self.path.clone(),
        })
    }

    /// Whether the file holds a tensor called `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.view(name).is_ok()
    }

    /// The dtype name (`"F32"`, `"F64"`, ...) of tensor `name`.
    pub fn dtype(&self, name: &str) -> Result<String> {
        Ok(format!("{:?}", self.view(name)?.dtype()))
    }

    /// The shape of tensor `name`.
    pub fn shape(&self, name: &str) -> Result<Vec<usize>> {
        Ok(self.view(name)?.shape().to_vec())
    }

    /// Tensor `name` as a row-major `Vec<T>`; its shape must equal `shape` and its dtype
    /// must be `T`'s (`F32` for `f32`, `F64` for `f64`).
    pub fn get<T: Real>(&self, name: &str, shape: &[usize]) -> Result<Vec<T>> {
        let v = self.view(name)?;
        if v.shape() != shape {
            return Err(SasError::Shape {
                name: name.into(),
                got: v.shape().to_vec(),
                expected: shape.to_vec(),
            });
        }
        let got = format!("{:?}", v.dtype());
        if got != T::DTYPE {
            return Err(SasError::Dtype {
                name: name.into(),
                got,
                expected: T::DTYPE.into(),
            });
        }
        Ok(decode(v.data()))
    }
}

fn decode<T: Real>(data: &[u8]) -> Vec<T> {
    if T::DTYPE == "F32" {
        data.chunks_exact(4)
            .map(|c| T::from_f32(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect()
    } else {
        data.chunks_exact(8)
            .map(|c| T::from_f64(f64::from_le_bytes(c.try_into().expect("8-byte chunk"))))
            .collect()
    }
}

fn encode<T: Real>(data: &[T]) -> Vec<u8> {
    if T::DTYPE == "F32" {
        data.iter()
            .flat_map(|v| (v.to_f64() as f32).to_le_bytes())
            .collect()
    } else {
        data.iter().flat_map(|v| v.to_f64().to_le_bytes()).collect()
    }
}

/// Collects named tensors and metadata, then writes one safetensors file atomically.
#[derive(Default)]
pub struct TensorWriter {
    tensors: BTreeMap<String, (Dtype, Vec<usize>, Vec<u8>)>,
    metadata: HashMap<String, String>,
}

impl TensorWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds tensor `name` of `shape` holding `data` (row-major) in `T`'s dtype.
    pub fn add<T: Real>(&mut self, name: &str, shape: &[usize], data: &[T]) -> &mut Self {
        assert_eq!(
            shape.iter().product::<usize>(),
            data.len(),
            "tensor {name}: shape/data mismatch"
        );
        let dtype = if T::DTYPE == "F32" { Dtype::F32 } else { Dtype::F64 };
        self.tensors
            .insert(name.into(), (dtype, shape.to_vec(), encode(data)));
        self
    }

    /// Adds raw little-endian bytes of another dtype (e.g. `U64` counters, `U8` RNG state).
    pub fn add_raw(&mut self, name: &str, dtype: Dtype, shape: &[usize], bytes: Vec<u8>) -> &mut Self {
        self.tensors.insert(name.into(), (dtype, shape.to_vec(), bytes));
        self
    }

    /// Sets metadata `key = value`.
    pub fn meta(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Serializes to bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let views: Vec<(String, TensorView<'_>)> = self
            .tensors
            .iter()
            .map(|(n, (d, s, b))| Ok((n.clone(), TensorView::new(*d, s.clone(), b).map_err(st_internal)?)))
            .collect::<Result<_>>()?;
        let meta = (!self.metadata.is_empty()).then(|| self.metadata.clone());
        safetensors::serialize(views, meta).map_err(st_internal)
    }

    /// Writes the file atomically (temporary file, fsync, rename).
    pub fn write(&self, path: &Path) -> Result<()> {
        write_atomic(path, &self.to_bytes()?)
    }
}

fn st_internal(e: safetensors::SafeTensorError) -> SasError {
    SasError::Safetensors {
        path: PathBuf::from("<memory>"),
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_checks() {
        let mut w = TensorWriter::new();
        w.add("a", &[2, 2], &[1.0f64, 2.0, 3.0, 4.5]).meta("k", "v");
        let bytes = w.to_bytes().unwrap();
        let f = TensorFile::from_bytes(Path::new("mem"), bytes).unwrap();
        assert_eq!(f.get::<f64>("a", &[2, 2]).unwrap(), vec![1.0, 2.0, 3.0, 4.5]);
        assert_eq!(f.metadata().get("k").map(String::as_str), Some("v"));
        let e = f.get::<f32>("a", &[2, 2]).unwrap_err().to_string();
        assert!(e.contains("dtype F64"), "{e}");
        let e = f.get::<f64>("a", &[4]).unwrap_err().to_string();
        assert!(e.contains("shape [2, 2]"), "{e}");
        let e = f.get::<f64>("b", &[4]).unwrap_err().to_string();
        assert!(e.contains("`b` is missing"), "{e}");
    }

    #[test]
    fn garbage_is_a_clear_error() {
        for bytes in [
            vec![],
            vec![1, 2, 3],
            vec![255; 64],
            b"\x10\0\0\0\0\0\0\0{\"a\":1}xxxxxxxxxx".to_vec(),
        ] {
            let e = TensorFile::from_bytes(Path::new("bad.safetensors"), bytes)
                .err()
                .unwrap();
            assert!(e.to_string().contains("bad.safetensors"), "{e}");
        }
    }
}
