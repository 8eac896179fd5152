//! Figure descriptions: what to draw, as plain data. Analyses build these; the renderer turns
//! them into SVG/PNG files. Keeping figures as data makes them testable and lets the report
//! aggregate seeds (mean with a shaded band) before drawing.

use serde::Serialize;

/// One line of a line chart, optionally with a shaded band (e.g. mean ± std over seeds).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Series {
    /// Legend label.
    pub label: String,
    /// x values.
    pub x: Vec<f64>,
    /// y values (same length as `x`; NaN = gap).
    pub y: Vec<f64>,
    /// Optional band `(lower, upper)`, same length as `x`.
    pub band: Option<(Vec<f64>, Vec<f64>)>,
    /// Draw markers at the points instead of (or in addition to) a line.
    pub markers: bool,
}

/// One histogram of a histogram figure.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Histogram {
    /// Legend label.
    pub label: String,
    /// Bin edges (`counts.len() + 1` values, increasing).
    pub edges: Vec<f64>,
    /// Count (or density) per bin.
    pub counts: Vec<f64>,
}

/// A heat map of a `rows × cols` matrix.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Heatmap {
    /// Rows (drawn top to bottom).
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// Values, row-major.
    pub values: Vec<f64>,
    /// Colour scale limits `(min, max)`.
    pub range: (f64, f64),
}

/// What kind of plot.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub enum Plot {
    /// Line chart (optionally with bands and markers).
    Lines(Vec<Series>),
    /// Overlaid histograms.
    Histograms(Vec<Histogram>),
    /// A matrix heat map.
    Heatmap(Heatmap),
}

/// A figure: a plot with its labels and caption.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Figure {
    /// File stem (no extension), unique within an analysis.
    pub name: String,
    /// Title drawn above the plot.
    pub title: String,
    /// x-axis label with units.
    pub x_label: String,
    /// y-axis label with units.
    pub y_label: String,
    /// Logarithmic y axis.
    pub log_y: bool,
    /// Caption for the report: what the figure shows and the settings that produced it.
    pub caption: String,
    /// The plot.
    pub plot: Plot,
}
