//! Renders a [`Figure`] to SVG and PNG with `plotters`.
//!
//! Every figure is drawn at [`WIDTH`] × [`HEIGHT`] pixels with fonts large enough for a slide.
//! Line charts draw shaded bands (e.g. mean ± std over seeds) under their lines and optional
//! markers (series whose labels agree up to the first `" ("` share a colour, e.g. data and
//! fit); histograms are overlaid semi-transparently; heat maps get a colour bar (viridis, or
//! a diverging blue–white–red map when the scale is symmetric about 0). Legends go in a plot
//! corner free of data, else in a column beside the plot. NaN and infinite values are gaps
//! (never a panic), as are values ≤ 0 on a logarithmic axis; a figure without any drawable
//! point shows its axes and "no data".
//!
//! PNG text is rasterized with the DejaVu Sans font embedded in the binary (`assets/`, see
//! `assets/LICENSE-DejaVu`); SVG text names the generic `sans-serif` family, so viewers use
//! their own sans-serif font.

use crate::error::{Result, SasError};
use crate::output::figure::{Figure, Heatmap, Histogram, Paths, Plot, Series};
use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Image width, pixels.
pub const WIDTH: u32 = 1000;
/// Image height, pixels.
pub const HEIGHT: u32 = 625;

/// The embedded font (DejaVu Sans) used to lay out and rasterize text.
static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
/// Font family name used for all text (generic, so SVG viewers substitute their own).
const FAMILY: &str = "sans-serif";
const TITLE_PX: u32 = 30;
const DESC_PX: u32 = 24;
const TICK_PX: u32 = 20;
const LEGEND_PX: u32 = 20;

/// Colours of successive series (the "tab10" palette).
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

type DrawResult<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn register_font() -> DrawResult {
    static ONCE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *ONCE.get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    if ok {
        Ok(())
    } else {
        Err("the embedded font could not be parsed".into())
    }
}

fn render_err(path: &Path, e: impl std::fmt::Display) -> SasError {
    SasError::Render {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Renders `fig` to `dir/<name>.svg` and `dir/<name>.png` (creating `dir`) and returns the
/// two paths `(svg, png)`. Files are written to a temporary name and renamed into place.
pub(crate) fn render(fig: &Figure, dir: &Path) -> Result<(PathBuf, PathBuf)> {
    let bad_name = fig.name.is_empty()
        || fig.name.starts_with('.')
        || fig.name.contains(['/', '\\'])
        || fig.name.chars().any(char::is_control);
    if bad_name {
        return Err(SasError::InvalidArgument {
            name: "figure name".into(),
            reason: format!("`{}` is not a plain file stem", fig.name),
        });
    }
    std::fs::create_dir_all(dir).map_err(|source| SasError::Io {
        action: "creating",
        path: dir.to_path_buf(),
        source,
    })?;
    let svg_path = dir.join(format!("{}.svg", fig.name));
    let png_path = dir.join(format!("{}.png", fig.name));
    register_font().map_err(|e| render_err(&svg_path, e))?;

    let svg = svg_string(fig).map_err(|e| render_err(&svg_path, e))?;
    crate::io::atomic::write_atomic(&svg_path, svg.as_bytes())?;

    // The bitmap encoder picks the format from the extension, so the temporary name ends in
    // `.png` too.
    let tmp = dir.join(format!(".{}.{}.tmp.png", fig.name, std::process::id()));
    let drawn = (|| -> DrawResult {
        let root = BitMapBackend::new(&tmp, (WIDTH, HEIGHT)).into_drawing_area();
        draw_figure(&root, fig)?;
        root.present()?;
        Ok(())
    })();
    if let Err(e) = drawn {
        let _ = std::fs::remove_file(&tmp);
        return Err(render_err(&png_path, e));
    }
    std::fs::rename(&tmp, &png_path).map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        SasError::Io {
            action: "renaming into",
            path: png_path.clone(),
            source,
        }
    })?;
    Ok((svg_path, png_path))
}

/// The SVG text of `fig`.
pub(crate) fn svg_string(fig: &Figure) -> Result<String> {
    let err = |e: Box<dyn std::error::Error + Send + Sync>| SasError::Render {
        path: PathBuf::from(format!("{}.svg", fig.name)),
        reason: e.to_string(),
    };
    register_font().map_err(err)?;
    let mut s = String::new();
    (|| -> DrawResult {
        let root = SVGBackend::with_string(&mut s, (WIDTH, HEIGHT)).into_drawing_area();
        draw_figure(&root, fig)?;
        root.present()?;
        Ok(())
    })()
    .map_err(err)?;
    Ok(s)
}

fn font(px: u32) -> TextStyle<'static> {
    (FAMILY, px).into_font().into()
}

/// Tick label: at most 4 significant decimals, scientific notation for very large or small.
fn tick(v: &f64) -> String {
    let v = *v;
    let a = v.abs();
    if v == 0.0 || !v.is_finite() {
        return if v.is_finite() { "0".into() } else { String::new() };
    }
    if !(1e-3..1e5).contains(&a) {
        let s = format!("{v:.2e}");
        let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let mant = mant.trim_end_matches('0').trim_end_matches('.');
        return format!("{mant}e{exp}");
    }
    let s = format!("{v:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A tick formatter for an axis spanning `span`: values within `span`·1e-9 of 0 (rounding
/// noise such as -5.55e-17) read "0".
fn snapped(span: f64) -> impl Fn(&f64) -> String {
    move |v: &f64| {
        if v.abs() <= span.abs() * 1e-9 {
            "0".into()
        } else {
            tick(v)
        }
    }
}

/// Draws the whole figure on `root` (title, plot, labels).
fn draw_figure<DB>(root: &DrawingArea<DB, Shift>, fig: &Figure) -> DrawResult
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let area = root.titled(&fig.title, font(TITLE_PX))?;
    match &fig.plot {
        Plot::Lines(series) => draw_lines(&area, fig, series),
        Plot::Histograms(hists) => draw_histograms(&area, fig, hists),
        Plot::Heatmap(h) => draw_heatmap(&area, fig, h),
        Plot::Paths(p) => draw_paths(&area, fig, p),
    }
}

/// Colours of line series: series whose labels agree up to the first `" ("` share a colour
/// (e.g. `visual (data)` drawn with markers and `visual (fit)` drawn as a line).
fn series_colors(series: &[Series]) -> Vec<RGBColor> {
    let mut keys: Vec<&str> = Vec::new();
    series
        .iter()
        .map(|s| {
            let key = s.label.split(" (").next().unwrap_or("");
            let k = match keys.iter().position(|&k| k == key && !key.is_empty()) {
                Some(k) => k,
                None => {
                    keys.push(key);
                    keys.len() - 1
                }
            };
            PALETTE[k % PALETTE.len()]
        })
        .collect()
}

/// `lo..hi` padded by 5% (or widened when degenerate); `None` without finite values.
fn padded(values: impl Iterator<Item = f64>, log: bool) -> Option<Range<f64>> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite() && (!log || *v > 0.0)) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        return None;
    }
    if log {
        let (l, h) = (lo.log10(), hi.log10());
        let pad = if h > l { 0.05 * (h - l) } else { 0.5 };
        return Some(10f64.powf(l - pad)..10f64.powf(h + pad));
    }
    if hi > lo {
        let pad = 0.05 * (hi - lo);
        Some(lo - pad..hi + pad)
    } else {
        let pad = if lo == 0.0 { 1.0 } else { 0.1 * lo.abs() };
        Some(lo - pad..hi + pad)
    }
}

