//! SVG figures of a scan: an observable against the varied coupling, one colour per volume
//! (or other group), the measured points with error bars and the reweighted curve with its
//! error band.

use crate::plot::range_of;
use plotters::prelude::*;
use std::path::Path;

/// A value with its error at coupling `x`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct XyError {
    pub x: f64,
    pub y: f64,
    pub error: f64,
}

/// One group of a scan (one volume): its measured points and, where reweighting gave one, its
/// curve.
#[derive(Debug, Clone)]
pub struct ScanSeries {
    pub label: String,
    pub points: Vec<XyError>,
    pub curve: Vec<XyError>,
}

const SIZE: (u32, u32) = (720, 480);

/// Writes `title` (observable `y_label` against `x_label`) for every series into `path`.
pub fn scan_figure(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[ScanSeries],
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let all = || {
        series
            .iter()
            .flat_map(|s| s.points.iter().chain(&s.curve))
            .filter(|p| p.y.is_finite() && p.error.is_finite())
    };
    let (x_lo, x_hi) = range_of(all().map(|p| p.x));
    let (y_lo, y_hi) = range_of(all().flat_map(|p| [p.y - p.error, p.y + p.error]));
    let (xp, yp) = (0.04 * (x_hi - x_lo), 0.08 * (y_hi - y_lo));
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x_lo - xp..x_hi + xp, y_lo - yp..y_hi + yp)?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .draw()?;
    for (i, s) in series.iter().enumerate() {
        let colour = Palette99::pick(i).to_rgba();
        if s.curve.len() >= 2 {
            let band: Vec<(f64, f64)> = s
                .curve
                .iter()
                .map(|p| (p.x, p.y + p.error))
                .chain(s.curve.iter().rev().map(|p| (p.x, p.y - p.error)))
                .collect();
            chart.draw_series(std::iter::once(Polygon::new(
                band,
                colour.mix(0.2).filled(),
            )))?;
            chart.draw_series(LineSeries::new(
                s.curve.iter().map(|p| (p.x, p.y)),
                colour.stroke_width(2),
            ))?;
        }
        chart.draw_series(s.points.iter().map(|p| {
            ErrorBar::new_vertical(p.x, p.y - p.error, p.y, p.y + p.error, colour.filled(), 6)
        }))?;
        chart
            .draw_series(
                s.points
                    .iter()
                    .map(|p| Circle::new((p.x, p.y), 3, colour.filled())),
            )?
            .label(s.label.clone())
            .legend(move |(x, y)| Circle::new((x + 10, y), 4, colour.filled()));
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()?;
    root.present()?;
    Ok(())
}
