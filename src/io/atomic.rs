//! Atomic file writes: temporary file in the same folder, fsync, rename, fsync of the folder.
//! A reader (or a killed run) sees either the old file or the complete new one.

use crate::error::{Result, SasError};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| SasError::Io {
        action: "writing",
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file path"),
    })?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp: PathBuf = dir.join(tmp_name);
    let io_err = |action: &'static str, p: &Path| {
        let p = p.to_path_buf();
        move |source| SasError::Io {
            action,
            path: p,
            source,
        }
    };
    let result = (|| {
        let mut f = File::create(&tmp).map_err(io_err("creating", &tmp))?;
        f.write_all(bytes).map_err(io_err("writing", &tmp))?;
        f.sync_all().map_err(io_err("syncing", &tmp))?;
        drop(f);
        fs::rename(&tmp, path).map_err(io_err("renaming into", path))?;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_file_and_leaves_no_temporary() {
        let d = std::env::temp_dir().join(format!("sasnet-atomic-{}", std::process::id()));
        fs::create_dir_all(&d).unwrap();
        let p = d.join("a.bin");
        write_atomic(&p, b"first").unwrap();
        write_atomic(&p, b"second").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"second");
        let n = fs::read_dir(&d).unwrap().count();
        assert_eq!(n, 1, "a temporary file was left behind");
        fs::remove_dir_all(&d).unwrap();
    }
}
