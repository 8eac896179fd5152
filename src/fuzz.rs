//! Entry points for coverage-guided fuzzing of every reader of untrusted files: MNIST IDX
//! (raw or gzip), `.npy` user tasks, safetensors user tasks, checkpoints of either family
//! and TOML configurations. Each takes arbitrary bytes and must return — an error is a
//! correct answer, a panic, an abort or a hang is a bug. The fuzz targets in `fuzz/`
//! (cargo-afl) call these, and the integration tests replay the committed corpora through
//! them (`tests/it/fuzz_corpus.rs`), so every input the fuzzer ever kept is a regression test.
//!
//! The file-based readers (`.npy` tasks, run directories) get their bytes through a private
//! scratch directory per process under the system's temporary folder.

use std::path::{Path, PathBuf};

/// The largest decoded IDX file the IDX target accepts (bytes): well above MNIST's 47 MB,
/// small enough that a fuzzer's memory limit is never the failure.
const IDX_LIMIT: u64 = 64 << 20;

/// The fuzzed readers, by name (the names of the fuzz targets and corpus folders).
pub const TARGETS: [&str; 5] = ["idx", "npy", "task", "checkpoint", "config"];

/// Runs target `name` on `data`; `false` for an unknown target name.
pub fn run(name: &str, data: &[u8]) -> bool {
    match name {
        "idx" => idx(data),
        "npy" => npy(data),
        "task" => task(data),
        "checkpoint" => checkpoint(data),
        "config" => config(data),
        _ => return false,
    }
    true
}

/// The IDX reader: decompression (gzip detected by its magic bytes, capped), then the image
/// and the label parsers.
pub fn idx(data: &[u8]) {
    let path = Path::new("fuzz.idx");
    if let Ok(bytes) = crate::io::idx::decode(data.to_vec(), path, IDX_LIMIT) {
        let _ = crate::io::idx::parse_labels(&bytes, path);
        let _ = crate::io::idx::parse_images(bytes, path);
    }
}

/// The `.npy` task reader: the first byte picks which file of a small valid task is replaced
/// by the rest of the input (`x.npy`, `labels.npy`, `mask.npy`, `cond_c.npy` or
/// `meta.json`), then the task directory is loaded.
pub fn npy(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let _ = crate::io::npy::parse_npy(rest);
    let Some(dir) = scratch("npy") else {
        return;
    };
    let mut files: Vec<(&str, Vec<u8>)> = vec![
        ("x.npy", npy_f32(&[2, 3, 1], &[0.0, 1.0, 0.5, -1.0, 2.0, 0.25])),
        ("labels.npy", npy_i64(&[3], &[0, 1, 1])),
        ("cond_c.npy", npy_f32(&[3], &[0.1, -0.2, 0.3])),
        ("meta.json", br#"{"dt": 20, "outputs": 2}"#.to_vec()),
    ];
    let slot = usize::from(which) % (files.len() + 1);
    if slot == files.len() {
        files.push(("mask.npy", rest.to_vec()));
    } else {
        files[slot].1 = rest.to_vec();
    }
    for (name, bytes) in &files {
        if std::fs::write(dir.join(name), bytes).is_err() {
            return;
        }
    }
    let _ = crate::task::user::UserTask::load(&dir);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The safetensors task reader.
pub fn task(data: &[u8]) {
    let _ = crate::task::user::UserTask::from_safetensors_bytes(Path::new("fuzz.safetensors"), data.to_vec());
}

/// The checkpoint reader of either family, as `sasnet eval` and `--resume` meet it: a run
/// directory holding the bytes as its checkpoint and, as its `config.toml`, the
/// configuration the checkpoint carries in its metadata (when it carries one), opened with
/// [`crate::api::Run::open`].
pub fn checkpoint(data: &[u8]) {
    let Some(dir) = scratch("checkpoint") else {
        return;
    };
    let config = crate::io::tensors::TensorFile::from_bytes(Path::new("fuzz.safetensors"), data.to_vec())
        .ok()
        .and_then(|f| f.metadata().get("config").cloned())
        .unwrap_or_default();
    let ok = std::fs::write(dir.join(crate::run::files::CHECKPOINT), data).is_ok()
        && std::fs::write(dir.join(crate::run::files::CONFIG), config).is_ok()
        && std::fs::write(dir.join(crate::run::files::METRICS), "epoch,train_loss\n").is_ok();
    if ok {
        let _ = crate::api::Run::open(&dir);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The TOML configuration readers of both families, with validation.
pub fn config(data: &[u8]) {
    use crate::config::Settings;
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(c) = crate::config::Config::from_toml(text, "fuzz.toml") {
        let _ = c.validate();
    }
    if let Ok(c) = crate::ff::FfConfig::from_toml(text, "fuzz.toml") {
        let _ = c.validate();
    }
}

/// A fresh, empty scratch directory for this process and `what`.
fn scratch(what: &str) -> Option<PathBuf> {
    let dir = std::env::temp_dir().join(format!("sasnet-fuzz-{}-{what}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).ok()?;
    Some(dir)
}

/// An `.npy` (format 1.0) of little-endian f32 values.
fn npy_f32(shape: &[usize], v: &[f32]) -> Vec<u8> {
    npy_bytes("<f4", shape, v.iter().flat_map(|x| x.to_le_bytes()).collect())
}

/// An `.npy` (format 1.0) of little-endian i64 values.
fn npy_i64(shape: &[usize], v: &[i64]) -> Vec<u8> {
    npy_bytes("<i8", shape, v.iter().flat_map(|x| x.to_le_bytes()).collect())
}

fn npy_bytes(descr: &str, shape: &[usize], data: Vec<u8>) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_npy_task_is_valid() {
        // Slot 5 (mask.npy) replaced by a valid mask would still load; an empty input after
        // the selector byte must give an error, not a panic, for every slot.
        for which in 0u8..5 {
            npy(&[which]);
        }
        let dir = scratch("npy-valid").unwrap();
        std::fs::write(
            dir.join("x.npy"),
            npy_f32(&[2, 3, 1], &[0.0, 1.0, 0.5, -1.0, 2.0, 0.25]),
        )
        .unwrap();
        std::fs::write(dir.join("labels.npy"), npy_i64(&[3], &[0, 1, 1])).unwrap();
        std::fs::write(dir.join("cond_c.npy"), npy_f32(&[3], &[0.1, -0.2, 0.3])).unwrap();
        std::fs::write(dir.join("meta.json"), br#"{"dt": 20, "outputs": 2}"#).unwrap();
        let t = crate::task::user::UserTask::load(&dir).unwrap();
        assert_eq!((t.steps(), t.len(), t.inputs(), t.outputs()), (2, 3, 1, 2));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn every_target_takes_garbage() {
        for name in TARGETS {
            for data in [
                &b""[..],
                b"\x00",
                b"\x1f\x8b\x08",
                b"\x93NUMPY\x01\x00\xff\xff",
                b"[model]\nn = 1e30\n",
            ] {
                assert!(run(name, data));
            }
        }
        assert!(!run("nope", b""));
    }
}
