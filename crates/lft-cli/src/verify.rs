//! `lft verify FILE...`: every round of every file against its checksum, one line per file
//! (damage listed below it), exit code 1 if anything is damaged; and the `--no-verify` of the
//! commands that read ensembles.

use crate::cli::VerifyArgs;
use anyhow::{Result, bail};
use lft_io::{Damage, EnsembleError, EnsembleReader, OnDamage, Verification};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

pub fn run(args: &VerifyArgs) -> Result<()> {
    let mut damaged = 0;
    let mut files = Vec::new();
    for path in &args.files {
        let outcome = EnsembleReader::open(path).and_then(|r| r.verify());
        if !matches!(&outcome, Ok(v) if v.is_clean()) {
            damaged += 1;
        }
        if args.json {
            files.push(file_json(path, &outcome));
        } else {
            print_file(path, &outcome);
        }
    }
    if args.json {
        let out = json!({"files": files, "checked": args.files.len(), "damaged": damaged});
        println!("{out}");
    }
    if damaged > 0 {
        bail!(
            "{damaged} of {} file(s) damaged or unreadable",
            args.files.len()
        );
    }
    Ok(())
}

fn print_file(path: &Path, outcome: &Result<Verification, EnsembleError>) {
    let name = path.display();
    let v = match outcome {
        Ok(v) => v,
        Err(e) => {
            println!("{name}: UNREADABLE: {}", without_path(e, path));
            return;
        }
    };
    let what = if v.checksums {
        format!(
            "{} chain(s), {} configurations, {} rounds checked by CRC-32",
            v.chains, v.configurations, v.rounds
        )
    } else {
        format!(
            "{} chain(s), {} configurations; written before checksums: lengths and values checked",
            v.chains, v.configurations
        )
    };
    let tail = if v.uncommitted > 0 {
        format!(
            "; {} rows of an interrupted append past the last round (a resume drops them)",
            v.uncommitted
        )
    } else {
        String::new()
    };
    if v.is_clean() {
        println!("{name}: ok ({what}{tail})");
        return;
    }
    println!(
        "{name}: DAMAGED, {} finding(s) ({what}{tail})",
        v.damage.len()
    );
    for d in &v.damage {
        println!("  {d}");
    }
}

/// The message of `e` without the leading file name (the line already starts with it).
fn without_path(e: &EnsembleError, path: &Path) -> String {
    let text = e.to_string();
    let prefix = format!("{}: ", path.display());
    text.strip_prefix(&prefix).unwrap_or(&text).to_string()
}

fn file_json(path: &Path, outcome: &Result<Verification, EnsembleError>) -> Value {
    match outcome {
        Err(e) => json!({
            "path": path,
            "status": "unreadable",
            "error": without_path(e, path),
        }),
        Ok(v) => json!({
            "path": path,
            "status": if v.is_clean() { "ok" } else { "damaged" },
            "checksums": v.checksums,
            "chains": v.chains,
            "configurations": v.configurations,
            "rounds": v.rounds,
            "uncommitted": v.uncommitted,
            "damage": v.damage.iter().map(damage_json).collect::<Vec<_>>(),
        }),
    }
}

fn damage_json(d: &Damage) -> Value {
    json!({
        "chain": d.chain,
        "dataset": d.dataset,
        "rows": [d.rows.start, d.rows.end],
        "round": d.round,
        "kind": d.kind.name(),
        "detail": d.detail,
    })
}

/// The reading policy of `--no-verify`.
pub(crate) fn on_damage(no_verify: bool) -> OnDamage {
    if no_verify {
        OnDamage::Skip
    } else {
        OnDamage::Stop
    }
}

/// With `--no-verify`: a warning for every damaged round of `files` that reads will leave out.
pub(crate) fn warn_skipped(files: &[PathBuf], no_verify: bool) -> Result<()> {
    if !no_verify {
        return Ok(());
    }
    for file in files.iter().filter(|f| f.is_file()) {
        let reader = EnsembleReader::open_with(file, OnDamage::Skip)?;
        for d in reader.skipped()? {
            tracing::warn!("{}: skipping damaged rows: {d}", file.display());
        }
    }
    Ok(())
}

/// Whether `e` is damaged data found by a checked read.
pub(crate) fn is_damage(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<EnsembleError>(),
            Some(EnsembleError::Corrupt { .. })
        ) || matches!(
            c.downcast_ref::<lft_measure::MeasureError>(),
            Some(lft_measure::MeasureError::File(
                EnsembleError::Corrupt { .. }
            ))
        )
    })
}
