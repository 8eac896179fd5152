//! The HTML report: one self-contained page for one configuration (one or several seeds).
//!
//! The page holds a header (run directories, preset, seeds, epochs, key settings), a table of
//! contents, and one section per analysis with its figures (PNG embedded as base64 data URIs,
//! so the page needs nothing but itself), their captions, the key numbers of the analysis'
//! `summary`, and relative links to the data files and to each figure's SVG and PNG.
//! The page loads no external resource; a small inline script records, once the page has
//! loaded, how many images decoded (`data-images-ok` and `data-images-total` on `<body>`), so
//! a headless browser can check it.

use crate::analysis::AnalysisResult;
use crate::analysis::RunData;
use crate::error::{Result, SasError};
use crate::output::figure::Figure;
use crate::output::num;
use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

/// Writes the report page for `outputs` (analyses of `runs`) to `path` (atomically).
///
/// Figures are embedded from the PNG files listed in each output's `files` (as written by
/// `pipeline::analyze::run_all`); a figure without one is rendered next to the page
/// into `figures/<analysis>/`.
pub fn write_report(outputs: &[AnalysisResult], runs: &[RunData], path: &Path) -> Result<()> {
    write_report_with_failures(outputs, &[], runs, path)
}

/// One table row per run: its directory (linked relative to `page_dir`), seed and completed
/// epochs.
pub(crate) fn run_rows<F: crate::family::Family>(h: &mut String, runs: &[RunData<F>], page_dir: &Path) {
    for r in runs {
        let _ = writeln!(
            h,
            "<tr><td><a href=\"{}\">{}</a></td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            href(&rel_path(page_dir, &r.dir)),
            esc(&r.dir.display().to_string()),
            F::seed(&r.cfg),
            r.epoch
        );
    }
}

/// The folder a page at `path` lives in (its links are relative to it): the parent, or `.`.
pub(crate) fn page_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Creates the page's folder, builds the page with `html(folder)` and writes it atomically.
fn write_html(path: &Path, html: impl FnOnce(&Path) -> Result<String>) -> Result<()> {
    let dir = page_dir(path);
    std::fs::create_dir_all(&dir).map_err(|source| SasError::Io {
        action: "creating",
        path: dir.clone(),
        source,
    })?;
    let text = html(&dir)?;
    crate::io::atomic::write_atomic(path, text.as_bytes())
}

/// Like [`write_report`], and lists the analyses that failed (`(name, error message)`).
pub(crate) fn write_report_with_failures(
    outputs: &[AnalysisResult],
    failures: &[(&str, String)],
    runs: &[RunData],
    path: &Path,
) -> Result<()> {
    write_html(path, |dir| report_html(outputs, failures, runs, dir))
}

/// Like [`write_report_with_failures`] with the page titled `title` instead of the runs'
/// preset (pages without runs, such as the theory reproduction).
pub(crate) fn write_report_titled(
    title: &str,
    outputs: &[AnalysisResult],
    failures: &[(&str, String)],
    runs: &[RunData],
    path: &Path,
) -> Result<()> {
    write_html(path, |dir| {
        report_html_titled(title, outputs, failures, runs, dir)
    })
}

/// The report page as a string; links are relative to `page_dir`, the folder the page will be
/// written to.
pub(crate) fn report_html(
    outputs: &[AnalysisResult],
    failures: &[(&str, String)],
    runs: &[RunData],
    page_dir: &Path,
) -> Result<String> {
    let preset = runs.first().map(|r| r.cfg.preset.name()).unwrap_or("(no runs)");
    report_html_titled(preset, outputs, failures, runs, page_dir)
}

/// [`report_html`] with the page titled `sasnet report: <title>`.
pub(crate) fn report_html_titled(
    title: &str,
    outputs: &[AnalysisResult],
    failures: &[(&str, String)],
    runs: &[RunData],
    page_dir: &Path,
) -> Result<String> {
    let mut head = String::new();
    if !runs.is_empty() {
        header(&mut head, runs, page_dir);
    }
    page_html(outputs, failures, title, &head, page_dir)
}