/// Contiguous runs of indices `i` where `ok(i)` holds.
fn runs(len: usize, ok: impl Fn(usize) -> bool) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = None;
    for i in 0..=len {
        let good = i < len && ok(i);
        match (good, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push(s..i);
                start = None;
            }
            _ => {}
        }
    }
    out
}

fn finite_y(v: f64, log: bool) -> bool {
    v.is_finite() && (!log || v > 0.0)
}

fn draw_lines<DB>(area: &DrawingArea<DB, Shift>, fig: &Figure, series: &[Series]) -> DrawResult
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let log = fig.log_y;
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for s in series {
        let n = s.x.len().min(s.y.len());
        for i in 0..n {
            if s.x[i].is_finite() && finite_y(s.y[i], log) {
                xs.push(s.x[i]);
                ys.push(s.y[i]);
            }
        }
        if let Some((lo, hi)) = &s.band {
            for i in 0..n.min(lo.len()).min(hi.len()) {
                if s.x[i].is_finite() {
                    ys.extend([lo[i], hi[i]]);
                }
            }
        }
    }
    let empty = xs.is_empty();
    let xr = padded(xs.into_iter(), false).unwrap_or(0.0..1.0);
    let yr = padded(ys.into_iter(), log).unwrap_or(if log { 0.1..10.0 } else { 0.0..1.0 });
    let mut pts = Vec::new();
    for s in series {
        let n = s.x.len().min(s.y.len());
        for r in runs(n, |i| s.x[i].is_finite() && finite_y(s.y[i], log)) {
            let line: Vec<(f64, f64)> = r.map(|i| (s.x[i], s.y[i])).collect();
            normalized(&line, &xr, &yr, log, &mut pts);
        }
        // The shaded band's edges must stay clear of the legend too.
        if let Some((lo, hi)) = &s.band {
            let m = n.min(lo.len()).min(hi.len());
            for edge in [lo, hi] {
                for r in runs(m, |i| s.x[i].is_finite() && finite_y(edge[i], log)) {
                    let line: Vec<(f64, f64)> = r.map(|i| (s.x[i], edge[i])).collect();
                    normalized(&line, &xr, &yr, log, &mut pts);
                }
            }
        }
    }
    let labels = series.iter().filter(|s| !s.label.is_empty());
    let chars = labels.clone().map(|s| s.label.chars().count()).max().unwrap_or(0);
    let legend = legend_place(&pts, labels.count(), chars);
    let floor = yr.start;
    if log {
        lines_chart(area, fig, series, xr, yr.log_scale(), floor, empty, legend)
    } else {
        lines_chart(area, fig, series, xr, yr, floor, empty, legend)
    }
}

fn chart_builder<'a, 'b, DB: DrawingBackend>(area: &'a DrawingArea<DB, Shift>) -> ChartBuilder<'a, 'b, DB> {
    let mut b = ChartBuilder::on(area);
    b.margin(20).x_label_area_size(70).y_label_area_size(100);
    b
}

fn configure<'a, DB, X, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    fig: &Figure,
    empty: bool,
) -> DrawResult
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let (xr, yr) = (chart.x_range(), chart.y_range());
    let xt = snapped(xr.end - xr.start);
    // A log axis has no zero to snap to.
    let yt = snapped(if fig.log_y { 0.0 } else { yr.end - yr.start });
    chart
        .configure_mesh()
        .x_desc(fig.x_label.as_str())
        .y_desc(fig.y_label.as_str())
        .x_label_formatter(&xt)
        .y_label_formatter(&yt)
        .label_style(font(TICK_PX))
        .axis_desc_style(font(DESC_PX))
        .max_light_lines(if fig.log_y { 0 } else { 1 })
        .light_line_style(RGBColor(240, 240, 240))
        .bold_line_style(RGBColor(220, 220, 220))
        .draw()?;
    if empty {
        let (w, h) = chart.plotting_area().dim_in_pixel();
        let style =
            font(DESC_PX)
                .color(&RGBColor(120, 120, 120))
                .pos(plotters::style::text_anchor::Pos::new(
                    plotters::style::text_anchor::HPos::Center,
                    plotters::style::text_anchor::VPos::Center,
                ));
        chart.plotting_area().strip_coord_spec().draw_text(
            "no data",
            &style,
            (w as i32 / 2, h as i32 / 2),
        )?;
    }
    Ok(())
}

/// Where a legend goes.
#[derive(Clone, Debug)]
enum Legend {
    /// No labelled series.
    None,
    /// Inside the plot, in a corner free of data.
    Inside(SeriesLabelPosition),
    /// In a column of this many pixels right of the plot (every corner would hide data).
    Outside(u32),
}

/// Legend box width in pixels for labels of at most `chars` characters.
fn legend_width(chars: usize) -> u32 {
    (24 + 40 + 11 * chars as u32 + 12).min(340)
}

