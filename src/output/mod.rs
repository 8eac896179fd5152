//! The output layer: what an analysis hands on ([`Computed`]: a typed summary, tables and
//! JSON data as values, figures as data ([`figure`])) — with the writers and the number
//! formatting every page and caption shares. It sits below the analyses, the theory and the
//! report, and depends only on `error`, `io` and `stats`.

pub mod figure;

use crate::error::{Result, SasError};
use std::path::{Path, PathBuf};

/// A table an analysis computed: what is written as the CSV file `name` (header + rows of
/// numbers; NaN written as an empty field).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Table {
    /// File name, e.g. `accuracy.csv`.
    pub name: String,
    /// Column names.
    pub header: Vec<String>,
    /// Rows, each as long as the header.
    pub rows: Vec<Vec<f64>>,
}

impl Table {
    /// The table `name` with columns `header` and `rows`.
    pub fn new<S: AsRef<str>>(name: &str, header: &[S], rows: Vec<Vec<f64>>) -> Table {
        Table {
            name: name.into(),
            header: header.iter().map(|h| h.as_ref().to_string()).collect(),
            rows,
        }
    }

    /// The values of column `name`, if it exists.
    pub fn column(&self, name: &str) -> Option<Vec<f64>> {
        let i = self.header.iter().position(|h| h == name)?;
        Some(self.rows.iter().map(|r| r[i]).collect())
    }
}

/// A data set an analysis computed that is written as a JSON file (besides `summary.json`),
/// e.g. per-seed curves too nested for a table.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct DataFile {
    /// File name, e.g. `perturb.json`.
    pub name: String,
    /// The content.
    pub value: serde_json::Value,
}

/// One data artefact of an analysis, in the order it is written.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub enum Data {
    /// A CSV table.
    Table(Table),
    /// A JSON data file.
    Json(DataFile),
}

impl Data {
    /// The file name it is written under.
    pub fn name(&self) -> &str {
        match self {
            Data::Table(t) => &t.name,
            Data::Json(j) => &j.name,
        }
    }
}

/// What an analysis (or the theory) computed, in memory: a typed summary `S` (written as
/// `summary.json`), its tables and JSON data as values ([`Data`]), its figures as data, and
/// the files it had to write while computing (analyses that train networks write their runs;
/// every other analysis none). Writing is a separate step ([`Computed::write`]; rendering the
/// figures is the report's). It serializes as `{name, title, files, figures, summary}` with
/// the summary as `summary.json` holds it (the tables and data are in the files).
#[derive(Clone, Debug)]
pub struct Computed<S> {
    /// Analysis name (as on the command line, e.g. `entropy`; also its folder).
    pub name: &'static str,
    /// Section title for the report.
    pub title: String,
    /// Key numbers (also written as `summary.json`).
    pub summary: S,
    /// Tables and JSON data, in writing order.
    pub data: Vec<Data>,
    /// Figures to render (SVG and PNG) and show in the report.
    pub figures: Vec<figure::Figure>,
    /// Files that exist: those written while computing, then (once written by the pipeline)
    /// the data, `summary.json` and the rendered figures.
    pub files: Vec<PathBuf>,
    /// The MSI test time step (ms) the evaluations ran at when it was not the runs' own;
    /// written into `summary.json` as `msi_test_dt_ms`.
    pub msi_test_dt_ms: Option<f64>,
}

impl<S: serde::Serialize> serde::Serialize for Computed<S> {
    fn serialize<Z: serde::Serializer>(&self, z: Z) -> std::result::Result<Z::Ok, Z::Error> {
        use serde::ser::SerializeStruct;
        let mut m = z.serialize_struct("Computed", 5)?;
        m.serialize_field("name", self.name)?;
        m.serialize_field("title", &self.title)?;
        m.serialize_field("files", &self.files)?;
        m.serialize_field("figures", &self.figures)?;
        m.serialize_field("summary", &self.summary_json())?;
        m.end()
    }
}

impl<S: serde::Serialize> Computed<S> {
    /// The result of analysis `name` (section `title`) with its summary and nothing else yet.
    pub fn new(name: &'static str, title: impl Into<String>, summary: S) -> Self {
        Computed::with(name, title, Vec::new(), Vec::new(), summary)
    }

