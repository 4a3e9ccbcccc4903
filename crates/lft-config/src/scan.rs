//! Parameter scans: `--vary KEY=SPEC` and the grid of points they make.
//!
//! SPEC is a list of TOML values (`-4.2,-4.1,-4.0`, `[8,8],[16,16]`, commas inside brackets
//! belong to the value) or a range `START:STOP:COUNT` of COUNT ≥ 2 evenly spaced values, both
//! ends included (`0.26:0.28:11`). Several `--vary` make the product grid, the last varying
//! fastest. A point is named by its assignments, `action.kappa=0.27,lattice.shape=16x16`,
//! which is also its file name in the scan folder.

use crate::ConfigError;

/// Keys a scan sets for every point itself (where the point's files go), which a `--vary`
/// must not change.
pub const RESERVED_KEYS: [&str; 5] = [
    "output.path",
    "task",
    "train.checkpoint",
    "anneal.checkpoint",
    "snf.checkpoint",
];

/// One `--vary KEY=SPEC`: a config key and its values.
#[derive(Debug, Clone, PartialEq)]
pub struct Vary {
    pub key: String,
    pub values: Vec<toml::Value>,
}

/// One point of a scan: a value for every varied key, in `--vary` order.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanPoint {
    pub assignments: Vec<(String, toml::Value)>,
}

fn vary_error(item: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Vary {
        item: item.to_string(),
        message: message.into(),
    }
}

impl std::str::FromStr for Vary {
    type Err = ConfigError;

    /// Parses `KEY=SPEC`.
    fn from_str(item: &str) -> Result<Self, ConfigError> {
        let (key, spec) = item
            .split_once('=')
            .ok_or_else(|| vary_error(item, "expected KEY=SPEC, e.g. action.m2=-4.2,-4.1"))?;
        let key = key.trim();
        if key.is_empty() || key.split('.').any(|p| p.trim().is_empty()) {
            return Err(vary_error(item, "empty key"));
        }
        if let Some(reserved) = RESERVED_KEYS
            .iter()
            .find(|r| key == **r || key.starts_with(&format!("{r}.")))
        {
            return Err(vary_error(
                item,
                format!(
                    "`{reserved}` is set by the scan itself (every point's files go into the \
                     scan folder, named after the point); resume could not find a point whose \
                     files it moved"
                ),
            ));
        }
        let spec = spec.trim();
        if spec.is_empty() {
            return Err(vary_error(
                item,
                "empty SPEC: give a list a,b,c or a range START:STOP:COUNT",
            ));
        }
        let values = if is_range(spec) {
            parse_range(spec).map_err(|m| vary_error(item, m))?
        } else {
            parse_list(spec).map_err(|m| vary_error(item, m))?
        };
        for (i, v) in values.iter().enumerate() {
            if values[..i].contains(v) {
                return Err(vary_error(item, format!("the value {v} appears twice")));
            }
        }
        Ok(Vary {
            key: key.to_string(),
            values,
        })
    }
}

/// A range has the form a:b:n and no brackets or quotes.
fn is_range(spec: &str) -> bool {
    spec.contains(':') && !spec.contains(['[', '"', '\'', ','])
}

/// START:STOP:COUNT → COUNT evenly spaced values (integers where all of them are).
fn parse_range(spec: &str) -> Result<Vec<toml::Value>, String> {
    let parts: Vec<&str> = spec.split(':').map(str::trim).collect();
    let [a, b, n] = parts[..] else {
        return Err(format!(
            "range `{spec}`: expected START:STOP:COUNT, e.g. 0.26:0.28:11"
        ));
    };
    let number = |s: &str| {
        s.parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .ok_or_else(|| format!("range `{spec}`: `{s}` is not a finite number"))
    };
    let (start, stop) = (number(a)?, number(b)?);
    let count: usize = n
        .parse()
        .map_err(|_| format!("range `{spec}`: the count `{n}` is not a whole number"))?;
    if count < 2 {
        return Err(format!(
            "range `{spec}`: the count must be at least 2 (one value is a list: `{a}`)"
        ));
    }
    if start == stop {
        return Err(format!("range `{spec}`: START and STOP are equal"));
    }
    let integers = [a, b].iter().all(|s| s.parse::<i64>().is_ok())
        && (stop - start) % (count - 1) as f64 == 0.0;
    Ok((0..count)
        .map(|i| {
            let x = start + (stop - start) * i as f64 / (count - 1) as f64;
            if integers {
                toml::Value::Integer(x.round() as i64)
            } else {
                // 12 decimals: 0.26 + 0.002·5 is 0.27, not 0.27000000000000002.
                toml::Value::Float(format!("{x:.12}").parse().expect("a formatted float"))
            }
        })
        .collect())
}

