//! `lft measure`: observables of ensembles as a table or JSON, optional SVG figures, and
//! optionally stored in the ensemble file.

use crate::cli::CondensateArg;
use crate::cli::MeasureArgs;
use anyhow::{Result, bail};
use lft_measure::{
    CondensateMethod, FermionChoice, MeasureOptions, Measured, Measurement, measure,
};

/// Order and labels of the table.
const ROWS: [(&str, &str); 12] = [
    ("magnetization", "<M>/V"),
    ("abs_mag", "<|M|>/V"),
    ("mag2", "<M^2>/V"),
    ("phi2", "<phi^2>"),
    ("chi2", "chi_2"),
    ("chi2_abs", "chi_2 (|M|)"),
    ("ising_energy", "E_Ising"),
    ("binder", "U_4 (Binder)"),
    ("action_density", "<S>/V"),
    ("condensate", "(1/V)tr D^-1"),
    ("abs_condensate", "|(1/V)tr D^-1|"),
    ("det_negative", "det D < 0"),
];

pub fn run(args: &MeasureArgs) -> Result<()> {
    if args.store && args.files.len() != 1 {
        bail!(
            "--store writes into one ensemble file; give exactly one (got {})",
            args.files.len()
        );
    }
    if args.noise == 0 {
        bail!("--noise must be at least 1");
    }
    let fermions = match args.condensate {
        None => FermionChoice::Auto,
        Some(CondensateArg::Off) => FermionChoice::Off,
        Some(CondensateArg::Exact) => FermionChoice::Method(CondensateMethod::Exact),
        Some(CondensateArg::Stochastic) => {
            FermionChoice::Method(CondensateMethod::stochastic(args.noise))
        }
    };
    if let [dir] = &args.files[..]
        && crate::measure_scan::is_scan(dir)
    {
        return crate::measure_scan::run(args, dir);
    }
    if args.csv || args.crossing.is_some() {
        bail!("--csv and --crossing read the folder of an lft scan (give that folder)");
    }
    if args.reweight.is_some() {
        crate::verify::warn_skipped(&args.files, args.no_verify)?;
        return crate::measure_scan::run_files(args);
    }
    let options = MeasureOptions {
        skip: args.skip,
        bin: args.bin,
        fit_range: args.fit_range,
        fermions,
        on_damage: crate::verify::on_damage(args.no_verify),
    };
    crate::verify::warn_skipped(&args.files, args.no_verify)?;
    let measured = measure(&args.files, &options)?;
    let modes = crate::mode_report::ModeReport::of(args, &measured)?;
    let m = match measured {
        Measured::Scalar(m) => *m,
        Measured::Gauge(g) => return crate::measure_gauge::report(args, &g, &modes),
    };
    if let Some(dir) = &args.plot {
        let files = lft_measure::plot::write_all(&m, dir)
            .map_err(|e| anyhow::anyhow!("--plot {}: {e}", dir.display()))?;
        tracing::info!("wrote {} figures to {}", files.len(), dir.display());
    }
    if args.store {
        crate::store::store(&args.files[0], &m, &options)?;
        tracing::info!(
            "stored the results in {}:/measurements",
            args.files[0].display()
        );
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&modes.to_json(serde_json::to_value(&m)?)?)?
        );
    } else {
        print_table(&m);
        modes.print();
    }
    Ok(())
}

fn print_table(m: &Measurement) {
    println!(
        "{} configurations in {} chain(s){}",
        m.n_configs,
        m.n_chains,
        m.ess.map_or(String::new(), |e| format!(
            ", importance-weighted (ESS {e:.3})"
        ))
    );
    // The fermionic rows exist only for Yukawa ensembles.
    crate::store::print_observables(&m.observables, &ROWS);
    crate::correlator_report::print_correlator("C(t)", &m.correlator, &m.effective_mass);
    crate::correlator_report::print_mass("pole mass", m.pole_mass.as_ref(), m.bin_size);
    if let Some(z) = m.sampler.and_then(|s| s.log_z) {
        let error = z.error.map_or(
            "(one pass: no error; set anneal.repeats ≥ 2)".into(),
            |e| format!("± {e:.6}"),
        );
        println!(
            "log Z         {:.6} {error} (mean of {} passes' log Z; log of the mean Z {:.6})",
            z.mean, z.passes, z.log_mean_exp
        );
        if z.passes >= 2 {
            println!("(errors above: jackknife over passes, one block per pass)");
        }
        print_sign_balance(m);
        return;
    }
    if let Some(s) = m.sampler {
        let mut line = format!("sampler: acceptance {:.4}", s.acceptance);
        if let (Some(dh), Some(e)) = (s.mean_delta_h, s.mean_exp_minus_delta_h) {
            line += &format!(", <dH> {dh:.5}, <exp(-dH)> {e:.5}");
        }
        if let Some(ess) = s.ess {
            line += &format!(", ESS of the proposals {ess:.4}");
        }
        if let Some(k) = s.pareto_k {
            line += &format!(", Pareto k-hat {k:.3}");
        }
        println!("{line}, longest rejection run {}", s.longest_rejection_run);
    }
    print_sign_balance(m);
}

/// The fraction of configurations with M > 0 (Z₂-symmetric actions), and the warnings.
fn print_sign_balance(m: &Measurement) {
    if let Some(f) = &m.positive_fraction {
        let expected = if m.z2_symmetric {
            " (1/2 expected)"
        } else {
            ""
        };
        println!(
            "sign balance: M > 0 in {:.4} ± {:.4} of the configurations{expected}",
            f.value, f.error
        );
    }
    for w in &m.warnings {
        tracing::warn!("{w}");
    }
}