    /// The result of analysis `name` (section `title`) with its data, figures and summary.
    pub fn with(
        name: &'static str,
        title: impl Into<String>,
        data: Vec<Data>,
        figures: Vec<figure::Figure>,
        summary: impl Into<S>,
    ) -> Self {
        Computed {
            name,
            title: title.into(),
            summary: summary.into(),
            data,
            figures,
            files: Vec::new(),
            msi_test_dt_ms: None,
        }
    }

    /// Adds the table `name` (`header`, `rows`).
    pub fn table<H: AsRef<str>>(&mut self, name: &str, header: &[H], rows: Vec<Vec<f64>>) {
        self.data.push(Data::Table(Table::new(name, header, rows)));
    }

    /// Adds the JSON data file `name` with the serialization of `value`.
    pub fn json<V: serde::Serialize>(&mut self, name: &str, value: &V) -> Result<()> {
        self.data.push(json_data(name, value)?);
        Ok(())
    }

    /// The table called `name`, if computed.
    pub fn table_named(&self, name: &str) -> Option<&Table> {
        self.data.iter().find_map(|d| match d {
            Data::Table(t) if t.name == name => Some(t),
            _ => None,
        })
    }

    /// The summary as JSON, exactly as `summary.json` holds it (with `msi_test_dt_ms` when
    /// set); `null` if it cannot be serialized (it always can: plain numbers and strings).
    pub fn summary_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(&self.summary).unwrap_or(serde_json::Value::Null);
        if let (Some(dt), serde_json::Value::Object(m)) = (self.msi_test_dt_ms, &mut v) {
            m.insert("msi_test_dt_ms".into(), serde_json::json!(dt));
        }
        v
    }

    /// The same result with the summary mapped by `f` (e.g. into an enum of summaries).
    pub fn map_summary<T>(self, f: impl FnOnce(S) -> T) -> Computed<T> {
        Computed {
            name: self.name,
            title: self.title,
            summary: f(self.summary),
            data: self.data,
            figures: self.figures,
            files: self.files,
            msi_test_dt_ms: self.msi_test_dt_ms,
        }
    }

    /// [`Computed::write`], then the same result with the written paths added to its files.
    pub fn written(mut self, dir: &Path) -> Result<Self> {
        let files = self.write(dir)?;
        self.files.extend(files);
        Ok(self)
    }

    /// Writes the data (CSV tables, JSON files) and `summary.json` into `dir` (created) and
    /// returns their paths in that order. Figures are not rendered here (the report does).
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir).map_err(|source| SasError::Io {
            action: "creating",
            path: dir.to_path_buf(),
            source,
        })?;
        let mut files = Vec::new();
        for d in &self.data {
            let p = dir.join(d.name());
            files.push(match d {
                Data::Table(t) => write_csv(&p, &t.header, &t.rows)?,
                Data::Json(j) => write_json(&p, &j.value)?,
            });
        }
        files.push(write_json(&dir.join("summary.json"), &self.summary_json())?);
        Ok(files)
    }
}

/// The table `name` (`header`, a copy of `rows`) as [`Data`] (a `Result` only so that it
/// reads like the writers it replaces).
pub(crate) fn csv<H: AsRef<str>>(name: &str, header: &[H], rows: &[Vec<f64>]) -> Result<Data> {
    Ok(Data::Table(Table::new(name, header, rows.to_vec())))
}

/// The JSON data file `name` holding the serialization of `value`, as [`Data`].
pub(crate) fn json_data<V: serde::Serialize>(name: &str, value: &V) -> Result<Data> {
    let value = serde_json::to_value(value).map_err(|e| SasError::FileFormat {
        name: name.into(),
        reason: e.to_string(),
    })?;
    Ok(Data::Json(DataFile {
        name: name.into(),
        value,
    }))
}

/// Writes a CSV file (header + rows of numbers; NaN written as an empty field).
pub(crate) fn write_csv<H: AsRef<str>>(path: &Path, header: &[H], rows: &[Vec<f64>]) -> Result<PathBuf> {
    let h: Vec<&str> = header.iter().map(AsRef::as_ref).collect();
    let mut s = h.join(",");
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
