//! The MNIST files on disk: checksum verification ([`verify`]) and download ([`fetch`]).
//!
//! A file is identified by the SHA-256 of its **decompressed** content, so a raw IDX file and
//! any gzip compression of it verify alike. Downloads are checked in memory before anything is
//! written, and written atomically: a failed, truncated or mismatching download never leaves a
//! file behind.

use crate::error::{Result, SasError};
use crate::io::atomic::write_atomic;
use crate::io::idx::{MAX_DECODED_BYTES, decode, read_decoded};
use crate::task::mnist::{TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS, locate};
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One data file: its base name (without `.gz`) and the SHA-256 of its decompressed content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataFile<'a> {
    /// Base name, e.g. `train-images-idx3-ubyte`; on disk it may carry a `.gz` suffix.
    pub name: &'a str,
    /// SHA-256 of the decompressed content, 64 lowercase hex digits.
    pub sha256: &'a str,
}

/// The four MNIST files with the SHA-256 of their decompressed (original IDX) content.
pub const MNIST_FILES: [DataFile<'static>; 4] = [
    DataFile {
        name: TRAIN_IMAGES,
        sha256: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    },
    DataFile {
        name: TRAIN_LABELS,
        sha256: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    },
    DataFile {
        name: TEST_IMAGES,
        sha256: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    },
    DataFile {
        name: TEST_LABELS,
        sha256: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
];

/// Default download mirrors, tried in order: base URLs to which `NAME.gz` is appended.
/// Any mirror is acceptable because every download is checked against [`MNIST_FILES`].
pub const DEFAULT_MIRRORS: [&str; 2] = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
];

/// [`DEFAULT_MIRRORS`] as owned strings, the form [`fetch`] takes.
pub fn default_mirrors() -> Vec<String> {
    DEFAULT_MIRRORS.iter().map(|s| s.to_string()).collect()
}

/// Lowercase hex SHA-256 of `bytes` (64 characters).
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Outcome of checking one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckStatus {
    /// The decompressed content has the expected SHA-256.
    Ok,
    /// The decompressed content has another SHA-256.
    Mismatch {
        /// Expected SHA-256 (hex).
        expected: String,
        /// SHA-256 found (hex).
        actual: String,
    },
    /// Neither `NAME` nor `NAME.gz` exists.
    Missing,
    /// The file exists but cannot be read or decompressed (I/O error, corrupt gzip, too large).
    Unreadable {
        /// The error.
        reason: String,
    },
}

/// The check of one data file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileCheck {
    /// Base name, e.g. `train-images-idx3-ubyte`.
    pub name: String,
    /// The file checked (raw preferred over `.gz`, as [`crate::task::mnist::Mnist::load`]
    /// reads it); `None` when missing.
    pub path: Option<PathBuf>,
    /// The outcome.
    pub status: CheckStatus,
}

impl FileCheck {
    /// Whether the file is present with the expected checksum.
    pub fn is_ok(&self) -> bool {
        self.status == CheckStatus::Ok
    }
}

impl fmt::Display for FileCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = self
            .path
            .as_ref()
            .map_or(self.name.clone(), |p| p.display().to_string());
        match &self.status {
            CheckStatus::Ok => write!(f, "{shown}: ok"),
            CheckStatus::Mismatch { expected, actual } => write!(
                f,
                "{shown}: checksum mismatch (SHA-256 of the decompressed content is {actual}, \
                 expected {expected})"
            ),
            CheckStatus::Missing => write!(f, "{shown}: missing (neither {0} nor {0}.gz)", self.name),
            CheckStatus::Unreadable { reason } => write!(f, "{shown}: unreadable: {reason}"),
        }
    }
}

/// Checks the four MNIST files in `dir` against [`MNIST_FILES`]; see [`verify_files`].
pub fn verify(dir: &Path) -> Result<Vec<FileCheck>> {
    verify_files(dir, &MNIST_FILES)
}