/// The legend place for `entries` labels of at most `chars` characters: the plot corner that
/// covers none of the points `pts` (normalized to [0, 1]² over the plot area), else a column
/// beside the plot.
fn legend_place(pts: &[(f64, f64)], entries: usize, chars: usize) -> Legend {
    if entries == 0 {
        return Legend::None;
    }
    // Approximate plotting area and legend size in pixels (see `chart_builder`, `draw_legend`).
    let (pw, ph) = (WIDTH as f64 - 140.0, HEIGHT as f64 - 160.0);
    // Plus the legend's offset from the corner and a little clearance.
    let wf = ((24 + 40 + 11 * chars + 12) as f64 + 30.0) / pw;
    let hf = (12.0 + 26.0 * entries as f64 + 12.0 + 30.0) / ph;
    let corners = [
        (SeriesLabelPosition::UpperRight, true, true),
        (SeriesLabelPosition::UpperLeft, false, true),
        (SeriesLabelPosition::LowerRight, true, false),
        (SeriesLabelPosition::LowerLeft, false, false),
    ];
    let covered = |right: bool, upper: bool| {
        pts.iter()
            .filter(|&&(x, y)| {
                let inx = if right { x >= 1.0 - wf } else { x <= wf };
                let iny = if upper { y >= 1.0 - hf } else { y <= hf };
                inx && iny
            })
            .count()
    };
    for (pos, right, upper) in corners {
        if covered(right, upper) == 0 {
            return Legend::Inside(pos);
        }
    }
    Legend::Outside(legend_width(chars) + 10)
}

/// How a legend entry is drawn.
#[derive(Clone, Copy)]
enum Swatch {
    /// A line of this width, with a marker or not.
    Line(u32, bool),
    /// A filled box.
    Fill,
}

/// Draws a legend in the column `side` (right of a plot): one row per entry.
fn draw_side_legend<DB>(side: &DrawingArea<DB, Shift>, entries: &[(&str, RGBColor, Swatch)]) -> DrawResult
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let (w, _) = side.dim_in_pixel();
    let max_chars = (w.saturating_sub(66) / 11).max(4) as usize;
    let style = font(LEGEND_PX).pos(plotters::style::text_anchor::Pos::new(
        plotters::style::text_anchor::HPos::Left,
        plotters::style::text_anchor::VPos::Center,
    ));
    for (i, &(label, color, swatch)) in entries.iter().enumerate() {
        let y = 40 + 30 * i as i32;
        match swatch {
            Swatch::Line(width, markers) => {
                side.draw(&PathElement::new(
                    vec![(10, y), (38, y)],
                    color.stroke_width(width),
                ))?;
                if markers {
                    side.draw(&Circle::new((24, y), 5, color.filled()))?;
                }
            }
            Swatch::Fill => {
                side.draw(&Rectangle::new(
                    [(10, y - 7), (38, y + 7)],
                    ShapeStyle::from(color.mix(0.5)).filled(),
                ))?;
            }
        }
        let text: String = if label.chars().count() > max_chars {
            label
                .chars()
                .take(max_chars - 1)
                .chain(std::iter::once('…'))
                .collect()
        } else {
            label.to_string()
        };
        side.draw_text(&text, &style, (46, y))?;
    }
    Ok(())
}

/// Splits `area` into the plot and, for an outside legend, the legend column.
fn split_for_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    legend: &Legend,
) -> (DrawingArea<DB, Shift>, Option<DrawingArea<DB, Shift>>) {
    let (w, _) = area.dim_in_pixel();
    match legend {
        &Legend::Outside(lw) if lw + 300 < w => {
            let (a, b) = area.split_horizontally(w - lw);
            (a, Some(b))
        }
        _ => (area.split_horizontally(w).0, None),
    }
}

/// Normalizes `(x, y)` to [0, 1]² over the ranges (log10 for a log y axis), adding points
/// along each segment of `line` so that a segment crossing a corner counts there.
fn normalized(line: &[(f64, f64)], xr: &Range<f64>, yr: &Range<f64>, log: bool, out: &mut Vec<(f64, f64)>) {
    let ty = |y: f64| if log { y.max(f64::MIN_POSITIVE).log10() } else { y };
    let (y0, y1) = (ty(yr.start), ty(yr.end));
    let n = |&(x, y): &(f64, f64)| ((x - xr.start) / (xr.end - xr.start), (ty(y) - y0) / (y1 - y0));
    for (i, p) in line.iter().enumerate() {
        let a = n(p);
        out.push(a);
        if let Some(q) = line.get(i + 1) {
            let b = n(q);
            for k in 1..8 {
                let t = k as f64 / 8.0;
                out.push((a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1)));
            }
        }
    }
}

/// Splits a polyline into pieces at every corner sharper than 90° in plot space (`xr`, `yr`:
/// the data ranges of the axes, mapped to a unit square; log axes in log units). Consecutive
/// pieces share their corner point, so the line stays connected.
fn split_at_sharp_corners(pts: &[(f64, f64)], xr: &Range<f64>, yr: &Range<f64>) -> Vec<Vec<(f64, f64)>> {
    let sx = 1.0 / (xr.end - xr.start).abs().max(f64::MIN_POSITIVE);
    let sy = 1.0 / (yr.end - yr.start).abs().max(f64::MIN_POSITIVE);
    let mut out = Vec::new();
    let mut cur: Vec<(f64, f64)> = Vec::new();
    for (i, &p) in pts.iter().enumerate() {
        cur.push(p);
        if i > 0 && i + 1 < pts.len() {
            let (a, b) = (pts[i - 1], pts[i + 1]);
            let (ux, uy) = ((p.0 - a.0) * sx, (p.1 - a.1) * sy);
            let (vx, vy) = ((b.0 - p.0) * sx, (b.1 - p.1) * sy);
            if ux * vx + uy * vy < 0.0 || (ux * vy - uy * vx).abs() > (ux * vx + uy * vy).abs() {
                out.push(std::mem::replace(&mut cur, vec![p]));
            }
        }
    }
    if cur.len() > 1 || out.is_empty() {
        out.push(cur);
    }
    out
}