/// Writes a report page (atomically) whose header section — the runs and their settings — is
/// the HTML fragment `header_html` (built by the caller, e.g. the feed-forward report), with
/// title `sasnet report: <title>`, then the same contents, analysis sections and failures as
/// [`write_report_with_failures`].
pub(crate) fn write_page(
    outputs: &[AnalysisResult],
    failures: &[(&str, String)],
    title: &str,
    header_html: &str,
    path: &Path,
) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(|source| SasError::Io {
        action: "creating",
        path: dir.clone(),
        source,
    })?;
    let html = page_html(outputs, failures, title, header_html, &dir)?;
    crate::io::atomic::write_atomic(path, html.as_bytes())
}

/// The page around a header fragment: title, header, contents, sections, failures, footer.
fn page_html(
    outputs: &[AnalysisResult],
    failures: &[(&str, String)],
    title: &str,
    header_html: &str,
    page_dir: &Path,
) -> Result<String> {
    let mut h = String::with_capacity(1 << 20);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>sasnet report: {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        esc(title)
    );
    let _ = writeln!(h, "<h1>sasnet report: {}</h1>", esc(title));
    h.push_str(header_html);

    // Table of contents.
    h.push_str("<nav><h2>Contents</h2><ol>\n");
    for o in outputs {
        let _ = writeln!(
            h,
            "<li><a href=\"#{}\">{}</a></li>",
            anchor(o.name),
            esc(&o.title)
        );
    }
    let claims = crate::analysis::claims::assess(outputs);
    if !claims.is_empty() {
        h.push_str("<li><a href=\"#claims\">Closing note: the journal version's claims</a></li>\n");
    }
    if !failures.is_empty() {
        h.push_str("<li><a href=\"#failed\">Analyses that failed</a></li>\n");
    }
    h.push_str("</ol></nav>\n");

    for o in outputs {
        section(&mut h, o, page_dir)?;
    }
    claims_section(&mut h, &claims);
    if !failures.is_empty() {
        h.push_str("<section id=\"failed\"><h2>Analyses that failed</h2><ul>\n");
        for (name, msg) in failures {
            let _ = writeln!(h, "<li><b>{}</b>: <code>{}</code></li>", esc(name), esc(msg));
        }
        h.push_str("</ul></section>\n");
    }
    let _ = write!(
        h,
        "<footer>Generated by sasnet {}.</footer>\n<script>{SCRIPT}</script>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION")
    );
    Ok(h)
}

pub(crate) const STYLE: &str = "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;\
color:#222;line-height:1.45}h1{border-bottom:2px solid #ccc;padding-bottom:.3em}\
h2{margin-top:2em;border-bottom:1px solid #ddd}table{border-collapse:collapse;margin:.5em 0}\
td,th{border:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top}\
th{background:#f4f4f4}td.num{font-family:monospace;text-align:right}\
figure{margin:1.5em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}\
figcaption{font-size:.95em;color:#444;margin-top:.3em}.links{font-size:.9em}\
code{background:#f6f6f6;padding:0 .2em}footer{margin-top:3em;color:#777;font-size:.85em}";

/// Counts the images that decoded once the page has loaded (for headless checks).
const SCRIPT: &str = "window.addEventListener('load',function(){var im=document.images,ok=0;\
for(var i=0;i<im.length;i++){if(im[i].complete&&im[i].naturalWidth>0){ok++;}}\
document.body.dataset.imagesOk=String(ok);document.body.dataset.imagesTotal=String(im.length);});";

