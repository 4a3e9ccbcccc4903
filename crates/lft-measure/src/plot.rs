//! SVG figures of a measurement (plotters, SVG backend: no system libraries).
//!
//! - `correlator.svg`: C(t) with errors on a log scale (points with C(t) ≤ 0 are left out);
//! - `effective_mass.svg`: m_eff(t) with errors and the fitted pole mass over its fit range;
//! - `history_<obs>.svg` for χ₂ and |M|/V: the Monte Carlo history of every chain, and the
//!   normalised autocorrelation function ρ(t) with the Γ-method window W.

use crate::{History, Measurement, PointResult};
use plotters::prelude::*;
use std::path::{Path, PathBuf};

type PlotResult<T> = Result<T, Box<dyn std::error::Error>>;

const SIZE: (u32, u32) = (720, 480);

/// Writes every figure into `dir` (created if needed) and returns their paths.
pub fn write_all(m: &Measurement, dir: &Path) -> PlotResult<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut files = Vec::new();
    let p = dir.join("correlator.svg");
    correlator(&m.correlator, &p)?;
    files.push(p);
    let p = dir.join("effective_mass.svg");
    effective_mass(m, &p)?;
    files.push(p);
    for (name, h) in &m.histories {
        let p = dir.join(format!("history_{name}.svg"));
        history(name, h, &p)?;
        files.push(p);
    }
    Ok(files)
}

/// The finite range of `values` (widened by 1 either side for a single value, (0, 1) for none).
pub(crate) fn range_of(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if lo.is_finite() && hi > lo {
        (lo, hi)
    } else if lo.is_finite() {
        (lo - 1.0, lo + 1.0)
    } else {
        (0.0, 1.0)
    }
}

fn correlator(points: &[PointResult], path: &Path) -> PlotResult<()> {
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let positive: Vec<&PointResult> = points.iter().filter(|p| p.value > 0.0).collect();
    let (lo, hi) = range_of(
        positive
            .iter()
            .flat_map(|p| [p.value - p.error, p.value + p.error])
            .filter(|v| *v > 0.0),
    );
    let t_max = points.len().max(2) as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption("Connected correlator C(t)", ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5..t_max - 0.5, (lo * 0.8..hi * 1.25).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("t")
        .y_desc("C(t)")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.1e}"))
        .draw()?;
    chart.draw_series(positive.iter().map(|p| {
        ErrorBar::new_vertical(
            p.t as f64,
            (p.value - p.error).max(lo * 0.8),
            p.value,
            p.value + p.error,
            BLUE.filled(),
            6,
        )
    }))?;
    chart.draw_series(
        positive
            .iter()
            .map(|p| Circle::new((p.t as f64, p.value), 3, BLUE.filled())),
    )?;
    root.present()?;
    Ok(())
}

fn effective_mass(m: &Measurement, path: &Path) -> PlotResult<()> {
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let pts = &m.effective_mass;
    let (mut lo, mut hi) = range_of(
        pts.iter()
            .flat_map(|p| [p.value - p.error, p.value + p.error]),
    );
    if let Some(pm) = &m.pole_mass {
        lo = lo.min(pm.value - pm.error);
        hi = hi.max(pm.value + pm.error);
    }
    let pad = 0.1 * (hi - lo);
    let t_max = m.correlator.len().max(2) as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption("Effective mass and pole-mass fit", ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5..t_max - 0.5, lo - pad..hi + pad)?;
    chart
        .configure_mesh()
        .x_desc("t")
        .y_desc("m_eff(t)")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .draw()?;
    if let Some(pm) = &m.pole_mass {
        let (a, b) = (pm.fit_range[0] as f64, pm.fit_range[1] as f64);
        chart.draw_series(std::iter::once(Rectangle::new(
            [(a, pm.value - pm.error), (b, pm.value + pm.error)],
            RED.mix(0.2).filled(),
        )))?;
        chart
            .draw_series(LineSeries::new(
                [(a, pm.value), (b, pm.value)],
                RED.stroke_width(2),
            ))?
            .label(format!("pole mass {:.4} ± {:.4}", pm.value, pm.error))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RED));
    }
    chart.draw_series(pts.iter().map(|p| {
        ErrorBar::new_vertical(
            p.t as f64,
            p.value - p.error,
            p.value,
            p.value + p.error,
            BLUE.filled(),
            6,
        )
    }))?;
    chart.draw_series(
        pts.iter()
            .map(|p| Circle::new((p.t as f64, p.value), 3, BLUE.filled())),
    )?;
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()?;
    root.present()?;
    Ok(())
}