fn draw_legend<'a, DB, X, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    pos: SeriesLabelPosition,
) -> DrawResult
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    chart
        .configure_series_labels()
        .position(pos)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .label_font(font(LEGEND_PX))
        .margin(12)
        .draw()?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn lines_chart<DB, Y>(
    area: &DrawingArea<DB, Shift>,
    fig: &Figure,
    series: &[Series],
    xr: Range<f64>,
    yr: Y,
    floor: f64,
    empty: bool,
    legend: Legend,
) -> DrawResult
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let log = fig.log_y;
    let colors = series_colors(series);
    let (plot, side) = split_for_legend(area, &legend);
    let mut chart = chart_builder(&plot).build_cartesian_2d(xr, yr)?;
    configure(&mut chart, fig, empty)?;
    let ly = |v: f64| if log { v.max(f64::MIN_POSITIVE).log10() } else { v };
    let xr_px = chart.x_range();
    let yr_px = {
        let r = chart.y_range();
        ly(r.start)..ly(r.end)
    };
    // Bands first, so that every line is drawn above every band.
    for (k, s) in series.iter().enumerate() {
        let color = colors[k];
        let Some((lo, hi)) = &s.band else { continue };
        let n = s.x.len().min(lo.len()).min(hi.len());
        let ok =
            |i: usize| s.x[i].is_finite() && lo[i].is_finite() && hi[i].is_finite() && (!log || hi[i] > 0.0);
        for r in runs(n, ok) {
            // A band of zero width (e.g. a spread over identical seeds) is no area: the bitmap
            // rasterizer would paint a degenerate polygon as a stray line.
            // Leading and trailing points of zero width are dropped for the same reason (a
            // polygon that starts on a zero-width point next to a steep edge leaks a line).
            let wide: Vec<usize> = r.clone().filter(|&i| hi[i] - lo[i] > 0.0).collect();
            let (Some(&first), Some(&last)) = (wide.first(), wide.last()) else {
                continue;
            };
            let r = first..last + 1;
            let clamp = |v: f64| if log { v.max(floor) } else { v };
            let mut pts: Vec<(f64, f64)> = r.clone().map(|i| (s.x[i], clamp(hi[i]))).collect();
            pts.extend(r.rev().map(|i| (s.x[i], clamp(lo[i]))));
            chart.draw_series(std::iter::once(Polygon::new(pts, color.mix(0.2).filled())))?;
        }
    }
    let mut entries: Vec<(&str, RGBColor, Swatch)> = Vec::new();
    for (k, s) in series.iter().enumerate() {
        let color = colors[k];
        let n = s.x.len().min(s.y.len());
        let ok = |i: usize| s.x[i].is_finite() && finite_y(s.y[i], log);
        let width = if s.markers { 2 } else { 3 };
        let mut first = true;
        for r in runs(n, ok) {
            let pts: Vec<(f64, f64)> = r.map(|i| (s.x[i], s.y[i])).collect();
            // Thick polylines are drawn with mitred joins, and at a near-reversal (a one-epoch
            // jump followed by a plateau) the mitre becomes a long spike; split such paths at
            // their sharp corners.
            let scaled: Vec<(f64, f64)> = pts.iter().map(|&(x, y)| (x, ly(y))).collect();
            let pieces: Vec<Vec<(f64, f64)>> = split_at_sharp_corners(&scaled, &xr_px, &yr_px)
                .into_iter()
                .map(|p| {
                    p.into_iter()
                        .map(|(x, y)| (x, if log { 10f64.powf(y) } else { y }))
                        .collect()
                })
                .collect();
            let anno = chart.draw_series(
                pieces
                    .into_iter()
                    .map(|p| PathElement::new(p, color.stroke_width(width))),
            )?;
            if first && !s.label.is_empty() {
                entries.push((s.label.as_str(), color, Swatch::Line(width, s.markers)));
                let markers = s.markers;
                anno.label(s.label.as_str()).legend(move |(x, y)| {
                    let line = PathElement::new(vec![(x, y), (x + 28, y)], color.stroke_width(width));
                    let dot = Circle::new((x + 14, y), if markers { 5 } else { 0 }, color.filled());
                    EmptyElement::at((0, 0)) + line + dot
                });
            }
            first = false;
            if s.markers || pts.len() == 1 {
                chart.draw_series(pts.iter().map(|&p| Circle::new(p, 5, color.filled())))?;
            }
        }
    }
    finish_legend(&mut chart, side.as_ref(), legend, &entries)
}

/// Draws the legend inside the chart or in the column beside it.
fn finish_legend<'a, DB, X, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    side: Option<&DrawingArea<DB, Shift>>,
    legend: Legend,
    entries: &[(&str, RGBColor, Swatch)],
) -> DrawResult
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    if entries.is_empty() {
        return Ok(());
    }
    match (side, legend) {
        (Some(side), _) => draw_side_legend(side, entries),
        (None, Legend::Inside(pos)) => draw_legend(chart, pos),
        (None, _) => draw_legend(chart, SeriesLabelPosition::UpperRight),
    }
}

fn draw_histograms<DB>(area: &DrawingArea<DB, Shift>, fig: &Figure, hists: &[Histogram]) -> DrawResult
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let log = fig.log_y;
    // A bin is drawable when both edges are finite and increasing and the count is finite
    // (positive on a log axis).
    let bins = |h: &Histogram| -> Vec<(f64, f64, f64)> {
        let n = h.counts.len().min(h.edges.len().saturating_sub(1));
        (0..n)
            .map(|i| (h.edges[i], h.edges[i + 1], h.counts[i]))
            .filter(|&(a, b, c)| a.is_finite() && b.is_finite() && b > a && finite_y(c, log))
            .collect()
    };
    let all: Vec<Vec<(f64, f64, f64)>> = hists.iter().map(bins).collect();
    let xs = all.iter().flatten().flat_map(|&(a, b, _)| [a, b]);
    let xr = padded(xs, false).unwrap_or(0.0..1.0);
    let empty = all.iter().all(Vec::is_empty);
    let counts = all.iter().flatten().map(|&(_, _, c)| c);
    let (yr, base) = if log {
        let yr = padded(counts, true).unwrap_or(0.1..10.0);
        let base = yr.start;
        (yr, base)
    } else {
        let top = counts.fold(0.0f64, f64::max);
        let low = all.iter().flatten().map(|&(_, _, c)| c).fold(0.0f64, f64::min);
        (if top > low { low..top * 1.08 } else { 0.0..1.0 }, 0.0)
    };
    // Legend placement: points filling each bar.
    let mut pts = Vec::new();
    for &(x0, x1, c) in all.iter().flatten() {
        let bar: Vec<(f64, f64)> = vec![(0.5 * (x0 + x1), base), (0.5 * (x0 + x1), c)];
        normalized(&bar, &xr, &yr, log, &mut pts);
    }
    let labels = hists.iter().filter(|h| !h.label.is_empty());
    let chars = labels.clone().map(|h| h.label.chars().count()).max().unwrap_or(0);
    let legend = legend_place(&pts, labels.count(), chars);
    if log {
        hist_chart(area, fig, hists, &all, xr, yr.log_scale(), base, empty, legend)
    } else {
        hist_chart(area, fig, hists, &all, xr, yr, base, empty, legend)
    }
}