fn header(h: &mut String, runs: &[RunData], page_dir: &Path) {
    h.push_str("<section id=\"runs\"><h2>Runs</h2>\n<table>\n");
    h.push_str("<tr><th>run directory</th><th>seed</th><th>epochs completed</th></tr>\n");
    run_rows(h, runs, page_dir);
    h.push_str("</table>\n");
    let Some(r) = runs.first() else {
        h.push_str("<p>No runs.</p></section>\n");
        return;
    };
    let c = &r.cfg;
    let d = r.net.dims();
    let seeds: Vec<String> = runs.iter().map(|r| r.cfg.seed.to_string()).collect();
    let epochs: Vec<String> = runs.iter().map(|r| r.epoch.to_string()).collect();
    let sas: Vec<&str> = [
        ("in", c.model.sas_in),
        ("rec", c.model.sas_rec),
        ("out", c.model.sas_out),
    ]
    .iter()
    .filter(|(_, on)| *on)
    .map(|(n, _)| *n)
    .collect();
    let lr =
        |g: &crate::config::LayerGroups| format!("m {}, π {}, Ξ {}", num(g.m.lr), num(g.pi.lr), num(g.xi.lr));
    let mut rows: Vec<(&str, String)> = vec![
        ("preset", c.preset.name().to_string()),
        ("task", c.task.kind.to_string()),
        ("seeds", seeds.join(", ")),
        (
            "epochs completed (configured)",
            format!("{} ({})", epochs.join(", "), c.train.epochs),
        ),
        ("network N, I, K", format!("{}, {}, {}", d.n, d.i, d.k)),
        (
            "α, σ, h(0)",
            format!(
                "{}, {}, {}",
                num(c.model.alpha),
                num(c.model.sigma),
                num(c.model.h0)
            ),
        ),
        (
            "spike-and-slab layers",
            if sas.is_empty() {
                "none".into()
            } else {
                sas.join(", ")
            },
        ),
        (
            "optimizer",
            format!("{}; clip {}", c.optim.kind, num(c.optim.clip)),
        ),
        ("learning rates in", lr(&c.optim.inp)),
        ("learning rates rec", lr(&c.optim.rec)),
        ("learning rates out", lr(&c.optim.out)),
        (
            "batch × minibatches per epoch",
            format!("{} × {}", c.train.batch, c.train.minibatches),
        ),
    ];
    if c.train.stop_loss > 0.0 {
        rows.push((
            "early stop",
            format!(
                "loss ≤ {} after {} epochs",
                num(c.train.stop_loss),
                c.train.stop_after
            ),
        ));
    }
    if c.task.kind == crate::config::TaskKind::Msi {
        let m = &c.task.msi;
        rows.push((
            "MSI periods train (Δt)",
            format!(
                "{}/{}/{} ms ({} ms)",
                num(m.fixation_ms),
                num(m.stimulus_ms),
                num(m.decision_ms),
                num(m.dt_ms)
            ),
        ));
        rows.push((
            "MSI periods test (Δt)",
            format!(
                "{}/{}/{} ms ({} ms)",
                num(m.test_fixation_ms),
                num(m.test_stimulus_ms),
                num(m.test_decision_ms),
                num(m.test_dt_ms)
            ),
        ));
    } else if c.task.train_limit > 0 {
        rows.push(("training images", c.task.train_limit.to_string()));
    }
    rows.push((
        "evaluation",
        format!(
            "every {} epochs; {} trials per condition (test)",
            c.eval.every, c.eval.trials_per_condition
        ),
    ));
    h.push_str("<h3>Settings</h3>\n<table>\n");
    for (k, v) in rows {
        let _ = writeln!(h, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(&v));
    }
    h.push_str("</table>\n");
    let cfg_file = r.dir.join(crate::run::files::CONFIG);
    let _ = writeln!(
        h,
        "<p class=\"links\">Full configuration: <a href=\"{}\">{}</a></p>",
        href(&rel_path(page_dir, &cfg_file)),
        esc(&cfg_file.display().to_string())
    );
    h.push_str("</section>\n");
}

