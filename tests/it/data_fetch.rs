//! `sasnet::data::files::fetch` against a tiny HTTP server on 127.0.0.1 serving synthetic MNIST-shaped
//! IDX files (gzip). No internet is needed.

use flate2::Compression;
use flate2::write::GzEncoder;
use sasnet::SasError;
use sasnet::data::files::{DataFile, fetch, fetch_files, sha256_hex, verify_files};
use sasnet::task::mnist::{FILES, Mnist};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How the server answers one path.
#[derive(Clone)]
enum Reply {
    /// 200 with the body and its Content-Length.
    Ok(Vec<u8>),
    /// 404.
    NotFound,
    /// 200 declaring `declared` bytes in Content-Length but sending only the body, then closing.
    ShortBody { declared: usize, body: Vec<u8> },
    /// 200 without Content-Length: the body is the bytes sent before closing.
    UntilClose(Vec<u8>),
}

/// Starts a server answering `routes` (path -> reply; unknown paths get 404). Returns its base
/// URL `http://127.0.0.1:PORT`. The thread lives until the test process exits.
fn serve(routes: HashMap<String, Reply>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let routes = Arc::new(routes);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let routes = Arc::clone(&routes);
            std::thread::spawn(move || answer(stream, &routes));
        }
    });
    format!("http://{addr}")
}

