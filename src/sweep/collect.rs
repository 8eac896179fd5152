//! One table over a sweep's runs: for every row its final mean-field test accuracy (and the
//! mean network's), test loss and training loss from the last evaluated row of its
//! `metrics.csv` (every run evaluates after its last epoch); for every grid point the
//! per-seed values with mean, sample std, 95 % t-interval and n ([`crate::stats::SeedStats`]).
//! Rows that are not finished are listed with their state and left out of the statistics.
//!
//! Written into `<sweep>/collect/`: `rows.csv` (one line per run), `points.csv` (one line per
//! grid point), `results.json` (both), `results.html` (both as tables).

use super::manifest::Manifest;
use super::row::{RowState, status};
use crate::error::Result;
use crate::io::atomic::write_atomic;
use crate::stats::SeedStats;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Folder of the collected table inside the sweep folder.
pub const DIR: &str = "collect";

/// One run's final numbers.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RowResult {
    /// Row index.
    pub index: usize,
    /// Grid point index.
    pub point: Option<usize>,
    /// Seed.
    pub seed: u64,
    /// Run directory (relative to the sweep folder).
    pub dir: PathBuf,
    /// Where the row stands.
    pub state: RowState,
    /// Completed epochs.
    pub epoch: usize,
    /// Final mean-field test accuracy (fraction; NaN unless finished).
    pub test_acc_mean_field: f64,
    /// Final test accuracy of the mean network (fraction).
    pub test_acc_mean: f64,
    /// Final mean-field test loss.
    pub test_loss: f64,
    /// Training loss of the last epoch.
    pub train_loss: f64,
}

/// One grid point's statistics over its seeds.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct PointResult {
    /// Point index.
    pub index: usize,
    /// Point name.
    pub name: String,
    /// Its overrides.
    pub sets: Vec<String>,
    /// Its seeds, in row order.
    pub seeds: Vec<u64>,
    /// Final mean-field test accuracy over the seeds.
    pub test_acc_mean_field: SeedStats,
    /// Final mean-network test accuracy over the seeds.
    pub test_acc_mean: SeedStats,
    /// Final mean-field test loss over the seeds.
    pub test_loss: SeedStats,
}

/// The collected table.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Collected {
    /// The manifest's title.
    pub title: String,
    /// Whether every row is finished.
    pub complete: bool,
    /// One entry per grid point.
    pub points: Vec<PointResult>,
    /// One entry per row.
    pub rows: Vec<RowResult>,
    /// The files written.
    pub files: Vec<PathBuf>,
}

/// `(test_acc_mean_field, test_acc_mean, test_loss, train_loss)` of the last evaluated epoch
/// in `dir/metrics.csv` (the training loss of the last epoch).
fn final_numbers(dir: &Path) -> Result<[f64; 4]> {
    let path = dir.join(crate::run::files::METRICS);
    let text = std::fs::read_to_string(&path).map_err(crate::run::io_err("reading", &path))?;
    let m = crate::analysis::Metrics::parse(&text, &path.display().to_string())?;
    let col = |name: &str| m.header.iter().position(|h| h == name);
    let (mf, mean, tl, trl) = (
        col("test_acc_mean_field"),
        col("test_acc_mean"),
        col("test_loss"),
        col("train_loss"),
    );
    let get = |r: &Vec<f64>, c: Option<usize>| c.and_then(|c| r.get(c).copied()).unwrap_or(f64::NAN);
    let evaluated = m.rows.iter().rev().find(|r| get(r, mf).is_finite());
    let last = m.rows.last();
    Ok(match evaluated {
        Some(r) => [
            get(r, mf),
            get(r, mean),
            get(r, tl),
            last.map_or(f64::NAN, |l| get(l, trl)),
        ],
        None => [
            f64::NAN,
            f64::NAN,
            f64::NAN,
            last.map_or(f64::NAN, |l| get(l, trl)),
        ],
    })
}