#[allow(clippy::too_many_arguments)]
fn hist_chart<DB, Y>(
    area: &DrawingArea<DB, Shift>,
    fig: &Figure,
    hists: &[Histogram],
    bins: &[Vec<(f64, f64, f64)>],
    xr: Range<f64>,
    yr: Y,
    base: f64,
    empty: bool,
    legend: Legend,
) -> DrawResult
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let (plot, side) = split_for_legend(area, &legend);
    let mut chart = chart_builder(&plot).build_cartesian_2d(xr, yr)?;
    configure(&mut chart, fig, empty)?;
    let mut entries: Vec<(&str, RGBColor, Swatch)> = Vec::new();
    let mut outlines = Vec::new();
    for (k, (h, b)) in hists.iter().zip(bins).enumerate() {
        let color = PALETTE[k % PALETTE.len()];
        if b.is_empty() {
            continue;
        }
        // One step-shaped polygon per histogram, filled semi-transparently so that overlapping
        // histograms stay visible; the outlines are drawn above all fills.
        let mut steps = Vec::with_capacity(4 * b.len());
        for (i, &(x0, x1, c)) in b.iter().enumerate() {
            if i == 0 || b[i - 1].1 != x0 {
                steps.push((x0, base));
            }
            steps.extend([(x0, c), (x1, c)]);
            if i + 1 == b.len() || b[i + 1].0 != x1 {
                steps.push((x1, base));
            }
        }
        let fill = chart.draw_series(std::iter::once(Polygon::new(
            steps.clone(),
            color.mix(0.35).filled(),
        )))?;
        if !h.label.is_empty() {
            entries.push((h.label.as_str(), color, Swatch::Fill));
            fill.label(h.label.as_str()).legend(move |(x, y)| {
                Rectangle::new(
                    [(x, y - 7), (x + 24, y + 7)],
                    ShapeStyle::from(color.mix(0.5)).filled(),
                )
            });
        }
        outlines.push((color, steps));
    }
    for (color, steps) in outlines {
        chart.draw_series(std::iter::once(PathElement::new(steps, color.stroke_width(2))))?;
    }
    finish_legend(&mut chart, side.as_ref(), legend, &entries)
}

/// Viridis colour map, `t` in [0, 1].
fn viridis(t: f64) -> RGBColor {
    interpolate(&VIRIDIS, t)
}

/// Diverging blue–white–red colour map ("RdBu" reversed), `t` in [0, 1], white at 0.5.
fn diverging(t: f64) -> RGBColor {
    const STOPS: [(u8, u8, u8); 7] = [
        (33, 102, 172),
        (103, 169, 207),
        (209, 229, 240),
        (247, 247, 247),
        (253, 219, 199),
        (239, 138, 98),
        (178, 24, 43),
    ];
    interpolate(&STOPS, t)
}

const VIRIDIS: [(u8, u8, u8); 9] = [
    (68, 1, 84),
    (71, 44, 122),
    (59, 81, 139),
    (44, 113, 142),
    (33, 144, 141),
    (39, 173, 129),
    (92, 200, 99),
    (170, 220, 50),
    (253, 231, 37),
];

/// Piecewise-linear colour map through `stops`, `t` in [0, 1] (clamped; NaN gives the first).
fn interpolate(stops: &[(u8, u8, u8)], t: f64) -> RGBColor {
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 };
    let f = t * (stops.len() - 1) as f64;
    let i = (f.floor() as usize).min(stops.len() - 2);
    let w = f - i as f64;
    let mix = |a: u8, b: u8| (a as f64 + w * (b as f64 - a as f64)).round() as u8;
    let (a, b) = (stops[i], stops[i + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

fn draw_heatmap<DB>(area: &DrawingArea<DB, Shift>, fig: &Figure, h: &Heatmap) -> DrawResult
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let (rows, cols) = (h.rows, h.cols);
    let value = |r: usize, c: usize| h.values.get(r * cols + c).copied().unwrap_or(f64::NAN);
    let (mut lo, mut hi) = h.range;
    if !(lo.is_finite() && hi.is_finite() && hi > lo) {
        let r = padded(h.values.iter().copied(), false).unwrap_or(0.0..1.0);
        (lo, hi) = (r.start, r.end);
    }
    let empty = rows == 0 || cols == 0 || !h.values.iter().any(|v| v.is_finite());
    // A scale symmetric about 0 (signed quantities such as m) gets a diverging map.
    let cmap = scale_map(lo, hi);
    let (w, _) = area.dim_in_pixel();
    let (main, bar) = area.split_horizontally(w.saturating_sub(150));
    let (nr, nc) = (rows.max(1) as f64, cols.max(1) as f64);
    // Row 0 is drawn at the top: cell (r, c) covers y ∈ [-r-1, -r], so the y ticks fall on
    // round row numbers; they read -y.
    let mut chart = chart_builder(&main).build_cartesian_2d(0.0..nc, -nr..0.0)?;
    let ylab = |y: &f64| tick(&-*y);
    let xlab = snapped(nc);
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(fig.x_label.as_str())
        .y_desc(fig.y_label.as_str())
        .x_label_formatter(&xlab)
        .y_label_formatter(&ylab)
        .label_style(font(TICK_PX))
        .axis_desc_style(font(DESC_PX))
        .draw()?;
    if empty {
        configure(&mut chart, fig, true)?;
    } else {
        let missing = RGBColor(220, 220, 220);
        chart.draw_series((0..rows).flat_map(|r| {
            (0..cols).map(move |c| {
                let v = value(r, c);
                let color = if v.is_finite() {
                    cmap((v - lo) / (hi - lo))
                } else {
                    missing
                };
                let y0 = -(r as f64) - 1.0;
                Rectangle::new([(c as f64, y0), (c as f64 + 1.0, y0 + 1.0)], color.filled())
            })
        }))?;
    }
    draw_colorbar(&bar, lo, hi, cmap, None)
}

/// Round tick values inside `lo..=hi`: about `max` of them, at 1, 2 or 5 times a power of ten.
fn nice_ticks(lo: f64, hi: f64, max: usize) -> Vec<f64> {
    let span = hi - lo;
    if !(span.is_finite() && span > 0.0) {
        return vec![lo];
    }
    let raw = span / max.max(1) as f64;
    let p = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * p);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|k| k as f64 * step).collect()
}

