//! The points of a scan differ only in the varied keys: every other physics key (`lattice.*`,
//! `action.*`) of the stored configs must agree, or the points are not one scan.

use anyhow::{Context, Result, bail};
use lft_io::EnsembleReader;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The physics keys of a stored config, flattened: `action.lambda` → its TOML value.
fn physics_keys(config_text: &str) -> Result<BTreeMap<String, String>> {
    let table: toml::Table = toml::from_str(config_text).context("its stored config")?;
    let mut out = BTreeMap::new();
    for section in ["lattice", "action"] {
        if let Some(t) = table.get(section).and_then(toml::Value::as_table) {
            flatten(section, t, &mut out);
        }
    }
    Ok(out)
}

fn flatten(prefix: &str, table: &toml::Table, out: &mut BTreeMap<String, String>) {
    for (k, v) in table {
        let key = format!("{prefix}.{k}");
        match v {
            toml::Value::Table(t) => flatten(&key, t, out),
            other => {
                out.insert(key, other.to_string());
            }
        }
    }
}

/// Refuses points (name, values, file) whose stored configs differ in a physics key that is
/// not one of the varied `keys`, naming the key and the two points.
pub fn same_physics(points: &[(String, Vec<String>, Vec<PathBuf>)], keys: &[String]) -> Result<()> {
    let mut first: Option<(&str, BTreeMap<String, String>)> = None;
    for (name, _, files) in points {
        let Some(file) = files.first() else { continue };
        let reader = EnsembleReader::open(file).with_context(|| format!("point {name}"))?;
        let physics = physics_keys(&reader.meta().config_text)
            .with_context(|| format!("{}", file.display()))?;
        let Some((first_name, reference)) = &first else {
            first = Some((name, physics));
            continue;
        };
        let all: std::collections::BTreeSet<&String> =
            reference.keys().chain(physics.keys()).collect();
        for key in all {
            if keys.contains(key) {
                continue;
            }
            let (a, b) = (reference.get(key), physics.get(key));
            if a != b {
                bail!(
                    "the points of this scan differ in `{key}`, which is not varied: {} in \
                     {first_name}, {} in {name}; a scan compares points that differ only in \
                     the varied keys ({})",
                    a.map_or("unset", String::as_str),
                    b.map_or("unset", String::as_str),
                    keys.join(", ")
                );
            }
        }
    }
    Ok(())
}