/// Collects the sweep in `root` (manifest `m`) and writes the table (see the module docs).
pub fn collect(m: &Manifest, root: &Path) -> Result<Collected> {
    let st = status(m, root)?;
    let mut rows = Vec::new();
    for (row, s) in m.rows.iter().zip(&st) {
        let nums = if s.state == RowState::Finished {
            final_numbers(&Manifest::row_dir(root, row))?
        } else {
            [f64::NAN; 4]
        };
        rows.push(RowResult {
            index: row.index,
            point: row.point,
            seed: row.seed,
            dir: row.dir.clone(),
            state: s.state,
            epoch: s.epoch,
            test_acc_mean_field: nums[0],
            test_acc_mean: nums[1],
            test_loss: nums[2],
            train_loss: nums[3],
        });
    }
    let points = m
        .points
        .iter()
        .map(|p| {
            let mine: Vec<&RowResult> = rows.iter().filter(|r| r.point == Some(p.index)).collect();
            let of = |f: fn(&RowResult) -> f64| SeedStats::of(&mine.iter().map(|r| f(r)).collect::<Vec<_>>());
            PointResult {
                index: p.index,
                name: p.name.clone(),
                sets: p.sets.clone(),
                seeds: mine.iter().map(|r| r.seed).collect(),
                test_acc_mean_field: of(|r| r.test_acc_mean_field),
                test_acc_mean: of(|r| r.test_acc_mean),
                test_loss: of(|r| r.test_loss),
            }
        })
        .collect();
    let mut c = Collected {
        title: m.title.clone(),
        complete: st.iter().all(|s| s.state == RowState::Finished),
        points,
        rows,
        files: Vec::new(),
    };
    let dir = root.join(DIR);
    std::fs::create_dir_all(&dir).map_err(crate::run::io_err("creating", &dir))?;
    let files = [
        (dir.join("rows.csv"), rows_csv(&c)),
        (dir.join("points.csv"), points_csv(&c)),
        (dir.join("results.html"), html(&c)),
    ];
    for (path, text) in &files {
        write_atomic(path, text.as_bytes())?;
        c.files.push(path.clone());
    }
    let json = dir.join("results.json");
    c.files.push(json.clone());
    write_atomic(
        &json,
        serde_json::to_string_pretty(&c).expect("serializes").as_bytes(),
    )?;
    Ok(c)
}

/// A number for CSV and HTML: full precision, empty for NaN.
fn num(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        String::new()
    }
}

