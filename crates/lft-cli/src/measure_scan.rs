//! `lft measure DIR` on a scan folder: every point's observables against the varied keys (a
//! table, `--json` or `--csv`); along a varied coupling that enters the action linearly, the
//! points of each volume combined by MBAR into continuous curves with jackknife errors
//! (`--plot` draws them, `--crossing binder` finds where the Binder cumulants of successive
//! volumes cross).

use crate::cli::{CrossingArg, MeasureArgs};
use crate::scan_record::ScanRecord;
use anyhow::{Context, Result, bail};
use lft_measure::plot_scan::{ScanSeries, XyError, scan_figure};
use lft_measure::reweighting::MIN_OVERLAP;
use lft_measure::{
    LinearCoupling, MeasureOptions, Measured, ObservableResult, ReweightedFamily, coupling_grid,
    measure, read_point,
};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Observables of the table: key, label.
const SCALAR_COLUMNS: [(&str, &str); 5] = [
    ("abs_mag", "<|M|>/V"),
    ("chi2", "chi_2"),
    ("binder", "U_4"),
    ("phi2", "<phi^2>"),
    ("mag2", "<M^2>/V"),
];
const GAUGE_COLUMNS: [(&str, &str); 3] = [
    ("plaquette", "plaquette"),
    ("chi_t", "chi_t"),
    ("q2", "<Q^2>"),
];

/// A measured point.
struct Point {
    name: String,
    /// The varied keys' values, as written in the point's `--set`s.
    values: Vec<String>,
    /// Its ensemble, or the task files of its replicas (`lft submit --vary --tasks R`).
    files: Vec<PathBuf>,
    n_configs: usize,
    observables: BTreeMap<String, ObservableResult>,
    /// Importance-weighted samples (annealing, flow reweighting): not reweighted further.
    weighted: bool,
    /// U(1) links.
    gauge: bool,
}

/// The reweighted curves of one group of points (one volume).
struct Family {
    /// The other varied keys' values that define the group.
    group: Vec<String>,
    family: ReweightedFamily,
    curves: lft_measure::Curves,
    /// Couplings of the curve where the weights' ESS is below MIN_OVERLAP of an ensemble.
    low_overlap: Vec<f64>,
}