fn section(h: &mut String, o: &AnalysisResult, page_dir: &Path) -> Result<()> {
    let _ = writeln!(
        h,
        "<section id=\"{}\">\n<h2>{}</h2>",
        anchor(o.name),
        esc(&o.title)
    );
    for f in &o.figures {
        figure(h, o, f, page_dir)?;
    }
    let rows = summary_rows(&o.summary_json());
    if !rows.is_empty() {
        h.push_str("<h3>Key numbers</h3>\n<table>\n");
        const MAX_ROWS: usize = 80;
        for (k, v) in rows.iter().take(MAX_ROWS) {
            let _ = writeln!(h, "<tr><th>{}</th><td class=\"num\">{}</td></tr>", esc(k), esc(v));
        }
        if rows.len() > MAX_ROWS {
            let _ = writeln!(
                h,
                "<tr><td colspan=\"2\">… {} more in summary.json</td></tr>",
                rows.len() - MAX_ROWS
            );
        }
        h.push_str("</table>\n");
    }
    let data: Vec<&PathBuf> = o.files.iter().filter(|p| !is_image(p)).collect();
    if !data.is_empty() {
        h.push_str("<h3>Data files</h3>\n<ul class=\"links\">\n");
        for p in data {
            let rel = rel_path(page_dir, p);
            let _ = writeln!(h, "<li><a href=\"{}\">{}</a></li>", href(&rel), esc(&rel));
        }
        h.push_str("</ul>\n");
    }
    h.push_str("</section>\n");
    Ok(())
}

/// The closing note: each claim of the journal version that the report's analyses measured,
/// with the verdict and the numbers ([`super::claims`]).
fn claims_section(h: &mut String, claims: &[crate::analysis::claims::Claim]) {
    if claims.is_empty() {
        return;
    }
    h.push_str(
        "<section id=\"claims\">\n<h2>Closing note: the journal version's claims</h2>\n<p>The \
         mechanistic statements of the journal version's abstract and text, and sasnet's own tests \
         of them (each row names its source), judged by a fixed rule from the numbers above (the \
         rule is part of each row). Every ± is the half-width of the 95 % t-interval of the mean \
         over training seeds, with n stated.</p>\n<table>\n<tr><th>claim</th><th>source</th>\
         <th>verdict</th><th>evidence (analysis)</th></tr>\n",
    );
    for c in claims {
        let links: Vec<String> = c
            .analyses
            .iter()
            .map(|a| format!("<a href=\"#{}\">{}</a>", anchor(a), esc(a)))
            .collect();
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td><b>{}</b></td><td>{} ({})</td></tr>",
            esc(&c.claim),
            esc(&c.source),
            esc(c.verdict.text()),
            esc(&c.evidence),
            links.join(", ")
        );
    }
    h.push_str("</table>\n</section>\n");
}

fn is_image(p: &Path) -> bool {
    matches!(p.extension().and_then(|e| e.to_str()), Some("png" | "svg"))
}

/// The file in `files` named `<stem>.<ext>`.
fn find_file<'a>(files: &'a [PathBuf], stem: &str, ext: &str) -> Option<&'a PathBuf> {
    let want = format!("{stem}.{ext}");
    files
        .iter()
        .find(|p| p.file_name().and_then(|n| n.to_str()) == Some(want.as_str()))
}

