//! `--set section.key=value` overrides, applied to the TOML table before it is typed.

use crate::ConfigError;

/// Sets `section.key = value` in a TOML table; the value is TOML (`8`, `[8, 8]`, `true`,
/// `"x"`) or, if it does not parse as TOML, a bare string.
pub(crate) fn apply_override(table: &mut toml::Table, item: &str) -> Result<(), ConfigError> {
    let err = |message: &str| ConfigError::Override {
        item: item.to_string(),
        message: message.into(),
    };
    let (key, raw) = item
        .split_once('=')
        .ok_or_else(|| err("expected section.key=value"))?;
    let key = key.trim();
    if key.is_empty() || key.split('.').any(|p| p.trim().is_empty()) {
        return Err(err("empty key"));
    }
    let value = match toml::from_str::<toml::Table>(&format!("v = {}", raw.trim())) {
        Ok(mut t) => t.remove("v").expect("parsed table has v"),
        Err(_) => toml::Value::String(raw.trim().to_string()),
    };
    let parts: Vec<&str> = key.split('.').map(str::trim).collect();
    let (last, sections) = parts.split_last().expect("non-empty key");
    let mut node = table;
    for s in sections {
        let entry = node
            .entry(s.to_string())
            .or_insert_with(|| toml::Value::Table(Default::default()));
        node = entry
            .as_table_mut()
            .ok_or_else(|| err(&format!("`{s}` is not a section")))?;
    }
    node.insert(last.to_string(), value);
    Ok(())
}