/// a,b,c with commas inside brackets kept; each item TOML, or a bare string.
fn parse_list(spec: &str) -> Result<Vec<toml::Value>, String> {
    let mut items = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, ch) in spec.char_indices() {
        match ch {
            '[' => depth += 1,
            ']' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&spec[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        if depth < 0 {
            return Err(format!("`{spec}`: unbalanced `]`"));
        }
    }
    if depth != 0 {
        return Err(format!("`{spec}`: unbalanced `[`"));
    }
    items.push(&spec[start..]);
    items
        .into_iter()
        .map(|raw| {
            let raw = raw.trim();
            if raw.is_empty() {
                return Err(format!("`{spec}`: an empty value between commas"));
            }
            Ok(match toml::from_str::<toml::Table>(&format!("v = {raw}")) {
                Ok(mut t) => t.remove("v").expect("parsed table has v"),
                Err(_) if raw.contains(['[', ']', '"']) => {
                    return Err(format!("`{raw}` is not a TOML value"));
                }
                Err(_) => toml::Value::String(raw.to_string()),
            })
        })
        .collect()
}

/// The product grid of `varies` (the last varies fastest). Refuses a key varied twice.
pub fn grid(varies: &[Vary]) -> Result<Vec<ScanPoint>, ConfigError> {
    for (i, v) in varies.iter().enumerate() {
        if varies[..i].iter().any(|w| w.key == v.key) {
            return Err(vary_error(&v.key, "the key is varied twice"));
        }
    }
    let mut points = vec![ScanPoint {
        assignments: Vec::new(),
    }];
    for v in varies {
        points = points
            .into_iter()
            .flat_map(|p| {
                v.values.iter().map(move |value| {
                    let mut assignments = p.assignments.clone();
                    assignments.push((v.key.clone(), value.clone()));
                    ScanPoint { assignments }
                })
            })
            .collect();
    }
    Ok(points)
}

/// A value as it appears in a point's name: numbers as TOML writes them, arrays joined by
/// `x` (`[16, 16]` → `16x16`), strings bare; `/` and spaces become `_`.
pub fn value_label(value: &toml::Value) -> String {
    let text = match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Array(items) => items.iter().map(value_label).collect::<Vec<_>>().join("x"),
        other => other.to_string(),
    };
    text.replace(['/', ' ', '\\'], "_")
}

impl ScanPoint {
    /// `key=value,key=value`: the point's name and file stem.
    pub fn name(&self) -> String {
        self.assignments
            .iter()
            .map(|(k, v)| format!("{k}={}", value_label(v)))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The point's `--set` overrides.
    pub fn overrides(&self) -> Vec<String> {
        self.assignments
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    }
}

/// Refuses a varied key whose section the config lacks (`hmc.steps` of a flow config would
/// add an [hmc] section and turn every point into another kind of run). Unknown keys inside
/// a section the schema refuses when a point's config is loaded.
pub fn check_key(file: &crate::ConfigFile, key: &str) -> Result<(), ConfigError> {
    let table: toml::Table = toml::from_str(&file.to_toml()).expect("the config serialises");
    let parts: Vec<&str> = key.split('.').map(str::trim).collect();
    let (_, sections) = parts.split_last().expect("a non-empty key");
    let mut node = &table;
    for (depth, s) in sections.iter().enumerate() {
        node = node
            .get(*s)
            .and_then(toml::Value::as_table)
            .ok_or_else(|| {
                vary_error(
                    key,
                    format!(
                        "the config has no [{}] section, so `{key}` is not one of its keys",
                        sections[..=depth].join(".")
                    ),
                )
            })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vary(s: &str) -> Vary {
        s.parse().unwrap()
    }

    #[test]
    fn lists_ranges_and_products_expand_in_order() {
        assert_eq!(
            vary("action.m2=-4.2,-4.1,-4.0").values,
            vec![
                toml::Value::Float(-4.2),
                toml::Value::Float(-4.1),
                toml::Value::Float(-4.0)
            ]
        );
        let r = vary("action.m2=-4.5:-3.5:11");
        assert_eq!(r.values.len(), 11);
        assert_eq!(r.values[5], toml::Value::Float(-4.0));
        assert_eq!(
            r.values[3],
            toml::Value::Float(-4.2),
            "no floating-point residue"
        );
        assert_eq!(
            vary("hmc.steps=10:40:4").values,
            [10, 20, 30, 40].map(toml::Value::Integer).to_vec()
        );
        let shapes = vary("lattice.shape=[8,8],[16, 16]");
        assert_eq!(shapes.values.len(), 2);
        let points = grid(&[vary("action.kappa=0.26,0.27"), shapes]).unwrap();
        let names: Vec<String> = points.iter().map(ScanPoint::name).collect();
        assert_eq!(
            names,
            [
                "action.kappa=0.26,lattice.shape=8x8",
                "action.kappa=0.26,lattice.shape=16x16",
                "action.kappa=0.27,lattice.shape=8x8",
                "action.kappa=0.27,lattice.shape=16x16",
            ]
        );
        assert_eq!(
            points[1].overrides(),
            ["action.kappa=0.26", "lattice.shape=[16, 16]"]
        );
    }

    #[test]
    fn bad_specs_are_named_errors() {
        for (item, expected) in [
            ("action.m2=", "empty SPEC"),
            ("action.m2", "expected KEY=SPEC"),
            ("=1,2", "empty key"),
            ("action.m2=1:2", "START:STOP:COUNT"),
            ("action.m2=1:2:1", "at least 2"),
            ("action.m2=1:x:3", "not a finite number"),
            ("action.m2=1,,2", "empty value"),
            ("action.m2=1,2,1", "appears twice"),
            ("lattice.shape=[8,8", "unbalanced"),
            ("output.path=a.h5,b.h5", "set by the scan itself"),
            ("train.checkpoint=a,b", "set by the scan itself"),
        ] {
            let e = item.parse::<Vary>().unwrap_err().to_string();
            assert!(e.contains(expected), "{item}: {e}");
        }
        let twice = grid(&[vary("action.m2=1,2"), vary("action.m2=3,4")]).unwrap_err();
        assert!(twice.to_string().contains("varied twice"));
    }
}
