//! What `lft measure DIR` prints for a scan: the table of every point, its CSV, the JSON
//! object (points, reweighted curves, crossings), and the figures.

use crate::scan_points::{CrossingResult, Family, Point, curve_key, label};
use anyhow::{Context, Result};
use lft_measure::plot_scan::{ScanSeries, XyError, scan_figure};
use std::collections::BTreeMap;
use std::path::Path;

/// `value(error)` with two digits of the error.
pub fn compact(value: f64, error: f64) -> String {
    if !(error.is_finite() && error > 0.0) {
        return format!("{value:.6}");
    }
    let digits = (1 - error.log10().floor() as i32).max(0) as usize;
    let scaled = (error * 10f64.powi(digits as i32)).round();
    format!("{value:.digits$}({scaled:.0})")
}

pub(crate) fn print_table(
    dir: &Path,
    keys: &[String],
    columns: &[(&str, &str)],
    points: &[Point],
    families: &[Family],
    crossings: &[CrossingResult],
) {
    println!("scan {}: {} point(s)", dir.display(), points.len());
    let mut header: Vec<String> = keys.to_vec();
    header.push("configs".into());
    header.extend(columns.iter().map(|(_, l)| l.to_string()));
    let rows: Vec<Vec<String>> = points
        .iter()
        .map(|p| {
            let mut row = p.values.clone();
            row.push(p.n_configs.to_string());
            row.extend(columns.iter().map(|(k, _)| {
                p.observables
                    .get(*k)
                    .map_or("—".into(), |o| compact(o.value, o.error))
            }));
            row
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|j| {
            rows.iter()
                .map(|r| r[j].chars().count())
                .chain([header[j].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:>w$}"))
            .collect::<Vec<_>>()
            .join("  ")
    };
    println!("{}", line(&header));
    for r in &rows {
        println!("{}", line(r));
    }
    for f in families {
        let c = f.family.couplings();
        println!(
            "reweighted ({}): MBAR over {} ensemble(s) at {:?}; curves at {} couplings (--json)",
            label(&f.group),
            c.len(),
            c,
            f.curves.coupling.len()
        );
    }
    for x in crossings {
        println!(
            "U_4 crossing of {} and {}: {}",
            x.groups[0],
            x.groups[1],
            compact(x.value, x.error)
        );
    }
}

pub(crate) fn print_csv(keys: &[String], columns: &[(&str, &str)], points: &[Point]) {
    let mut header: Vec<String> = keys.to_vec();
    header.push("configs".into());
    for (k, _) in columns {
        header.push(k.to_string());
        header.push(format!("{k}_error"));
    }
    println!("{}", header.join(","));
    for p in points {
        let mut row: Vec<String> = p.values.iter().map(|v| csv_cell(v)).collect();
        row.push(p.n_configs.to_string());
        for (k, _) in columns {
            match p.observables.get(*k) {
                Some(o) => {
                    row.push(o.value.to_string());
                    row.push(o.error.to_string());
                }
                None => row.extend([String::new(), String::new()]),
            }
        }
        println!("{}", row.join(","));
    }
}

/// A CSV cell, quoted where it holds a comma or a quote.
fn csv_cell(text: &str) -> String {
    if text.contains([',', '"']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

pub(crate) fn to_json(
    dir: &Path,
    keys: &[String],
    columns: &[(&str, &str)],
    points: &[Point],
    families: &[Family],
    crossings: &[CrossingResult],
    missing: &[String],
) -> serde_json::Value {
    let points: Vec<serde_json::Value> = points
        .iter()
        .map(|p| {
            let set: serde_json::Map<String, serde_json::Value> = keys
                .iter()
                .zip(&p.values)
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect();
            let observables: serde_json::Map<String, serde_json::Value> = columns
                .iter()
                .filter_map(|(k, _)| {
                    p.observables
                        .get(*k)
                        .map(|o| (k.to_string(), serde_json::to_value(o).expect("serialises")))
                })
                .collect();
            serde_json::json!({
                "name": p.name,
                "set": set,
                "files": p.files,
                "n_configs": p.n_configs,
                "observables": observables,
            })
        })
        .collect();
    let reweighted: Vec<serde_json::Value> = families
        .iter()
        .map(|f| {
            let series = |values: &[lft_stats::Reweighted]| {
                serde_json::json!({
                    "value": values.iter().map(|r| r.value).collect::<Vec<_>>(),
                    "error": values.iter().map(|r| r.error).collect::<Vec<_>>(),
                })
            };
            let observables: serde_json::Map<String, serde_json::Value> = f
                .curves
                .observables
                .iter()
                .map(|(k, v)| (k.clone(), series(v)))
                .collect();
            serde_json::json!({
                "group": f.group,
                "couplings": f.family.couplings(),
                "coupling": f.curves.coupling,
                "ess": f.curves.log_z.iter().map(|r| r.ess).collect::<Vec<_>>(),
                "log_z": series(&f.curves.log_z),
                "observables": observables,
                "low_overlap": f.low_overlap,
            })
        })
        .collect();
    let crossings: Vec<serde_json::Value> = crossings
        .iter()
        .map(|x| {
            serde_json::json!({
                "observable": "binder",
                "groups": x.groups,
                "value": x.value,
                "error": x.error,
            })
        })
        .collect();
    let axis = curve_key(keys).map(|(i, _)| keys[i].clone());
    serde_json::json!({
        "scan": dir,
        "vary": keys,
        "points": points,
        "missing": missing,
        "reweighting": axis.map(|key| serde_json::json!({ "key": key, "families": reweighted })),
        "crossings": crossings,
    })
}

/// A `--set` value (TOML) as JSON: numbers as numbers, arrays as arrays, else the text.
fn toml_to_json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.to_string()))
}

/// One figure per observable: points and curves against the coupling, one series per group.
pub(crate) fn plots(
    dir: &Path,
    keys: &[String],
    columns: &[(&str, &str)],
    points: &[Point],
    families: &[Family],
) -> Result<usize> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    if keys.is_empty() {
        return Ok(0);
    }
    // Against the reweighted coupling, else the first varied key.
    let axis = curve_key(keys).map_or(0, |(i, _)| i);
    let mut groups: BTreeMap<Vec<String>, Vec<&Point>> = BTreeMap::new();
    for p in points {
        let mut g = p.values.clone();
        g.remove(axis);
        groups.entry(g).or_default().push(p);
    }
    let mut written = 0;
    for (key, name) in columns {
        let series: Vec<ScanSeries> = groups
            .iter()
            .map(|(group, members)| ScanSeries {
                label: label(group),
                points: members
                    .iter()
                    .filter_map(|p| {
                        let x = p.values[axis].parse::<f64>().ok()?;
                        let o = p.observables.get(*key)?;
                        Some(XyError {
                            x,
                            y: o.value,
                            error: o.error,
                        })
                    })
                    .collect(),
                curve: families
                    .iter()
                    .find(|f| &f.group == group)
                    .and_then(|f| f.curves.observables.get(*key))
                    .map(|values| {
                        let f = families.iter().find(|f| &f.group == group).expect("found");
                        f.curves
                            .coupling
                            .iter()
                            .zip(values)
                            .map(|(&x, r)| XyError {
                                x,
                                y: r.value,
                                error: r.error,
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect();
        if series.iter().all(|s| s.points.is_empty()) {
            continue;
        }
        let path = dir.join(format!("scan_{key}.svg"));
        scan_figure(
            &path,
            &format!("{name} against {}", keys[axis]),
            &keys[axis],
            name,
            &series,
        )
        .map_err(|e| anyhow::anyhow!("--plot {}: {e}", path.display()))?;
        written += 1;
    }
    Ok(written)
}