/// Checks each of `files` in `dir` (`NAME`, else `NAME.gz`) by the SHA-256 of its decompressed
/// content. Returns one [`FileCheck`] per file, in order; a bad file is a status, not an error.
///
/// Errors: [`SasError::Data`] if `dir` is not a directory.
pub fn verify_files(dir: &Path, files: &[DataFile<'_>]) -> Result<Vec<FileCheck>> {
    if !dir.is_dir() {
        return Err(SasError::Data {
            path: dir.to_path_buf(),
            reason: "not a directory".into(),
        });
    }
    Ok(files.iter().map(|f| check_one(dir, f)).collect())
}

fn check_one(dir: &Path, file: &DataFile<'_>) -> FileCheck {
    let path = locate(dir, file.name);
    let status = match &path {
        None => CheckStatus::Missing,
        Some(p) => match read_decoded(p, MAX_DECODED_BYTES) {
            Err(e) => CheckStatus::Unreadable {
                reason: e.to_string(),
            },
            Ok(content) => {
                let actual = sha256_hex(&content);
                if actual == file.sha256 {
                    CheckStatus::Ok
                } else {
                    CheckStatus::Mismatch {
                        expected: file.sha256.to_string(),
                        actual,
                    }
                }
            }
        },
    };
    FileCheck {
        name: file.name.to_string(),
        path,
        status,
    }
}

/// What [`fetch`] did for one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetched {
    /// Base name, e.g. `train-images-idx3-ubyte`.
    pub name: String,
    /// The verified file now in the directory.
    pub path: PathBuf,
    /// The URL it was downloaded from; `None` if a verified copy was already there.
    pub url: Option<String>,
}

impl fmt::Display for Fetched {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.url {
            Some(url) => write!(f, "{}: downloaded from {url}, verified", self.path.display()),
            None => write!(f, "{}: already present, verified", self.path.display()),
        }
    }
}

/// Downloads the four MNIST `.gz` files into `dir` (created if needed); see [`fetch_files`].
pub fn fetch(dir: &Path, mirrors: &[String]) -> Result<Vec<Fetched>> {
    fetch_files(dir, mirrors, &MNIST_FILES)
}

/// Makes `dir` hold a verified copy of each of `files`.
///
/// A file already present whose decompressed SHA-256 matches is kept. Otherwise `NAME.gz` is
/// requested from each mirror in turn (URL = mirror base, with a `/` added if it lacks one,
/// followed by `NAME.gz`) over HTTP or HTTPS; the first response that is a complete, intact
/// gzip (or raw) stream of at most 64 MiB whose decompressed SHA-256 matches is written
/// atomically to `dir/NAME.gz`. Nothing is written for a failed, truncated, corrupt or
/// mismatching download. Proxies are taken from the usual environment variables.
///
/// Errors: [`SasError::Download`] naming every URL tried and why it failed, for the first file
/// that no mirror supplied; [`SasError::Data`] if `mirrors` is empty while a file is needed, or
/// if after the downloads a file still does not verify (e.g. a stale raw `NAME`, which takes
/// precedence over `NAME.gz`); [`SasError::Io`] if `dir` cannot be created or written.
pub fn fetch_files(dir: &Path, mirrors: &[String], files: &[DataFile<'_>]) -> Result<Vec<Fetched>> {
    std::fs::create_dir_all(dir).map_err(|source| SasError::Io {
        action: "creating directory",
        path: dir.to_path_buf(),
        source,
    })?;
    let agent = agent();
    let mut done = Vec::with_capacity(files.len());
    for file in files {
        let check = check_one(dir, file);
        if let (true, Some(path)) = (check.is_ok(), &check.path) {
            done.push(Fetched {
                name: file.name.to_string(),
                path: path.clone(),
                url: None,
            });
            continue;
        }
        if mirrors.is_empty() {
            return Err(SasError::Data {
                path: dir.to_path_buf(),
                reason: format!("{check}, and no download mirror was given"),
            });
        }
        let gz_name = format!("{}.gz", file.name);
        let mut failures = Vec::new();
        let mut got = None;
        for mirror in mirrors {
            let url = mirror_url(mirror, &gz_name);
            match download_verified(&agent, &url, file.sha256) {
                Ok(bytes) => {
                    got = Some((url, bytes));
                    break;
                }
                Err(reason) => failures.push(format!("{url}: {reason}")),
            }
        }
        let Some((url, bytes)) = got else {
            return Err(SasError::Download {
                name: gz_name,
                failures,
            });
        };
        let path = dir.join(&gz_name);
        write_atomic(&path, &bytes)?;
        done.push(Fetched {
            name: file.name.to_string(),
            path,
            url: Some(url),
        });
    }
    for (file, fetched) in files.iter().zip(&done) {
        let check = check_one(dir, file);
        if !check.is_ok() {
            return Err(SasError::Data {
                path: check.path.clone().unwrap_or_else(|| fetched.path.clone()),
                reason: format!("after download: {check}"),
            });
        }
    }
    Ok(done)
}

/// `base` + `/` (if missing) + `name`.
fn mirror_url(base: &str, name: &str) -> String {
    if base.ends_with('/') {
        format!("{base}{name}")
    } else {
        format!("{base}/{name}")
    }
}

/// The HTTP client: non-2xx statuses are errors, stalled transfers time out.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(true)
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_per_read(Some(Duration::from_secs(60)))
        .timeout_global(Some(Duration::from_secs(30 * 60)))
        .build()
        .into()
}