/// Draws a vertical colour bar for `lo..hi` on `bar`, in pixel coordinates so that nothing is
/// clipped: the bar at the left of the area, tick labels to its right, then the axis label
/// (rotated) at the right edge.
fn draw_colorbar<DB>(
    bar: &DrawingArea<DB, Shift>,
    lo: f64,
    hi: f64,
    cmap: fn(f64) -> RGBColor,
    label: Option<&str>,
) -> DrawResult
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let (w, h) = bar.dim_in_pixel();
    let (top, bottom) = (20i32, (h as i32 - 90).max(40));
    let (x0, x1) = (8i32, 32i32);
    let steps = 200;
    let y_of = |v: f64| bottom - ((v - lo) / (hi - lo) * f64::from(bottom - top)).round() as i32;
    for i in 0..steps {
        let a = lo + (hi - lo) * i as f64 / steps as f64;
        let b = lo + (hi - lo) * (i + 1) as f64 / steps as f64;
        bar.draw(&Rectangle::new(
            [(x0, y_of(b)), (x1, y_of(a))],
            cmap((i as f64 + 0.5) / steps as f64).filled(),
        ))?;
    }
    bar.draw(&Rectangle::new([(x0, top), (x1, bottom)], BLACK.stroke_width(1)))?;
    let fmt = snapped(hi - lo);
    let style = font(TICK_PX).pos(plotters::style::text_anchor::Pos::new(
        plotters::style::text_anchor::HPos::Left,
        plotters::style::text_anchor::VPos::Center,
    ));
    for v in nice_ticks(lo, hi, 6) {
        let y = y_of(v);
        bar.draw(&PathElement::new(
            vec![(x1, y), (x1 + 5, y)],
            BLACK.stroke_width(1),
        ))?;
        bar.draw(&Text::new(fmt(&v), (x1 + 8, y), style.clone()))?;
    }
    if let Some(l) = label {
        let desc =
            font(DESC_PX)
                .transform(FontTransform::Rotate270)
                .pos(plotters::style::text_anchor::Pos::new(
                    plotters::style::text_anchor::HPos::Center,
                    plotters::style::text_anchor::VPos::Center,
                ));
        bar.draw(&Text::new(
            l.to_string(),
            (w as i32 - 18, (top + bottom) / 2),
            desc,
        ))?;
    }
    Ok(())
}

/// The colour map of a scale `lo..hi`: diverging when symmetric about 0, else viridis.
fn scale_map(lo: f64, hi: f64) -> fn(f64) -> RGBColor {
    if lo < 0.0 && hi > 0.0 && (lo + hi).abs() <= 0.05 * (hi - lo) {
        diverging
    } else {
        viridis
    }
}

