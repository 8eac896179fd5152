//! Statistics over seeds: per-seed values, mean, sample standard deviation (n − 1) and the
//! 95 % Student-t interval of the mean, for scalars ([`SeedStats`]), for series over epochs
//! or time ([`SeriesBand`]) and for paired differences ([`SeedStats::paired`]); positive,
//! heavy-tailed quantities (norms, growth factors) on the log scale ([`LogSeedStats`]: the
//! geometric mean and the t-interval of `ln x`, back-transformed, so no interval reaches
//! below 0).
//!
//! Every aggregate over seeds that sasnet writes (tables, JSON summaries, figure bands) is one
//! of these, so "±" always means the same thing: the half-width of the 95 % t-interval of the
//! mean, `t(0.975, n−1) · s / √n`, with `n` stated beside it. With one seed the standard
//! deviation and the interval are undefined (NaN, written as `null` in JSON).

use serde::Serialize;

/// Two-sided 95 % quantiles `t(0.975, ν)` of Student's t for ν = 1..=30 (standard tables).
const T975: [f64; 30] = [
    12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281, 2.2010, 2.1788, 2.1604,
    2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860, 2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555,
    2.0518, 2.0484, 2.0452, 2.0423,
];

/// `t(0.975, ν)`: the table for ν ≤ 30, the Cornish–Fisher expansion around the normal
/// quantile above (error < 1e-4 there). NaN for ν = 0.
pub(crate) fn t975(df: usize) -> f64 {
    match df {
        0 => f64::NAN,
        1..=30 => T975[df - 1],
        _ => {
            let z: f64 = 1.959_963_984_540_054;
            let v = df as f64;
            let (z3, z5, z7) = (z.powi(3), z.powi(5), z.powi(7));
            z + (z3 + z) / (4.0 * v)
                + (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * v * v)
                + (3.0 * z7 + 19.0 * z5 + 17.0 * z3 - 15.0 * z) / (384.0 * v * v * v)
        }
    }
}

/// A scalar measured once per seed, summarized.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SeedStats {
    /// The per-seed values, in seed order (NaN for a seed without a value).
    pub values: Vec<f64>,
    /// Number of finite values.
    pub n: usize,
    /// Mean of the finite values (NaN if none).
    pub mean: f64,
    /// Sample standard deviation, `n − 1` in the denominator (NaN if `n < 2`).
    pub sd: f64,
    /// Half-width of the 95 % t-interval of the mean, `t(0.975, n−1)·sd/√n` (NaN if `n < 2`).
    pub ci95: f64,
    /// Lower end of the 95 % interval of the mean.
    pub lo: f64,
    /// Upper end of the 95 % interval of the mean.
    pub hi: f64,
}

impl SeedStats {
    /// Summarizes `values` (one per seed); non-finite entries are kept in `values` but
    /// skipped in `n`, the mean, the standard deviation and the interval.
    pub fn of(values: &[f64]) -> SeedStats {
        let v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        let n = v.len();
        let mean = if n == 0 {
            f64::NAN
        } else {
            v.iter().sum::<f64>() / n as f64
        };
        let sd = if n < 2 {
            f64::NAN
        } else {
            (v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1) as f64).sqrt()
        };
        let ci95 = if n < 2 {
            f64::NAN
        } else {
            t975(n - 1) * sd / (n as f64).sqrt()
        };
        SeedStats {
            values: values.to_vec(),
            n,
            mean,
            sd,
            ci95,
            lo: mean - ci95,
            hi: mean + ci95,
        }
    }

    /// The paired differences `a[s] − b[s]` over the seeds where both are finite, summarized
    /// (`values` keeps one entry per seed, NaN where either is missing).
    ///
    /// # Panics
    /// Never; unequal lengths pair the common prefix.
    pub fn paired(a: &[f64], b: &[f64]) -> SeedStats {
        let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
        SeedStats::of(&d)
    }

    /// `mean ± ci95` with `digits` decimals, then `(95 % CI, n = k)`; just the mean with
    /// `(n = 1)` for a single seed. `scale` multiplies every number (100 for percentages).
    pub fn pm(&self, digits: usize, scale: f64) -> String {
        if self.n < 2 {
            return format!("{:.digits$} (n = {})", self.mean * scale, self.n);
        }
        format!(
            "{:.digits$} ± {:.digits$} (95 % CI, n = {})",
            self.mean * scale,
            self.ci95 * scale,
            self.n
        )
    }

    /// Like [`SeedStats::pm`] but followed by the per-seed values: `… ; seeds a / b / c`.
    pub fn pm_seeds(&self, digits: usize, scale: f64) -> String {
        let seeds: Vec<String> = self
            .values
            .iter()
            .map(|v| {
                if v.is_finite() {
                    format!("{:.digits$}", v * scale)
                } else {
                    "–".into()
                }
            })
            .collect();
        format!("{}; per seed {}", self.pm(digits, scale), seeds.join(" / "))
    }
}