fn figure(h: &mut String, o: &AnalysisResult, f: &Figure, page_dir: &Path) -> Result<()> {
    let (svg, png) = match (
        find_file(&o.files, &f.name, "svg"),
        find_file(&o.files, &f.name, "png").filter(|p| p.is_file()),
    ) {
        (svg, Some(png)) => (svg.cloned(), png.clone()),
        _ => {
            let (s, p) = super::render::render(f, &page_dir.join("figures").join(o.name))?;
            (Some(s), p)
        }
    };
    let bytes = std::fs::read(&png).map_err(|source| SasError::Io {
        action: "reading",
        path: png.clone(),
        source,
    })?;
    let _ = write!(
        h,
        "<figure id=\"{}-{}\">\n<img alt=\"{}\" width=\"{}\" height=\"{}\" src=\"data:image/png;base64,",
        anchor(o.name),
        anchor(&f.name),
        esc(&f.title),
        super::render::WIDTH,
        super::render::HEIGHT
    );
    base64_into(&bytes, h);
    h.push_str("\">\n<figcaption>");
    let _ = write!(h, "<b>{}.</b> {}", esc(&f.title), esc(&f.caption));
    h.push_str(" <span class=\"links\">[");
    if let Some(s) = &svg {
        let _ = write!(h, "<a href=\"{}\">SVG</a> · ", href(&rel_path(page_dir, s)));
    }
    let _ = write!(
        h,
        "<a href=\"{}\">PNG</a>]</span>",
        href(&rel_path(page_dir, &png))
    );
    h.push_str("</figcaption>\n</figure>\n");
    Ok(())
}

/// The summary flattened to `(dotted key, formatted value)` rows.
pub fn summary_rows(v: &serde_json::Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    flatten("", v, &mut out);
    out
}

fn flatten(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
    use serde_json::Value;
    let key = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                flatten(&key(k), v, out);
            }
        }
        Value::Array(a) if a.iter().all(|x| x.is_number() || x.is_null()) => {
            let nums: Vec<f64> = a.iter().map(|x| x.as_f64().unwrap_or(f64::NAN)).collect();
            let text = if nums.len() <= 10 {
                let s: Vec<String> = nums.iter().map(|&x| num(x)).collect();
                format!("[{}]", s.join(", "))
            } else {
                let fin: Vec<f64> = nums.iter().copied().filter(|x| x.is_finite()).collect();
                let mean = fin.iter().sum::<f64>() / fin.len().max(1) as f64;
                let (lo, hi) = fin.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &x| {
                    (l.min(x), h.max(x))
                });
                if fin.is_empty() {
                    format!("{} values (none finite)", nums.len())
                } else {
                    format!(
                        "{} values, mean {}, range [{}, {}]",
                        nums.len(),
                        num(mean),
                        num(lo),
                        num(hi)
                    )
                }
            };
            out.push((prefix.to_string(), text));
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                flatten(&key(&i.to_string()), x, out);
            }
        }
        Value::Number(n) => out.push((prefix.to_string(), n.as_f64().map(num).unwrap_or_default())),
        Value::String(s) => out.push((prefix.to_string(), s.clone())),
        Value::Bool(b) => out.push((prefix.to_string(), b.to_string())),
        Value::Null => out.push((prefix.to_string(), "–".into())),
    }
}

/// HTML-escapes text (also safe inside double-quoted attributes).
pub(crate) fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// An element id from a name: ASCII letters, digits, `-` and `_`; anything else as `-`.
fn anchor(s: &str) -> String {
    let a: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("a-{a}")
}

/// Percent-encodes a relative path for an `href` (keeps `/`, letters, digits and `-._~`).
pub fn href(rel: &str) -> String {
    let mut o = String::with_capacity(rel.len());
    for b in rel.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            o.push(b as char);
        } else {
            let _ = write!(o, "%{b:02X}");
        }
    }
    o
}