fn draw_paths<DB>(area: &DrawingArea<DB, Shift>, fig: &Figure, p: &Paths) -> DrawResult
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let ok = |x: f64, y: f64| x.is_finite() && y.is_finite();
    let pts = || {
        p.paths.iter().flat_map(|q| {
            let n = q.x.len().min(q.y.len());
            (0..n).map(move |i| (q.x[i], q.y[i]))
        })
    };
    let empty = !pts().any(|(x, y)| ok(x, y));
    let xr = padded(pts().filter(|&(x, y)| ok(x, y)).map(|p| p.0), false).unwrap_or(0.0..1.0);
    let yr = padded(pts().filter(|&(x, y)| ok(x, y)).map(|p| p.1), false).unwrap_or(0.0..1.0);
    let finite_runs = |q: &crate::output::figure::Path| {
        let n = q.x.len().min(q.y.len());
        runs(n, |i| ok(q.x[i], q.y[i]))
    };
    if let Some(scale) = &p.scale {
        let (mut lo, mut hi) = scale.range;
        if !(lo.is_finite() && hi.is_finite() && hi > lo) {
            let cs = p.paths.iter().flat_map(|q| q.c.iter().flatten().copied());
            let r = padded(cs, false).unwrap_or(0.0..1.0);
            (lo, hi) = (r.start, r.end);
        }
        let cmap = scale_map(lo, hi);
        let color = |v: f64| {
            if v.is_finite() {
                cmap((v - lo) / (hi - lo))
            } else {
                RGBColor(150, 150, 150)
            }
        };
        let (w, _) = area.dim_in_pixel();
        let (main, bar) = area.split_horizontally(w.saturating_sub(170));
        let mut chart = chart_builder(&main).build_cartesian_2d(xr, yr)?;
        configure(&mut chart, fig, empty)?;
        for q in &p.paths {
            let cv = |i: usize| q.c.as_ref().and_then(|c| c.get(i)).copied().unwrap_or(f64::NAN);
            for r in finite_runs(q) {
                let idx: Vec<usize> = r.collect();
                chart.draw_series(idx.windows(2).map(|w| {
                    let (a, b) = (w[0], w[1]);
                    PathElement::new(
                        vec![(q.x[a], q.y[a]), (q.x[b], q.y[b])],
                        color(0.5 * (cv(a) + cv(b))).stroke_width(2),
                    )
                }))?;
            }
            if let Some(i) = finite_runs(q).first().map(|r| r.start) {
                let c = color(cv(i));
                chart.draw_series([
                    Circle::new((q.x[i], q.y[i]), 5, c.filled()),
                    Circle::new((q.x[i], q.y[i]), 5, BLACK.stroke_width(1)),
                ])?;
            }
        }
        draw_colorbar(&bar, lo, hi, cmap, Some(&scale.label))
    } else {
        // Colours by label, one legend entry per distinct non-empty label.
        let mut keys: Vec<&str> = Vec::new();
        let colors: Vec<RGBColor> = p
            .paths
            .iter()
            .map(|q| {
                let k = keys.iter().position(|&k| k == q.label).unwrap_or_else(|| {
                    keys.push(q.label.as_str());
                    keys.len() - 1
                });
                PALETTE[k % PALETTE.len()]
            })
            .collect();
        let mut npts = Vec::new();
        for q in &p.paths {
            for r in finite_runs(q) {
                let line: Vec<(f64, f64)> = r.map(|i| (q.x[i], q.y[i])).collect();
                normalized(&line, &xr, &yr, false, &mut npts);
            }
        }
        let labels: Vec<&str> = keys.iter().copied().filter(|k| !k.is_empty()).collect();
        let chars = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
        let legend = legend_place(&npts, labels.len(), chars);
        let (plot, side) = split_for_legend(area, &legend);
        let mut chart = chart_builder(&plot).build_cartesian_2d(xr, yr)?;
        configure(&mut chart, fig, empty)?;
        let mut entries: Vec<(&str, RGBColor, Swatch)> = Vec::new();
        for (q, &color) in p.paths.iter().zip(&colors) {
            let mut first = true;
            for r in finite_runs(q) {
                let line: Vec<(f64, f64)> = r.map(|i| (q.x[i], q.y[i])).collect();
                let start = line[0];
                let anno =
                    chart.draw_series(std::iter::once(PathElement::new(line, color.stroke_width(2))))?;
                let fresh = !q.label.is_empty() && !entries.iter().any(|e| e.0 == q.label);
                if first && fresh {
                    entries.push((q.label.as_str(), color, Swatch::Line(2, false)));
                    anno.label(q.label.as_str()).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 28, y)], color.stroke_width(2))
                    });
                }
                if first {
                    chart.draw_series([
                        Circle::new(start, 5, color.filled()),
                        Circle::new(start, 5, BLACK.stroke_width(1)),
                    ])?;
                }
                first = false;
            }
        }
        finish_legend(&mut chart, side.as_ref(), legend, &entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_ticks_are_round_and_inside() {
        assert_eq!(nice_ticks(0.0, 1800.0, 6), vec![0.0, 500.0, 1000.0, 1500.0]);
        assert_eq!(nice_ticks(-1.0, 1.0, 6), vec![-1.0, -0.5, 0.0, 0.5, 1.0]);
        let t = nice_ticks(0.013, 0.087, 6);
        assert!(
            t.iter().all(|&v| (0.013..=0.087).contains(&v)) && t.len() >= 3,
            "{t:?}"
        );
        assert_eq!(nice_ticks(1.0, 1.0, 6), vec![1.0]);
    }

    #[test]
    fn polylines_split_only_at_sharp_corners() {
        let (xr, yr) = (0.0..2.0, 0.0..1.0);
        // a one-epoch jump to a plateau: split at the corner, pieces share it
        let p = [(0.0, 0.0), (1.0, 1.0), (2.0, 1.0)];
        assert_eq!(
            split_at_sharp_corners(&p, &xr, &yr),
            vec![vec![(0.0, 0.0), (1.0, 1.0)], vec![(1.0, 1.0), (2.0, 1.0)]]
        );
        // gentle bends and straight lines stay one piece
        let q = [(0.0, 0.0), (1.0, 0.1), (2.0, 0.25)];
        assert_eq!(split_at_sharp_corners(&q, &xr, &yr), vec![q.to_vec()]);
        // a reversal splits; a single point is one piece
        let r = [(0.0, 0.0), (1.0, 0.5), (0.5, 0.0)];
        assert_eq!(split_at_sharp_corners(&r, &xr, &yr).len(), 2);
        assert_eq!(
            split_at_sharp_corners(&[(1.0, 1.0)], &xr, &yr),
            vec![vec![(1.0, 1.0)]]
        );
    }

    fn fig(name: &str, plot: Plot, log_y: bool) -> Figure {
        Figure {
            name: name.into(),
            title: format!("Test {name}: π, Ξ, σ"),
            x_label: "epoch".into(),
            y_label: "value (a.u.)".into(),
            log_y,
            caption: "test".into(),
            plot,
        }
    }

    fn series(label: &str, y: Vec<f64>, band: bool, markers: bool) -> Series {
        let x: Vec<f64> = (0..y.len()).map(|i| i as f64).collect();
        let band = band.then(|| {
            (
                y.iter().map(|v| v - 0.1).collect(),
                y.iter().map(|v| v + 0.1).collect(),
            )
        });
        Series {
            label: label.into(),
            x,
            y,
            band,
            markers,
        }
    }

    fn check(fig: &Figure) {
        // SASNET_RENDER_KEEP=DIR keeps the images there for a look.
        let keep = std::env::var_os("SASNET_RENDER_KEEP").map(PathBuf::from);
        let dir = match &keep {
            Some(k) => k.clone(),
            None => std::env::temp_dir().join(format!("sasnet-render-{}-{}", std::process::id(), fig.name)),
        };
        let (svg, png) = render(fig, &dir).unwrap();
        let s = std::fs::read_to_string(&svg).unwrap();
        assert!(
            s.starts_with("<svg") && s.len() > 500,
            "{}",
            &s[..s.len().min(200)]
        );
        assert!(s.contains("sans-serif"));
        let p = std::fs::read(&png).unwrap();
        assert!(p.len() > 1000 && p.starts_with(b"\x89PNG"));
        // IHDR: width and height.
        assert_eq!(u32::from_be_bytes(p[16..20].try_into().unwrap()), WIDTH);
        assert_eq!(u32::from_be_bytes(p[20..24].try_into().unwrap()), HEIGHT);
        if keep.is_none() {
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[test]
    fn every_plot_kind_renders() {
        let y: Vec<f64> = (0..30).map(|i| (i as f64 * 0.2).sin() + 1.5).collect();
        let lines = Plot::Lines(vec![
            series("mean ± std", y.clone(), true, false),
            series("markers", y.iter().map(|v| v * 0.5).collect(), false, true),
        ]);
        check(&fig("lines", lines.clone(), false));
        check(&fig("lines_log", lines, true));
        let hist = |label: &str, shift: f64| Histogram {
            label: label.into(),
            edges: (0..=20).map(|i| i as f64 * 0.05 + shift).collect(),
            counts: (0..20).map(|i| (i as f64 - 10.0).powi(2) + 1.0).collect(),
        };
        let hists = Plot::Histograms(vec![hist("π rec", 0.0), hist("π out", 0.2)]);
        check(&fig("hist", hists.clone(), false));
        check(&fig("hist_log", hists, true));
        let heat = Heatmap {
            rows: 12,
            cols: 15,
            values: (0..180).map(|i| (i as f64 * 0.37).cos()).collect(),
            range: (-1.0, 1.0),
        };
        check(&fig("heat", Plot::Heatmap(heat), false));
        let path = |label: &str, phase: f64, c: bool| crate::output::figure::Path {
            label: label.into(),
            x: (0..40)
                .map(|i| (i as f64 * 0.15 + phase).cos() * (1.0 + 0.02 * i as f64))
                .collect(),
            y: (0..40).map(|i| (i as f64 * 0.15 + phase).sin()).collect(),
            c: c.then(|| (0..40).map(|i| i as f64 * 10.0).collect()),
        };
        let by_time = Paths {
            paths: vec![path("a", 0.0, true), path("b", 1.0, true)],
            scale: Some(crate::output::figure::ColorScale {
                label: "time (ms)".into(),
                range: (0.0, 390.0),
            }),
        };
        check(&fig("paths_scale", Plot::Paths(by_time), false));
        let by_label = Paths {
            paths: vec![
                path("class 0", 0.0, false),
                path("class 0", 0.5, false),
                path("class 1", 2.0, false),
            ],
            scale: None,
        };
        check(&fig("paths_label", Plot::Paths(by_label), false));
    }

    #[test]
    fn nan_and_empty_inputs_do_not_panic() {
        let mut y: Vec<f64> = (0..20).map(|i| i as f64 / 10.0).collect();
        y[3] = f64::NAN;
        y[7] = f64::INFINITY;
        y[0] = 0.0; // a gap on a log axis
        let mut s = series("gappy", y, true, true);
        if let Some((lo, _)) = &mut s.band {
            lo[10] = f64::NAN;
        }
        s.x[12] = f64::NAN;
        let short = Series {
            label: "short y".into(),
            x: vec![1.0, 2.0, 3.0],
            y: vec![1.0],
            band: Some((vec![], vec![0.5])),
            markers: false,
        };
        let lines = Plot::Lines(vec![s, short, series("empty", vec![], true, true)]);
        check(&fig("nan_lines", lines.clone(), false));
        check(&fig("nan_lines_log", lines, true));
        check(&fig("no_series", Plot::Lines(vec![]), false));
        check(&fig(
            "all_nan",
            Plot::Lines(vec![series("nan", vec![f64::NAN; 5], false, true)]),
            true,
        ));
        let h = Histogram {
            label: "nan".into(),
            edges: vec![0.0, f64::NAN, 2.0, 3.0, 3.0],
            counts: vec![1.0, 2.0, f64::NAN, 4.0, 9.0],
        };
        let empty_h = Histogram {
            label: "empty".into(),
            edges: vec![],
            counts: vec![],
        };
        check(&fig("nan_hist", Plot::Histograms(vec![h, empty_h.clone()]), true));
        check(&fig("empty_hist", Plot::Histograms(vec![empty_h]), false));
        let heat = Heatmap {
            rows: 3,
            cols: 4,
            values: vec![f64::NAN, 1.0, 2.0, 3.0, 4.0, 5.0, f64::INFINITY], // short: the rest missing
            range: (f64::NAN, f64::NAN),
        };
        check(&fig("nan_heat", Plot::Heatmap(heat), false));
        let gappy = crate::output::figure::Path {
            label: "gappy".into(),
            x: vec![0.0, f64::NAN, 1.0, 2.0, 3.0],
            y: vec![1.0, 2.0, f64::INFINITY, 0.5],
            c: Some(vec![f64::NAN, 1.0]),
        };
        for scale in [
            None,
            Some(crate::output::figure::ColorScale {
                label: "c".into(),
                range: (f64::NAN, 0.0),
            }),
        ] {
            let p = Paths {
                paths: vec![
                    gappy.clone(),
                    crate::output::figure::Path {
                        label: String::new(),
                        x: vec![],
                        y: vec![],
                        c: None,
                    },
                ],
                scale: scale.clone(),
            };
            check(&fig("nan_paths", Plot::Paths(p), false));
            check(&fig(
                "empty_paths",
                Plot::Paths(Paths { paths: vec![], scale }),
                false,
            ));
        }
        let empty = Heatmap {
            rows: 0,
            cols: 0,
            values: vec![],
            range: (0.0, 0.0),
        };
        check(&fig("empty_heat", Plot::Heatmap(empty), false));
    }

    #[test]
    fn bad_names_are_rejected() {
        let f = fig("../escape", Plot::Lines(vec![]), false);
        assert!(render(&f, &std::env::temp_dir()).is_err());
    }

    #[test]
    fn related_series_share_a_colour() {
        let c = series_colors(&[
            series("visual (data)", vec![], false, true),
            series("visual (fit)", vec![], false, false),
            series("auditory (data)", vec![], false, true),
            series("", vec![], false, false),
            series("", vec![], false, false),
        ]);
        assert_eq!(c[0], c[1]);
        assert_ne!(c[1], c[2]);
        assert_ne!(c[3], c[4]);
    }

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(tick(&0.30000000000000004), "0.3");
        assert_eq!(tick(&100.0), "100");
        assert_eq!(tick(&0.00025), "2.5e-4");
        assert_eq!(tick(&0.0), "0");
        assert_eq!(tick(&1e6), "1e6");
        assert_eq!(snapped(0.5)(&-5.55e-17), "0");
        assert_eq!(snapped(1e-12)(&2e-13), "2e-13");
    }
}