/// The pointwise mean of repeated curves (`curves[repeat][i]`) within one seed, over the
/// finite values (NaN where none), up to the shortest curve: the within-seed average that
/// comes before any statistic over seeds (the seed is the unit of replication). For scalar
/// repeats, [`SeedStats::of`]`(…).mean` is the same.
pub fn mean_over_repeats(curves: &[Vec<f64>]) -> Vec<f64> {
    SeriesBand::of(curves).mean
}

/// The geometric mean `exp(mean ln x)` of `values` with IEEE semantics: `+∞` if a value is
/// `+∞` (e.g. an overflowed norm), 0 if one is 0, NaN if both occur or a value is negative
/// or NaN (NaN for none). The within-seed average of a positive heavy-tailed quantity
/// (repeats, networks) before [`LogSeedStats`] summarizes it over seeds.
pub fn geometric_mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    (values.iter().map(|x| x.ln()).sum::<f64>() / values.len() as f64).exp()
}

/// Median of `v` with non-finite values counted as +∞ (NaN for an empty slice); sorts `v`.
pub fn median_inf(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    for x in v.iter_mut() {
        if !x.is_finite() {
            *x = f64::INFINITY;
        }
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// A positive, heavy-tailed quantity measured once per seed, summarized on the log scale:
/// the geometric mean `exp(m)` and the 95 % t-interval `exp(m ± t(0.975, n−1)·s/√n)`, where
/// `m` and `s` are the mean and sample standard deviation of `ln x` over the seeds. The
/// interval is multiplicative (`geo_mean ÷ factor95 … geo_mean × factor95`) and positive.
/// Values that are not finite and positive have no logarithm: `+∞` ones are counted in
/// `infinite`, the others (≤ 0, NaN) in `excluded`, and neither enters `n`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LogSeedStats {
    /// The per-seed values, in seed order (as given).
    pub values: Vec<f64>,
    /// Number of finite positive values (the ones summarized).
    pub n: usize,
    /// Seeds whose value is `+∞`.
    pub infinite: usize,
    /// Seeds whose value is ≤ 0 or NaN (without a `+∞` one).
    pub excluded: usize,
    /// Geometric mean `exp(mean ln x)` (NaN if `n = 0`).
    pub geo_mean: f64,
    /// Mean of `ln x`.
    pub log_mean: f64,
    /// Sample standard deviation of `ln x` (NaN if `n < 2`).
    pub log_sd: f64,
    /// Multiplicative half-width `exp(t(0.975, n−1)·log_sd/√n)` (NaN if `n < 2`).
    pub factor95: f64,
    /// Lower end `geo_mean / factor95` (> 0; the geometric mean if `n < 2`).
    pub lo: f64,
    /// Upper end `geo_mean · factor95` (the geometric mean if `n < 2`).
    pub hi: f64,
}

impl LogSeedStats {
    /// Summarizes `values` (one per seed) on the log scale; see the type.
    pub fn of(values: &[f64]) -> LogSeedStats {
        let logs: Vec<f64> = values
            .iter()
            .filter(|x| x.is_finite() && **x > 0.0)
            .map(|x| x.ln())
            .collect();
        let infinite = values.iter().filter(|x| **x == f64::INFINITY).count();
        let l = SeedStats::of(&logs);
        let factor95 = l.ci95.exp();
        let geo_mean = l.mean.exp();
        let (lo, hi) = if l.n < 2 {
            (geo_mean, geo_mean)
        } else {
            (l.lo.exp(), l.hi.exp())
        };
        LogSeedStats {
            values: values.to_vec(),
            n: l.n,
            infinite,
            excluded: values.len() - l.n - infinite,
            geo_mean,
            log_mean: l.mean,
            log_sd: l.sd,
            factor95,
            lo,
            hi,
        }
    }

    /// `geo_mean (95 % CI lo – hi, geometric, n = k)` with every number written by `num`;
    /// `geo_mean (n = 1)` for one seed; the seeds at `+∞` are named when there are any.
    pub fn text(&self, num: impl Fn(f64) -> String) -> String {
        let inf = if self.infinite > 0 {
            format!("; {} seed(s) at +∞", self.infinite)
        } else {
            String::new()
        };
        match self.n {
            0 => format!("none finite (n = 0){inf}"),
            1 => format!("{} (n = 1){inf}", num(self.geo_mean)),
            n => format!(
                "{} (95 % CI {} – {}, geometric, n = {n}){inf}",
                num(self.geo_mean),
                num(self.lo),
                num(self.hi)
            ),
        }
    }
}

/// A series (over epochs, time steps or a swept parameter) measured once per seed, with the
/// mean and the 95 % t-interval of the mean at each point.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SeriesBand {
    /// Seeds with a finite value, per point.
    pub n: Vec<usize>,
    /// Mean per point.
    pub mean: Vec<f64>,
    /// Sample standard deviation per point (NaN where `n < 2`).
    pub sd: Vec<f64>,
    /// Lower end of the 95 % interval per point (the mean where `n < 2`).
    pub lo: Vec<f64>,
    /// Upper end of the 95 % interval per point (the mean where `n < 2`).
    pub hi: Vec<f64>,
}