/// A point's ensemble `<name>.h5`, or its replicas `<name>/task-NNNN.h5`; none yet: empty.
fn point_files(dir: &Path, name: &str) -> Result<Vec<PathBuf>> {
    let file = dir.join(format!("{name}.h5"));
    if file.exists() {
        return Ok(vec![file]);
    }
    let tasks = dir.join(name);
    if !tasks.is_dir() {
        return Ok(Vec::new());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&tasks)
        .with_context(|| format!("{}", tasks.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("task-") && n.ends_with(".h5"))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// A scan folder, if `path` is one.
pub fn is_scan(path: &Path) -> bool {
    path.is_dir() && ScanRecord::path(path).exists()
}

pub fn run(args: &MeasureArgs, dir: &Path) -> Result<()> {
    let record = ScanRecord::read(dir)?;
    let options = MeasureOptions {
        skip: args.skip,
        bin: args.bin,
        ..Default::default()
    };
    let mut points = Vec::new();
    let mut missing = Vec::new();
    for p in &record.points {
        let files = point_files(dir, &p.name)?;
        if files.is_empty() {
            missing.push(p.name.clone());
            continue;
        }
        let values = p
            .assignments
            .iter()
            .map(|a| a.split_once('=').map_or(a.clone(), |(_, v)| v.to_string()))
            .collect();
        points.push((p.name.clone(), values, files));
    }
    if points.is_empty() {
        bail!(
            "{}: none of the {} point(s) has an ensemble yet (run lft scan)",
            dir.display(),
            record.points.len()
        );
    }
    crate::scan_check::same_physics(&points, &record.keys)?;
    // Points in parallel (each measurement is mostly serial).
    let measured = points
        .into_par_iter()
        .map(|(name, values, files)| {
            let m = measure(&files, &options).with_context(|| format!("point {name}"))?;
            let (n_configs, observables, weighted, gauge) = match m {
                Measured::Scalar(m) => (m.n_configs, m.observables, m.weighted, false),
                Measured::Gauge(g) => (g.n_configs, g.observables, g.weighted, true),
            };
            Ok(Point {
                name,
                values,
                files,
                n_configs,
                observables,
                weighted,
                gauge,
            })
        })
        .collect::<Result<Vec<Point>>>()?;
    let gauge = measured.iter().any(|p| p.gauge);
    let columns: &[(&str, &str)] = if gauge {
        &GAUGE_COLUMNS
    } else {
        &SCALAR_COLUMNS
    };
    let families = reweight(args, &record.keys, &measured)?;
    let crossings = match args.crossing {
        Some(CrossingArg::Binder) => binder_crossings(&families)?,
        None => Vec::new(),
    };
    if let Some(plot) = &args.plot {
        let files = plots(plot, &record.keys, columns, &measured, &families)?;
        tracing::info!("wrote {} figures to {}", files, plot.display());
    }
    for f in &families {
        if let (Some(lo), Some(hi)) = (f.low_overlap.first(), f.low_overlap.last()) {
            tracing::warn!(
                "{}: too little overlap for reweighting (ESS < {:.0}% of an ensemble) at {} \
                 coupling(s) between {lo} and {hi}: the curve there rests on few \
                 configurations; add points in between",
                label(&f.group),
                100.0 * MIN_OVERLAP,
                f.low_overlap.len()
            );
        }
    }
    for m in &missing {
        tracing::warn!("point {m}: no ensemble yet (run lft scan to finish it)");
    }
    if args.json {
        let json = to_json(
            dir,
            &record.keys,
            columns,
            &measured,
            &families,
            &crossings,
            &missing,
        );
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else if args.csv {
        print_csv(&record.keys, columns, &measured);
    } else {
        print_table(dir, &record.keys, columns, &measured, &families, &crossings);
    }
    Ok(())
}

/// The varied key along which points are reweighted: the one that enters the action linearly
/// (the others group the points, e.g. by volume).
fn curve_key(keys: &[String]) -> Option<(usize, LinearCoupling)> {
    keys.iter()
        .enumerate()
        .find_map(|(i, k)| LinearCoupling::from_key(k).map(|c| (i, c)))
}

fn label(group: &[String]) -> String {
    if group.is_empty() {
        "all points".into()
    } else {
        group.join(", ")
    }
}

/// MBAR over the points of each group, its curves on a grid between the group's couplings.
fn reweight(args: &MeasureArgs, keys: &[String], points: &[Point]) -> Result<Vec<Family>> {
    let Some((axis, coupling)) = curve_key(keys) else {
        if args.crossing.is_some() || args.reweight.is_some() {
            bail!(
                "none of the varied keys ({}) enters the action linearly, so the points cannot \
                 be reweighted into curves; these can: {}",
                keys.join(", "),
                LinearCoupling::KEYS
            );
        }
        return Ok(Vec::new());
    };
    if let Some(p) = points.iter().find(|p| p.weighted) {
        let why = format!(
            "point {} holds importance-weighted samples (annealing or flow reweighting); MBAR \
             between couplings takes Markov chains of e^(-S) (HMC, heat bath, flow Metropolis)",
            p.name
        );
        if args.crossing.is_some() || args.reweight.is_some() {
            bail!("cannot reweight: {why}");
        }
        tracing::info!("no reweighted curves: {why}");
        return Ok(Vec::new());
    }
    let mut groups: BTreeMap<Vec<String>, Vec<&Point>> = BTreeMap::new();
    for p in points {
        let mut g = p.values.clone();
        g.remove(axis);
        groups.entry(g).or_default().push(p);
    }
    let mut families = Vec::new();
    for (group, members) in groups {
        // Replicas of a point are ensembles at the same coupling: MBAR takes them as such.
        let series = members
            .iter()
            .flat_map(|p| p.files.iter().map(move |f| (p, f)))
            .map(|(p, f)| read_point(f, coupling, args.skip).with_context(|| p.name.clone()))
            .collect::<Result<Vec<_>>>()?;
        let family = ReweightedFamily::new(coupling, series, args.blocks)
            .with_context(|| format!("reweighting {}", label(&group)))?;
        let grid = match reweight_targets(args)? {
            Some((key, targets)) if key == keys[axis] => targets,
            Some((key, _)) => bail!(
                "--reweight {key}: this scan's points are reweighted along {}",
                keys[axis]
            ),
            None => coupling_grid(family.couplings(), args.grid),
        };
        let curves = family.curves(&grid);
        let threshold = MIN_OVERLAP * family.largest() as f64;
        let low_overlap = curves
            .log_z
            .iter()
            .zip(&curves.coupling)
            .filter(|(r, _)| r.ess < threshold)
            .map(|(_, &c)| c)
            .collect();
        families.push(Family {
            group,
            family,
            curves,
            low_overlap,
        });
    }
    // Smallest volume first.
    families.sort_by(|a, b| {
        extent(keys, &a.group)
            .unwrap_or(0.0)
            .total_cmp(&extent(keys, &b.group).unwrap_or(0.0))
    });
    Ok(families)
}

/// `--reweight KEY=SPEC`: the coupling and its target values.
pub fn reweight_targets(args: &MeasureArgs) -> Result<Option<(String, Vec<f64>)>> {
    let Some(spec) = &args.reweight else {
        return Ok(None);
    };
    let vary: lft_config::Vary = spec.parse()?;
    if LinearCoupling::from_key(&vary.key).is_none() {
        bail!(
            "--reweight {}: only couplings that enter the action linearly can be reweighted: {}",
            vary.key,
            LinearCoupling::KEYS
        );
    }
    let values = vary
        .values
        .iter()
        .map(|v| {
            v.as_float()
                .or_else(|| v.as_integer().map(|i| i as f64))
                .ok_or_else(|| anyhow::anyhow!("--reweight {}: `{v}` is not a number", vary.key))
        })
        .collect::<Result<Vec<f64>>>()?;
    Ok(Some((vary.key, values)))
}

/// `lft measure FILES --reweight KEY=SPEC`: the files' ensembles (at one coupling: one
/// ensemble, single-histogram reweighting; at several: MBAR) reweighted to the targets.
pub fn run_files(args: &MeasureArgs) -> Result<()> {
    let (key, targets) = reweight_targets(args)?.expect("called with --reweight");
    let coupling = LinearCoupling::from_key(&key).expect("checked");
    let series = args
        .files
        .iter()
        .map(|f| read_point(f, coupling, args.skip).with_context(|| f.display().to_string()))
        .collect::<Result<Vec<_>>>()?;
    let family = ReweightedFamily::new(coupling, series, args.blocks)?;
    let curves = family.curves(&targets);
    let threshold = MIN_OVERLAP * family.largest() as f64;
    if args.json {
        let observables: serde_json::Map<String, serde_json::Value> = curves
            .observables
            .iter()
            .map(|(k, v)| {
                let list: Vec<serde_json::Value> = v
                    .iter()
                    .map(|r| serde_json::json!({"value": r.value, "error": r.error}))
                    .collect();
                (k.clone(), serde_json::Value::Array(list))
            })
            .collect();
        let json = serde_json::json!({
            "key": key,
            "couplings": family.couplings(),
            "coupling": curves.coupling,
            "ess": curves.log_z.iter().map(|r| r.ess).collect::<Vec<_>>(),
            "log_z": curves.log_z.iter().map(|r| serde_json::json!({"value": r.value, "error": r.error})).collect::<Vec<_>>(),
            "observables": observables,
        });
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        println!(
            "reweighted from {key} = {:?} ({} configurations)",
            family.couplings(),
            family.largest()
        );
        let names = coupling.observables();
        let mut header = format!("{key:>14} {:>9} {:>16}", "ESS", "dlog Z");
        for n in names {
            header += &format!(" {n:>16}");
        }
        println!("{header}");
        for (i, c) in curves.coupling.iter().enumerate() {
            let z = &curves.log_z[i];
            let mut line = format!("{c:>14} {:>9.0} {:>16}", z.ess, compact(z.value, z.error));
            for n in names {
                let r = &curves.observables[*n][i];
                line += &format!(" {:>16}", compact(r.value, r.error));
            }
            println!("{line}");
        }
        println!("(dlog Z = log Z(c) - log Z at the smallest simulated coupling)");
    }
    for (z, c) in curves.log_z.iter().zip(&curves.coupling) {
        if z.ess < threshold {
            tracing::warn!(
                "{key} = {c}: too little overlap for reweighting (ESS {:.0} of {}                  configurations, below {:.0}%): the estimate there is unreliable",
                z.ess,
                family.largest(),
                100.0 * MIN_OVERLAP
            );
        }
    }
    Ok(())
}

/// Linear extent of a group's lattice, from its `lattice.shape` value (`[16, 16]`), for
/// ordering volumes; groups without one keep their order.
fn extent(keys: &[String], group: &[String]) -> Option<f64> {
    let others: Vec<&String> = keys
        .iter()
        .filter(|k| LinearCoupling::from_key(k).is_none())
        .collect();
    let i = others.iter().position(|k| *k == "lattice.shape")?;
    let text = group.get(i)?;
    let sizes: Vec<f64> = text
        .trim_matches(['[', ']'])
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    (!sizes.is_empty()).then(|| sizes.iter().product::<f64>())
}

/// A crossing of U₄ between two groups.
struct CrossingResult {
    groups: [String; 2],
    value: f64,
    error: f64,
}

/// The crossings of the Binder cumulant between successive volumes.
fn binder_crossings(families: &[Family]) -> Result<Vec<CrossingResult>> {
    if families.len() < 2 {
        bail!(
            "--crossing binder needs points at two or more volumes (vary lattice.shape too); \
             this scan has {}",
            families.len()
        );
    }
    if families[0].family.couplings().len() < 2 {
        bail!("--crossing binder needs at least two couplings per volume");
    }
    let mut out = Vec::new();
    // Families are ordered by volume.
    for pair in families.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let lo = a.family.couplings()[0].max(b.family.couplings()[0]);
        let hi = a
            .family
            .couplings()
            .last()
            .copied()
            .unwrap_or(lo)
            .min(b.family.couplings().last().copied().unwrap_or(lo));
        let grid = coupling_grid(&[lo, hi], 41);
        match ReweightedFamily::crossing_of(&a.family, &b.family, "binder", &grid) {
            Some(x) => out.push(CrossingResult {
                groups: [label(&a.group), label(&b.group)],
                value: x.value,
                error: x.error,
            }),
            None => tracing::warn!(
                "U_4 of {} and of {} do not cross between {lo} and {hi}",
                label(&a.group),
                label(&b.group)
            ),
        }
    }
    Ok(out)
}

/// `value(error)` with two digits of the error.
pub fn compact(value: f64, error: f64) -> String {
    if !(error.is_finite() && error > 0.0) {
        return format!("{value:.6}");
    }
    let digits = (1 - error.log10().floor() as i32).max(0) as usize;
    let scaled = (error * 10f64.powi(digits as i32)).round();
    format!("{value:.digits$}({scaled:.0})")
}

fn print_table(
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

fn print_csv(keys: &[String], columns: &[(&str, &str)], points: &[Point]) {
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

fn to_json(
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
fn plots(
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