/// Downloads `url` and checks it; returns the bytes as received, or why they are unusable.
fn download_verified(agent: &ureq::Agent, url: &str, sha256: &str) -> std::result::Result<Vec<u8>, String> {
    let mut response = agent.get(url).call().map_err(describe_http_error)?;
    let bytes = response
        .body_mut()
        .with_config()
        .limit(MAX_DECODED_BYTES)
        .read_to_vec()
        .map_err(|e| format!("reading the response body failed: {}", describe_http_error(e)))?;
    let content = decode(bytes.clone(), Path::new(url), MAX_DECODED_BYTES).map_err(|e| match e {
        SasError::Idx { reason, .. } => reason,
        other => other.to_string(),
    })?;
    let actual = sha256_hex(&content);
    if actual != sha256 {
        return Err(format!(
            "checksum mismatch: SHA-256 of the decompressed content ({} bytes) is {actual}, \
             expected {sha256}",
            content.len()
        ));
    }
    Ok(bytes)
}

fn describe_http_error(e: ureq::Error) -> String {
    match e {
        ureq::Error::StatusCode(code) => format!("HTTP status {code}"),
        ureq::Error::BodyExceedsLimit(limit) => format!("response is larger than {limit} bytes"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_known_strings() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn urls_join_with_one_slash() {
        assert_eq!(mirror_url("http://a/b/", "f.gz"), "http://a/b/f.gz");
        assert_eq!(mirror_url("http://a/b", "f.gz"), "http://a/b/f.gz");
    }

    #[test]
    fn verify_reports_each_status() {
        let d = std::env::temp_dir().join(format!("sasnet-data-verify-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("a"), b"hello").unwrap();
        std::fs::write(d.join("b.gz"), b"hello").unwrap();
        std::fs::write(d.join("c.gz"), b"\x1f\x8b\x08garbage").unwrap();
        let good = sha256_hex(b"hello");
        let files = [
            DataFile {
                name: "a",
                sha256: &good,
            },
            DataFile {
                name: "b",
                sha256: "00",
            },
            DataFile {
                name: "c",
                sha256: &good,
            },
            DataFile {
                name: "e",
                sha256: &good,
            },
        ];
        let c = verify_files(&d, &files).unwrap();
        assert!(c[0].is_ok());
        assert_eq!(c[0].path.as_deref(), Some(d.join("a").as_path()));
        assert!(matches!(&c[1].status, CheckStatus::Mismatch { actual, .. } if *actual == good));
        assert!(matches!(&c[2].status, CheckStatus::Unreadable { reason } if reason.contains("gzip")));
        assert_eq!(
            (c[3].status.clone(), c[3].path.clone()),
            (CheckStatus::Missing, None)
        );
        assert!(c[1].to_string().contains("checksum mismatch"), "{}", c[1]);
        assert!(c[3].to_string().contains("missing"), "{}", c[3]);
        assert!(matches!(
            verify_files(&d.join("none"), &files),
            Err(SasError::Data { .. })
        ));
        // Nothing to download when all files are present and verified.
        let ok = [DataFile {
            name: "a",
            sha256: &good,
        }];
        let f = fetch_files(&d, &[], &ok).unwrap();
        assert_eq!(f[0].url, None);
        assert!(
            f[0].to_string().ends_with("a: already present, verified"),
            "{}",
            f[0]
        );
        // A needed file and no mirrors is a clear error.
        let e = fetch_files(&d, &[], &files[1..2]).unwrap_err().to_string();
        assert!(e.contains("no download mirror"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