fn history(name: &str, h: &History, path: &Path) -> PlotResult<()> {
    let root = SVGBackend::new(path, (SIZE.0, SIZE.1 * 3 / 2)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(SIZE.1 * 3 / 4);
    let n = h.series.iter().map(|s| s.len()).max().unwrap_or(1).max(2) as f64;
    let (lo, hi) = range_of(h.series.iter().flatten().copied());
    let mut chart = ChartBuilder::on(&top)
        .caption(
            format!("Monte Carlo history: {}", label(name)),
            ("sans-serif", 22),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..n, lo..hi)?;
    chart
        .configure_mesh()
        .x_desc("configuration")
        .y_desc(label(name))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .draw()?;
    // At most about 2000 points per chain are drawn (every k-th configuration).
    let stride = (n as usize).div_ceil(2000).max(1);
    for (c, s) in h.series.iter().enumerate() {
        let color = Palette99::pick(c).mix(0.8);
        let points = s
            .iter()
            .enumerate()
            .step_by(stride)
            .map(|(i, &v)| (i as f64, v));
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(1)))?
            .label(format!("chain {c}"))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()?;

    let t_max = h.rho.len().max(2) as f64;
    let (rlo, _) = range_of(h.rho.iter().copied());
    let mut chart = ChartBuilder::on(&bottom)
        .caption(
            format!("Normalised autocorrelation, window W = {}", h.window),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5..t_max - 0.5, rlo.min(0.0) - 0.05..1.05)?;
    chart
        .configure_mesh()
        .x_desc("t")
        .y_desc("rho(t)")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .draw()?;
    chart.draw_series(LineSeries::new(
        h.rho.iter().enumerate().map(|(t, &r)| (t as f64, r)),
        BLUE.stroke_width(2),
    ))?;
    chart.draw_series(LineSeries::new(
        [(-0.5, 0.0), (t_max - 0.5, 0.0)],
        BLACK.mix(0.5),
    ))?;
    let w = h.window as f64;
    chart.draw_series(LineSeries::new(
        [(w, rlo.min(0.0) - 0.05), (w, 1.05)],
        RED.stroke_width(2),
    ))?;
    root.present()?;
    Ok(())
}

/// Axis label of a history series.
fn label(name: &str) -> &str {
    match name {
        "chi2" => "M^2/V",
        "abs_mag" => "|M|/V",
        other => other,
    }
}

/// The figures of a U(1) measurement in `dir` (created if needed): `charge_history.svg`, Q of
/// every configuration of every chain, and `charge_histogram.svg`, the measured P(Q).
pub fn write_gauge(m: &crate::GaugeMeasurement, dir: &Path) -> PlotResult<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let history = dir.join("charge_history.svg");
    charge_history(&m.charge_history, &history)?;
    let histogram = dir.join("charge_histogram.svg");
    charge_histogram(&m.charge_histogram, &histogram)?;
    Ok(vec![history, histogram])
}

fn charge_history(series: &[Vec<i64>], path: &Path) -> PlotResult<()> {
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let n = series.iter().map(Vec::len).max().unwrap_or(1).max(2) as f64;
    let (lo, hi) = range_of(series.iter().flatten().map(|&q| q as f64));
    let mut chart = ChartBuilder::on(&root)
        .caption("Topological charge history", ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..n, lo - 0.5..hi + 0.5)?;
    chart
        .configure_mesh()
        .x_desc("configuration")
        .y_desc("Q")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()?;
    for (c, s) in series.iter().enumerate() {
        let color = Palette99::pick(c).to_rgba();
        chart.draw_series(LineSeries::new(
            s.iter().enumerate().map(|(i, &q)| (i as f64, q as f64)),
            color.stroke_width(1),
        ))?;
    }
    root.present()?;
    Ok(())
}

fn charge_histogram(counts: &[crate::ChargeCount], path: &Path) -> PlotResult<()> {
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let (lo, hi) = range_of(counts.iter().map(|c| c.q as f64));
    let top = counts
        .iter()
        .map(|c| c.fraction)
        .fold(0.0, f64::max)
        .max(1e-3);
    let mut chart = ChartBuilder::on(&root)
        .caption("Distribution of the topological charge", ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(lo - 1.0..hi + 1.0, 0.0..top * 1.1)?;
    chart
        .configure_mesh()
        .x_desc("Q")
        .y_desc("P(Q)")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .draw()?;
    chart.draw_series(counts.iter().map(|c| {
        let q = c.q as f64;
        Rectangle::new([(q - 0.4, 0.0), (q + 0.4, c.fraction)], BLUE.filled())
    }))?;
    root.present()?;
    Ok(())
}
