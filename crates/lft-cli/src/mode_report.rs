//! `--reference FILE` of `lft train`, `lft sample` and `lft measure`: the mode-collapse check
//! against a reference population (an HMC, heat-bath or annealing ensemble of the same physics).
//! The reference's mode weights (the signs of M, or P(Q)) come from `lft measure` of the file;
//! the candidate's are the flow's importance-reweighted proposals (`train`) or the ensemble's
//! own (`sample`, `measure`); the check reports the mass the candidate misses
//! ([`lft_stats::check_modes`]) and warns when it is significant.

use anyhow::{Context, Result, bail};
use lft_measure::{FermionChoice, MeasureOptions, measure, mode_weights};
use lft_stats::{ModeCheck, ModeWeight, check_modes};
use std::path::Path;

/// How a command prints its summary: one JSON object or text, and the reference ensemble of
/// the mode-collapse check (`--reference`), if any.
#[derive(Debug, Clone, Copy)]
pub struct Summary<'a> {
    pub json: bool,
    pub reference: Option<&'a Path>,
}

impl Summary<'_> {
    /// The reference, loaded (and measured), if one was given.
    pub fn reference(&self) -> Result<Option<Reference>> {
        self.reference.map(Reference::load).transpose()
    }
}

/// The reference ensemble's mode indicator and weights.
pub struct Reference {
    pub path: std::path::PathBuf,
    pub indicator: &'static str,
    pub modes: Vec<ModeWeight>,
}

impl Reference {
    /// Measures `path` (no fermionic observables) for its mode weights.
    pub fn load(path: &Path) -> Result<Self> {
        let options = MeasureOptions {
            fermions: FermionChoice::Off,
            ..MeasureOptions::default()
        };
        let measured = measure(&[path.to_path_buf()], &options)
            .with_context(|| format!("--reference {}", path.display()))?;
        let Some((indicator, modes)) = mode_weights(&measured) else {
            bail!(
                "--reference {}: the ensemble has no modes to compare (no magnetisation or charge)",
                path.display()
            );
        };
        Ok(Self {
            path: path.to_path_buf(),
            indicator,
            modes,
        })
    }

    /// The check of `candidate`'s modes (indicator `indicator`) against this reference.
    pub fn check(&self, indicator: &str, candidate: &[ModeWeight]) -> Result<ModeCheck> {
        if indicator != self.indicator {
            bail!(
                "--reference {}: its modes are {}, the candidate's {indicator}: not the same \
                 kind of field",
                self.path.display(),
                self.indicator
            );
        }
        Ok(check_modes(self.indicator, candidate, &self.modes))
    }
}

/// The check as JSON (`mode_check` of `--json`).
pub fn json(c: &ModeCheck, reference: &Path) -> serde_json::Value {
    serde_json::json!({
        "reference": reference,
        "indicator": c.indicator,
        "missing_mass": c.missing_mass,
        "missing_mass_error": c.missing_error,
        "collapsed": c.collapsed(),
        "modes": c.modes.iter().map(|m| serde_json::json!({
            "mode": m.0,
            "weight": m.1,
            "error": m.2,
            "reference": m.3,
            "reference_error": m.4,
        })).collect::<Vec<_>>(),
    })
}

/// The check as table rows.
pub fn print(c: &ModeCheck, what: &str) {
    println!("  modes ({}) of {what} against the reference:", c.indicator);
    for m in &c.modes {
        println!(
            "    {} = {:>3}   {:.4} ± {:.4}   reference {:.4} ± {:.4}",
            c.indicator, m.0, m.1, m.2, m.3, m.4
        );
    }
    println!(
        "  missing mass             {:.4} ± {:.4}{}",
        c.missing_mass,
        c.missing_error,
        if c.collapsed() {
            " (mode collapse)"
        } else {
            ""
        }
    );
}

/// The mode-collapse check of `lft measure --reference`: its warning is logged, printed after
/// the table and added to the JSON (`mode_check`, and `warnings`).
pub struct ModeReport {
    check: Option<(lft_stats::ModeCheck, std::path::PathBuf)>,
}

impl ModeReport {
    pub fn of(args: &crate::cli::MeasureArgs, measured: &lft_measure::Measured) -> Result<Self> {
        let Some(path) = &args.reference else {
            return Ok(Self { check: None });
        };
        let reference = Reference::load(path)?;
        let (indicator, modes) =
            lft_measure::mode_weights(measured).expect("a measurement has mode weights");
        let check = reference.check(indicator, &modes)?;
        if let Some(w) = check.warning("these configurations") {
            tracing::warn!("{w}");
        }
        Ok(Self {
            check: Some((check, reference.path)),
        })
    }

    /// `measurement` as JSON with the check added.
    pub fn to_json(&self, measurement: serde_json::Value) -> Result<serde_json::Value> {
        let mut value = measurement;
        if let Some((check, path)) = &self.check {
            value["mode_check"] = json(check, path);
            if let Some(w) = check.warning("these configurations") {
                match value["warnings"].as_array_mut() {
                    Some(list) => list.push(w.into()),
                    None => value["warnings"] = serde_json::json!([w]),
                }
            }
        }
        Ok(value)
    }

    pub fn print(&self) {
        if let Some((check, _)) = &self.check {
            print(check, "these configurations");
        }
    }
}
