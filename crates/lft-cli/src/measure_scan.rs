//! `lft measure DIR` on a scan folder: every point's observables against the varied keys (a
//! table, `--json` or `--csv`); along a varied coupling that enters the action linearly, the
//! points of each volume combined by MBAR into continuous curves with jackknife errors
//! (`--plot` draws them, `--crossing binder` finds where the Binder cumulants of successive
//! volumes cross).

use crate::cli::{CrossingArg, MeasureArgs};
use crate::scan_points::{CrossingResult, Family, Point, curve_key, label};
use crate::scan_record::ScanRecord;
use anyhow::{Context, Result, bail};
use lft_measure::reweighting::MIN_OVERLAP;
use lft_measure::{
    LinearCoupling, MeasureOptions, Measured, ReweightedFamily, coupling_grid, measure, read_point,
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
    crate::merge::task_files(&tasks)
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
        on_damage: crate::verify::on_damage(args.no_verify),
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
        crate::verify::warn_skipped(&files, args.no_verify)?;
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
        let files = crate::scan_report::plots(plot, &record.keys, columns, &measured, &families)?;
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
        let json = crate::scan_report::to_json(
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
        crate::scan_report::print_csv(&record.keys, columns, &measured);
    } else {
        crate::scan_report::print_table(
            dir,
            &record.keys,
            columns,
            &measured,
            &families,
            &crossings,
        );
    }
    Ok(())
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
            .map(|(p, f)| {
                read_point(
                    f,
                    coupling,
                    args.skip,
                    crate::verify::on_damage(args.no_verify),
                )
                .with_context(|| p.name.clone())
            })
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
        .map(|f| {
            read_point(
                f,
                coupling,
                args.skip,
                crate::verify::on_damage(args.no_verify),
            )
            .with_context(|| f.display().to_string())
        })
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
            let mut line = format!(
                "{c:>14} {:>9.0} {:>16}",
                z.ess,
                crate::scan_report::compact(z.value, z.error)
            );
            for n in names {
                let r = &curves.observables[*n][i];
                line += &format!(" {:>16}", crate::scan_report::compact(r.value, r.error));
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
