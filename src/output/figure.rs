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

/// One path of a [`Paths`] plot (e.g. a trajectory in a principal-component plane).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Path {
    /// Legend label; paths with equal labels share a colour and one legend entry (when the
    /// plot has no colour scale).
    pub label: String,
    /// x values.
    pub x: Vec<f64>,
    /// y values (same length as `x`; NaN = gap).
    pub y: Vec<f64>,
    /// Colour value of each point on the plot's [`ColorScale`] (same length as `x`; a
    /// segment takes the mean of its two ends); `None` colours the path by its label.
    pub c: Option<Vec<f64>>,
}

/// A continuous colour scale with a colour bar.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ColorScale {
    /// Colour-bar label with units (e.g. `time (ms)`).
    pub label: String,
    /// Limits `(min, max)`; a range symmetric about 0 gets a diverging map, else viridis.
    pub range: (f64, f64),
}

/// Paths in a plane (trajectories), each coloured by its label or point by point on a
/// colour scale; the first point of every path is marked with a dot.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Paths {
    /// The paths.
    pub paths: Vec<Path>,
    /// Colour scale of the points' `c` values (`None`: colours by label, with a legend).
    pub scale: Option<ColorScale>,
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
    /// Paths (trajectories) in a plane, coloured by label or by a value.
    Paths(Paths),
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
