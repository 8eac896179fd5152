//! The output layer: what an analysis hands on — data files (CSV, JSON), figures as data
//! ([`figure`]) and a JSON summary ([`AnalysisOutput`]) — with the writers and the number
//! formatting every page and caption shares. It sits below the analyses, the theory and the
//! report, and depends only on `error`, `io` and `stats`.

pub mod figure;

use crate::error::{Result, SasError};
use std::path::{Path, PathBuf};

/// What an analysis produces: data files, figure descriptions and a JSON summary.
#[derive(Clone, Debug, serde::Serialize)]
pub struct AnalysisOutput {
    /// Analysis name (as on the command line, e.g. `entropy`).
    pub name: String,
    /// Section title for the report.
    pub title: String,
    /// Files written (CSV / JSON / NPY).
    pub files: Vec<PathBuf>,
    /// Figures to render (SVG and PNG) and show in the report.
    pub figures: Vec<figure::Figure>,
    /// Key numbers (also written as `summary.json`).
    pub summary: serde_json::Value,
}

impl AnalysisOutput {
    /// The output of analysis `name` (section `title`) with its data files, figures and
    /// summary.
    pub fn new(
        name: &str,
        title: impl Into<String>,
        files: Vec<PathBuf>,
        figures: Vec<figure::Figure>,
        summary: serde_json::Value,
    ) -> Self {
        AnalysisOutput {
            name: name.into(),
            title: title.into(),
            files,
            figures,
            summary,
        }
    }

    /// [`AnalysisOutput::new`] after writing the summary as `out/summary.json` (added to the
    /// files).
    pub fn written(
        out: &Path,
        name: &str,
        title: impl Into<String>,
        mut files: Vec<PathBuf>,
        figures: Vec<figure::Figure>,
        summary: serde_json::Value,
    ) -> Result<Self> {
        files.push(write_json(&out.join("summary.json"), &summary)?);
        Ok(AnalysisOutput::new(name, title, files, figures, summary))
    }
}

/// Writes a CSV file (header + rows of numbers; NaN written as an empty field).
pub(crate) fn write_csv(path: &Path, header: &[&str], rows: &[Vec<f64>]) -> Result<PathBuf> {
    let mut s = header.join(",");
    s.push('\n');
    for r in rows {
        let f: Vec<String> = r
            .iter()
            .map(|v| if v.is_nan() { String::new() } else { format!("{v}") })
            .collect();
        s.push_str(&f.join(","));
        s.push('\n');
    }
    crate::io::atomic::write_atomic(path, s.as_bytes())?;
    Ok(path.to_path_buf())
}

/// Writes pretty JSON.
pub(crate) fn write_json<S: serde::Serialize>(path: &Path, value: &S) -> Result<PathBuf> {
    let text = serde_json::to_string_pretty(value).map_err(|e| SasError::FileFormat {
        name: path.display().to_string(),
        reason: e.to_string(),
    })?;
    crate::io::atomic::write_atomic(path, text.as_bytes())?;
    Ok(path.to_path_buf())
}

/// Mean and sample standard deviation (n − 1; NaN below two values) across seeds of equally
/// long series (`series[seed][i]`); NaN entries are skipped ([`crate::stats::SeriesBand`]).
pub(crate) fn mean_std(series: &[Vec<f64>]) -> (Vec<f64>, Vec<f64>) {
    let b = crate::stats::SeriesBand::of(series);
    (b.mean, b.sd)
}

/// Mean and half-width of the 95 % t-interval of the mean across seeds of equally long series
/// (0 where fewer than two seeds have a value, so a band collapses onto the line).
pub(crate) fn mean_ci(series: &[Vec<f64>]) -> (Vec<f64>, Vec<f64>) {
    let b = crate::stats::SeriesBand::of(series);
    let half = b.hi.iter().zip(&b.mean).map(|(h, m)| h - m).collect();
    (b.mean, half)
}

/// A number with 4 significant digits (integers as they are).
pub(crate) fn num(x: f64) -> String {
    if !x.is_finite() {
        return if x.is_nan() { "NaN".into() } else { format!("{x}") };
    }
    if x == x.trunc() && x.abs() < 1e9 {
        return format!("{x}");
    }
    let a = x.abs();
    if !(1e-3..1e6).contains(&a) {
        let s = format!("{x:.3e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let m = if m.contains('.') {
            m.trim_end_matches('0').trim_end_matches('.')
        } else {
            m
        };
        return format!("{m}e{e}");
    }
    let decimals = (3 - a.log10().floor() as i32).max(0) as usize;
    let s = format!("{x:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}