fn quote(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn rows_csv(c: &Collected) -> String {
    let mut t = String::from(
        "row,point,seed,dir,state,epoch,test_acc_mean_field,test_acc_mean,test_loss,train_loss\n",
    );
    for r in &c.rows {
        let _ = writeln!(
            t,
            "{},{},{},{},{},{},{},{},{},{}",
            r.index,
            r.point.map(|p| p.to_string()).unwrap_or_default(),
            r.seed,
            quote(&r.dir.display().to_string()),
            r.state.name(),
            r.epoch,
            num(r.test_acc_mean_field),
            num(r.test_acc_mean),
            num(r.test_loss),
            num(r.train_loss)
        );
    }
    t
}

fn values(s: &SeedStats) -> String {
    s.values.iter().map(|&v| num(v)).collect::<Vec<_>>().join(";")
}

fn points_csv(c: &Collected) -> String {
    let mut t = String::from(
        "point,name,overrides,n,acc_mean,acc_sd,acc_ci95,acc_lo,acc_hi,acc_values,\
         loss_mean,loss_sd,loss_ci95,loss_values,acc_mean_network_mean,seeds\n",
    );
    for p in &c.points {
        let (a, l) = (&p.test_acc_mean_field, &p.test_loss);
        let seeds: Vec<String> = p.seeds.iter().map(u64::to_string).collect();
        let _ = writeln!(
            t,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            p.index,
            quote(&p.name),
            quote(&p.sets.join(" ")),
            a.n,
            num(a.mean),
            num(a.sd),
            num(a.ci95),
            num(a.lo),
            num(a.hi),
            values(a),
            num(l.mean),
            num(l.sd),
            num(l.ci95),
            values(l),
            num(p.test_acc_mean.mean),
            seeds.join(";")
        );
    }
    t
}

fn html(c: &Collected) -> String {
    use crate::report::html::esc;
    let pct = |x: f64| {
        if x.is_finite() {
            format!("{:.2}", 100.0 * x)
        } else {
            "–".into()
        }
    };
    let mut h = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>sasnet: {}</title>\n\
         <style>{}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        esc(&c.title),
        crate::report::html::STYLE,
        esc(&c.title)
    );
    if !c.complete {
        let open = c.rows.iter().filter(|r| r.state != RowState::Finished).count();
        let _ = writeln!(
            h,
            "<p><strong>{open} of {} runs are not finished</strong>; they are left out of the statistics.</p>",
            c.rows.len()
        );
    }
    h.push_str(
        "<h2>Grid points</h2>\n<p>Final mean-field test accuracy (%) and test loss of each run (its last \
         evaluation, after the last epoch); mean ± half-width of the 95 % t-interval over the n finished seeds, \
         sample standard deviation.</p>\n<table>\n<tr><th>point</th><th>overrides</th><th>n</th>\
         <th>accuracy (%)</th><th>sd</th><th>per seed</th><th>test loss</th><th>per seed</th></tr>\n",
    );
    for p in &c.points {
        let a = &p.test_acc_mean_field;
        let l = &p.test_loss;
        let per = |s: &SeedStats, f: &dyn Fn(f64) -> String| {
            s.values.iter().map(|&v| f(v)).collect::<Vec<_>>().join(" / ")
        };
        let loss = |x: f64| {
            if x.is_finite() {
                format!("{x:.4}")
            } else {
                "–".into()
            }
        };
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}{}</td><td class=\"num\">{}</td></tr>",
            esc(&p.name),
            esc(&p.sets.join(" ")),
            a.n,
            pct(a.mean),
            if a.n > 1 {
                format!(" ± {}", pct(a.ci95))
            } else {
                String::new()
            },
            pct(a.sd),
            per(a, &pct),
            loss(l.mean),
            if l.n > 1 {
                format!(" ± {}", loss(l.ci95))
            } else {
                String::new()
            },
            per(l, &loss),
        );
    }
    h.push_str(
        "</table>\n<h2>Runs</h2>\n<table>\n<tr><th>row</th><th>run</th><th>state</th><th>epoch</th>\
                <th>accuracy (%)</th><th>mean network (%)</th><th>test loss</th><th>train loss</th></tr>\n",
    );
    for r in &c.rows {
        let _ = writeln!(
            h,
            "<tr><td class=\"num\">{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            r.index,
            esc(&r.dir.display().to_string()),
            r.state.name(),
            r.epoch,
            pct(r.test_acc_mean_field),
            pct(r.test_acc_mean),
            num(r.test_loss),
            num(r.train_loss)
        );
    }
    let _ = write!(
        h,
        "</table>\n<footer>Generated by sasnet {}.</footer>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION")
    );
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_numbers_take_the_last_evaluated_epoch() {
        let d = std::env::temp_dir().join(format!("sasnet-collect-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("metrics.csv"),
            "epoch,train_loss,train_acc,test_loss,test_acc_mean_field,test_acc_mean\n\
             1,0.9,0.5,0.8,0.6,0.61\n2,0.7,0.6,,,\n",
        )
        .unwrap();
        assert_eq!(final_numbers(&d).unwrap(), [0.6, 0.61, 0.8, 0.7]);
        assert_eq!(quote("a,b"), "\"a,b\"");
        std::fs::remove_dir_all(&d).ok();
    }
}