fn answer(mut s: TcpStream, routes: &HashMap<String, Reply>) {
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    let line = String::from_utf8_lossy(&req);
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let reply = routes.get(&path).cloned().unwrap_or(Reply::NotFound);
    let (head, body) = match reply {
        Reply::Ok(b) => (format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n", b.len()), b),
        Reply::NotFound => (
            "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n".to_string(),
            b"not found".to_vec(),
        ),
        Reply::ShortBody { declared, body } => {
            (format!("HTTP/1.1 200 OK\r\nContent-Length: {declared}\r\n"), body)
        }
        Reply::UntilClose(b) => ("HTTP/1.1 200 OK\r\n".to_string(), b),
    };
    let _ = s.write_all(format!("{head}Connection: close\r\n\r\n").as_bytes());
    let _ = s.write_all(&body);
    let _ = s.flush();
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn idx(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut v = magic.to_be_bytes().to_vec();
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend_from_slice(data);
    v
}

/// Synthetic raw IDX content of the four files (3 train and 2 test images of 28x28), in the
/// order of `FILES`.
fn synthetic() -> [Vec<u8>; 4] {
    let img = |n: u32| {
        let px: Vec<u8> = (0..n as usize * 784).map(|k| (k % 251) as u8).collect();
        idx(0x803, &[n, 28, 28], &px)
    };
    [
        img(3),
        idx(0x801, &[3], &[5, 0, 4]),
        img(2),
        idx(0x801, &[2], &[7, 2]),
    ]
}

/// Routes serving the gzip of each synthetic file under `prefix`.
fn routes(prefix: &str, raw: &[Vec<u8>; 4]) -> HashMap<String, Reply> {
    FILES
        .iter()
        .zip(raw)
        .map(|(name, r)| (format!("{prefix}{name}.gz"), Reply::Ok(gzip(r))))
        .collect()
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sasnet-fetch-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Names of everything in `dir` (including temporaries).
fn entries(dir: &Path) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn download_failures(r: sasnet::Result<impl std::fmt::Debug>) -> (String, Vec<String>) {
    match r {
        Err(SasError::Download { name, failures }) => (name, failures),
        other => panic!("expected a download error, got {other:?}"),
    }
}

#[test]
fn real_checksums_reject_synthetic_files_and_write_nothing() {
    let raw = synthetic();
    let base = serve(routes("/mnist/", &raw));
    let dir = tmp("mismatch");
    let mirror = format!("{base}/mnist/");
    let (name, failures) = download_failures(fetch(&dir, std::slice::from_ref(&mirror)));
    assert_eq!(name, "train-images-idx3-ubyte.gz");
    assert_eq!(failures.len(), 1);
    let f = &failures[0];
    assert!(
        f.starts_with(&format!("{mirror}train-images-idx3-ubyte.gz: ")),
        "{f}"
    );
    assert!(f.contains("checksum mismatch"), "{f}");
    // The download and decompression worked: the SHA-256 reported is the synthetic content's.
    assert!(f.contains(&sha256_hex(&raw[0])), "{f}");
    assert!(
        f.contains("ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
        "{f}"
    );
    assert_eq!(
        entries(&dir),
        Vec::<String>::new(),
        "a rejected download left files behind"
    );
    let msg = SasError::Download { name, failures }.to_string();
    assert!(
        msg.contains("could not download train-images-idx3-ubyte.gz"),
        "{msg}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn matching_checksums_download_verify_and_load() {
    let raw = synthetic();
    let hashes: Vec<String> = raw.iter().map(|r| sha256_hex(r)).collect();
    let files: Vec<DataFile> = FILES
        .iter()
        .zip(&hashes)
        .map(|(name, h)| DataFile { name, sha256: h })
        .collect();
    let base = serve(routes("/good/", &raw));
    let dir = tmp("ok");
    // The first mirror answers 404 (and lacks a trailing slash); the second one works.
    let mirrors = vec![format!("{base}/missing"), format!("{base}/good/")];
    let got = fetch_files(&dir, &mirrors, &files).unwrap();
    for (g, name) in got.iter().zip(FILES) {
        assert_eq!(g.name, name);
        assert_eq!(g.path, dir.join(format!("{name}.gz")));
        assert_eq!(g.url.as_deref(), Some(format!("{base}/good/{name}.gz").as_str()));
    }
    for (name, r) in FILES.iter().zip(&raw) {
        assert_eq!(std::fs::read(dir.join(format!("{name}.gz"))).unwrap(), gzip(r));
    }
    let mut names = entries(&dir);
    names.sort();
    assert_eq!(names.len(), 4, "{names:?}");
    let checks = verify_files(&dir, &files).unwrap();
    assert!(checks.iter().all(|c| c.is_ok()), "{checks:?}");
    let m = Mnist::load(&dir).unwrap();
    assert_eq!((m.train.count, m.test.count), (3, 2));
    assert_eq!((m.train_labels, m.test_labels), (vec![5, 0, 4], vec![7, 2]));
    // A second fetch finds everything in place and downloads nothing.
    let again = fetch_files(&dir, &mirrors, &files).unwrap();
    assert!(again.iter().all(|g| g.url.is_none()), "{again:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn not_found_truncated_and_unreachable_are_clear_errors_and_leave_no_files() {
    let raw = synthetic();
    let gz = gzip(&raw[1]);
    let hash = sha256_hex(&raw[1]);
    let file = [DataFile {
        name: "train-labels-idx1-ubyte",
        sha256: &hash,
    }];
    let path = "/train-labels-idx1-ubyte.gz";
    let short = gz[..gz.len() / 2].to_vec();
    let server = |reply: Reply| serve(HashMap::from([(path.to_string(), reply)]));
    let not_found = server(Reply::NotFound);
    let short_body = server(Reply::ShortBody {
        declared: gz.len(),
        body: short.clone(),
    });
    let until_close = server(Reply::UntilClose(short));
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let dir = tmp("bad");
    for (mirror, want) in [
        (&not_found, "HTTP status 404"),
        (&short_body, "reading the response body failed"),
        (&until_close, "truncated gzip"),
        (&closed, "onnect"),
    ] {
        let (name, failures) = download_failures(fetch_files(&dir, std::slice::from_ref(mirror), &file));
        assert_eq!(name, "train-labels-idx1-ubyte.gz");
        let f = &failures[0];
        assert!(f.starts_with(&format!("{mirror}{path}: ")), "{f}");
        assert!(f.contains(want), "{f}");
        eprintln!("{f}");
        assert_eq!(entries(&dir), Vec::<String>::new(), "{mirror} left files behind");
    }
    // All mirrors together: every URL and its failure is reported.
    let all = [
        not_found.clone(),
        short_body.clone(),
        until_close.clone(),
        closed.clone(),
    ];
    let (_, failures) = download_failures(fetch_files(&dir, &all, &file));
    assert_eq!(failures.len(), 4);
    for (f, m) in failures.iter().zip(&all) {
        assert!(f.starts_with(m.as_str()), "{f}");
    }
    assert_eq!(entries(&dir), Vec::<String>::new());
    let _ = std::fs::remove_dir_all(&dir);
}