/// `to` relative to the folder `from`, with `/` separators (both made absolute first; `..`
/// where needed; the absolute path when they share no root).
pub(crate) fn rel_path(from: &Path, to: &Path) -> String {
    let abs = |p: &Path| {
        std::fs::canonicalize(p).unwrap_or_else(|_| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                std::env::current_dir()
                    .map(|d| d.join(p))
                    .unwrap_or_else(|_| p.to_path_buf())
            }
        })
    };
    let (f, t) = (abs(from), abs(to));
    let fc: Vec<Component> = f.components().collect();
    let tc: Vec<Component> = t.components().collect();
    let common = fc.iter().zip(&tc).take_while(|(a, b)| a == b).count();
    if common == 0 {
        return t.display().to_string();
    }
    let mut parts: Vec<String> = vec!["..".into(); fc.len() - common];
    parts.extend(
        tc[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

/// Appends the standard base64 encoding (with padding) of `data` to `out`.
pub(crate) fn base64_into(data: &[u8], out: &mut String) {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    out.reserve(data.len().div_ceil(3) * 4);
    for ch in data.chunks(3) {
        let b = [ch[0], *ch.get(1).unwrap_or(&0), *ch.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if ch.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if ch.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::figure::{Plot, Series};

    #[test]
    fn base64_matches_the_rfc_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            let mut s = String::new();
            base64_into(i.as_bytes(), &mut s);
            assert_eq!(s, o);
        }
    }

    #[test]
    fn helpers() {
        assert_eq!(esc("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
        assert_eq!(num(0.123456), "0.1235");
        assert_eq!(num(12.0), "12");
        assert_eq!(num(1234.5678), "1235");
        assert_eq!(num(2.5e-5), "2.5e-5");
        assert_eq!(num(f64::NAN), "NaN");
        assert_eq!(href("a b/c#d.csv"), "a%20b/c%23d.csv");
        assert_eq!(rel_path(Path::new("/x/y"), Path::new("/x/y/a/b.csv")), "a/b.csv");
        assert_eq!(rel_path(Path::new("/x/y"), Path::new("/x/z/b.csv")), "../z/b.csv");
        let v = serde_json::json!({"acc": {"mean": 0.91234, "std": [0.1, null]}, "n": 3,
            "long": (0..20).collect::<Vec<i32>>(), "name": "x", "list": [{"a": 1}]});
        let rows = summary_rows(&v);
        let get = |k: &str| rows.iter().find(|(a, _)| a == k).map(|(_, b)| b.as_str());
        assert_eq!(get("acc.mean"), Some("0.9123"));
        assert_eq!(get("acc.std"), Some("[0.1, NaN]"));
        assert_eq!(get("n"), Some("3"));
        assert_eq!(get("long"), Some("20 values, mean 9.5, range [0, 19]"));
        assert_eq!(get("list.0.a"), Some("1"));
    }

    #[test]
    fn page_embeds_figures_without_runs() {
        let dir = std::env::temp_dir().join(format!("sasnet-html-{}", std::process::id()));
        let fig = Figure {
            name: "curve".into(),
            title: "A <curve>".into(),
            x_label: "epoch".into(),
            y_label: "loss".into(),
            log_y: false,
            caption: "caption & more".into(),
            plot: Plot::Lines(vec![Series {
                label: "loss".into(),
                x: vec![0.0, 1.0, 2.0],
                y: vec![1.0, 0.5, 0.25],
                band: None,
                markers: true,
            }]),
        };
        let data = dir.join("a").join("curve.csv");
        std::fs::create_dir_all(data.parent().unwrap()).unwrap();
        std::fs::write(&data, "x\n1\n").unwrap();
        let mut out = AnalysisResult::with(
            "accuracy",
            "Accuracy",
            Vec::new(),
            vec![fig],
            serde_json::json!({"final": 0.5}),
        );
        out.files.push(data);
        let page = dir.join("report.html");
        write_report_with_failures(&[out], &[("x", "boom <b>".into())], &[], &page).unwrap();
        let html = std::fs::read_to_string(&page).unwrap();
        assert!(html.contains("data:image/png;base64,iVBORw0KGgo"));
        assert!(html.contains("A &lt;curve&gt;"));
        assert!(html.contains("href=\"a/curve.csv\""));
        assert!(html.contains("boom &lt;b&gt;"));
        assert!(html.contains("data-images") || html.contains("imagesOk"));
        assert!(!html.contains("http://") && !html.contains("https://"));
        assert!(dir.join("figures/accuracy/curve.png").is_file());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