impl SeriesBand {
    /// Aggregates `series[seed][i]` over seeds, point by point, up to the shortest series;
    /// non-finite entries are skipped. Where fewer than two seeds have a value the band
    /// collapses onto the mean (nothing to draw).
    pub fn of(series: &[Vec<f64>]) -> SeriesBand {
        let len = series.iter().map(Vec::len).min().unwrap_or(0);
        let mut b = SeriesBand {
            n: Vec::with_capacity(len),
            mean: Vec::with_capacity(len),
            sd: Vec::with_capacity(len),
            lo: Vec::with_capacity(len),
            hi: Vec::with_capacity(len),
        };
        for i in 0..len {
            let col: Vec<f64> = series.iter().map(|s| s[i]).collect();
            let s = SeedStats::of(&col);
            b.n.push(s.n);
            b.mean.push(s.mean);
            b.sd.push(s.sd);
            let half = if s.ci95.is_finite() { s.ci95 } else { 0.0 };
            b.lo.push(s.mean - half);
            b.hi.push(s.mean + half);
        }
        b
    }

    /// The number of seeds behind the band: the largest `n` over its points (0 if empty).
    pub fn seeds(&self) -> usize {
        self.n.iter().copied().max().unwrap_or(0)
    }

    /// `(lo, hi)` as a figure band, or `None` when no point has two seeds.
    pub fn band(&self) -> Option<(Vec<f64>, Vec<f64>)> {
        (self.seeds() >= 2).then(|| (self.lo.clone(), self.hi.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_against_tables() {
        // Standard table values; above 30 the expansion.
        for (df, t) in [
            (1, 12.7062),
            (4, 2.7764),
            (9, 2.2622),
            (40, 2.0211),
            (60, 2.0003),
            (120, 1.9799),
        ] {
            assert!((t975(df) - t).abs() < 2e-4, "df {df}: {} vs {t}", t975(df));
        }
        assert!((t975(100_000) - 1.96).abs() < 1e-3);
        assert!(t975(0).is_nan());
    }

    #[test]
    fn sample_statistics_by_hand() {
        // 99.2, 92.4, 86.7: mean 92.7667, s = 6.2580, ci = 4.3027 · 6.2580 / √3 = 15.546.
        let s = SeedStats::of(&[99.2, 92.4, 86.7]);
        assert_eq!(s.n, 3);
        assert!((s.mean - 92.766_666_7).abs() < 1e-6);
        assert!((s.sd - 6.258_061).abs() < 1e-5, "{}", s.sd);
        assert!((s.ci95 - 15.5457).abs() < 1e-3, "{}", s.ci95);
        assert!((s.lo - (s.mean - s.ci95)).abs() < 1e-12);
        assert_eq!(s.pm(1, 1.0), "92.8 ± 15.5 (95 % CI, n = 3)");
        assert_eq!(
            s.pm_seeds(1, 1.0),
            "92.8 ± 15.5 (95 % CI, n = 3); per seed 99.2 / 92.4 / 86.7"
        );
    }

    #[test]
    fn nan_seeds_and_single_seed() {
        let s = SeedStats::of(&[1.0, f64::NAN, 3.0]);
        assert_eq!((s.n, s.mean), (2, 2.0));
        assert!((s.sd - 2f64.sqrt()).abs() < 1e-12);
        assert_eq!(s.values.len(), 3);
        let one = SeedStats::of(&[0.5]);
        assert!(one.sd.is_nan() && one.ci95.is_nan());
        assert_eq!(one.pm(2, 100.0), "50.00 (n = 1)");
        assert!(SeedStats::of(&[]).mean.is_nan());
    }

    #[test]
    fn repeats_are_averaged_point_by_point() {
        let m = mean_over_repeats(&[vec![1.0, 2.0, 9.0], vec![3.0, f64::NAN], vec![2.0, 4.0]]);
        assert_eq!(m, vec![2.0, 3.0]);
        assert!(mean_over_repeats(&[]).is_empty());
    }

    #[test]
    fn log_scale_statistics_by_hand() {
        // 1, 10, 100: ln mean = ln 10, ln sd = ln 10 (the logs are 0, ln 10, 2 ln 10); the
        // interval exp(ln 10 ± 4.3027 · ln 10 / √3): 10 ÷× 10^(4.3027/√3) = 10 ÷× 304.9.
        let s = LogSeedStats::of(&[1.0, 10.0, 100.0]);
        assert_eq!((s.n, s.infinite, s.excluded), (3, 0, 0));
        assert!((s.geo_mean - 10.0).abs() < 1e-12, "{s:?}");
        assert!((s.log_sd - 10f64.ln()).abs() < 1e-12);
        let f = 10f64.powf(4.3027 / 3f64.sqrt());
        assert!((s.factor95 / f - 1.0).abs() < 1e-9, "{} vs {f}", s.factor95);
        assert!((s.lo - 10.0 / f).abs() < 1e-9 && (s.hi / (10.0 * f) - 1.0).abs() < 1e-9);
        // The arithmetic interval of the same values reaches below 0; this one cannot.
        assert!(SeedStats::of(&[1.0, 10.0, 100.0]).lo < 0.0 && s.lo > 0.0);
        let num = |x: f64| format!("{x:.4}");
        assert_eq!(
            s.text(num),
            "10.0000 (95 % CI 0.0328 – 3049.0532, geometric, n = 3)"
        );
        // +∞ (overflow) and non-positive values are counted, not summarized.
        let t = LogSeedStats::of(&[2.0, f64::INFINITY, 8.0, 0.0, f64::NAN]);
        assert_eq!((t.n, t.infinite, t.excluded), (2, 1, 2));
        assert!((t.geo_mean - 4.0).abs() < 1e-12);
        assert!(
            t.text(num).ends_with("n = 2); 1 seed(s) at +∞"),
            "{}",
            t.text(num)
        );
        let one = LogSeedStats::of(&[5.0]);
        assert!(one.factor95.is_nan() && (one.lo - 5.0).abs() < 1e-12 && one.lo == one.hi);
        assert_eq!(one.text(num), "5.0000 (n = 1)");
        // Geometric means within a seed.
        assert!((geometric_mean(&[2.0, 8.0]) - 4.0).abs() < 1e-12);
        assert_eq!(geometric_mean(&[2.0, f64::INFINITY]), f64::INFINITY);
        assert_eq!(geometric_mean(&[2.0, 0.0]), 0.0);
        assert!(geometric_mean(&[]).is_nan() && geometric_mean(&[-1.0, 1.0]).is_nan());
    }

    #[test]
    fn paired_differences() {
        // Differences 1, 2, 3: mean 2, s = 1, ci = 4.3027/√3.
        let p = SeedStats::paired(&[11.0, 12.0, 13.0], &[10.0, 10.0, 10.0]);
        assert_eq!(p.values, vec![1.0, 2.0, 3.0]);
        assert!((p.mean - 2.0).abs() < 1e-12 && (p.sd - 1.0).abs() < 1e-12);
        assert!((p.ci95 - 4.3027 / 3f64.sqrt()).abs() < 1e-9);
    }

    #[test]
    fn series_band_collapses_below_two_seeds() {
        let b = SeriesBand::of(&[vec![1.0, 2.0, 5.0], vec![3.0, f64::NAN]]);
        assert_eq!(b.n, vec![2, 1]);
        assert_eq!(b.mean, vec![2.0, 2.0]);
        let half = 12.7062 * 2f64.sqrt() / 2f64.sqrt();
        assert!((b.hi[0] - (2.0 + half)).abs() < 1e-9 && b.lo[1] == 2.0 && b.hi[1] == 2.0);
        assert!(b.band().is_some());
        assert!(SeriesBand::of(&[vec![1.0, 2.0]]).band().is_none());
    }
}
