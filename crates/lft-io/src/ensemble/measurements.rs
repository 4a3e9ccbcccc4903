//! Small float64 datasets in a group beside the chains: `/measurements` (results of
//! `lft measure --store`) and `/anneal` (what each annealing pass did). Both survive the
//! canonical rewrite of a file.

use super::EnsembleError;
use super::reader::{EnsembleReader, h5_err};
use hdf5_pure::AttrValue;
use std::path::Path;

/// Name of the group holding stored measurements.
pub const MEASUREMENTS_GROUP: &str = "measurements";
/// Name of the group holding the per-pass records of an annealing ensemble.
pub const ANNEAL_GROUP: &str = "anneal";
/// The groups of small arrays a file may hold besides its chains.
pub(crate) const SIDE_GROUPS: [&str; 2] = [MEASUREMENTS_GROUP, ANNEAL_GROUP];

/// One stored result: a float64 array of the given shape, with a `columns` attribute saying
/// what its entries are.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredArray {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
    pub columns: String,
}

impl StoredArray {
    pub fn new(name: &str, shape: Vec<usize>, data: Vec<f64>, columns: &str) -> Self {
        Self {
            name: name.to_string(),
            shape,
            data,
            columns: columns.to_string(),
        }
    }
}

/// Replaces `/measurements` of the ensemble at `path` with `arrays` and string attributes
/// `attrs`. Configurations and records are not touched; the edit is one atomic commit.
pub fn store_measurements(
    path: &Path,
    arrays: &[StoredArray],
    attrs: &[(String, String)],
) -> Result<(), EnsembleError> {
    store_group(path, MEASUREMENTS_GROUP, arrays, attrs)
}

/// Replaces the group `group` (a name of [`SIDE_GROUPS`]) of the ensemble at `path` with
/// `arrays` and string attributes `attrs`, in one atomic commit.
pub fn store_group(
    path: &Path,
    group: &str,
    arrays: &[StoredArray],
    attrs: &[(String, String)],
) -> Result<(), EnsembleError> {
    assert!(SIDE_GROUPS.contains(&group), "not a side group: {group}");
    drop(EnsembleReader::open(path)?); // an lft ensemble, or a clear error
    for a in arrays {
        if a.shape.iter().product::<usize>() != a.data.len() {
            return Err(EnsembleError::Usage {
                path: path.to_path_buf(),
                message: format!(
                    "measurement `{}` has {} values for shape {:?}",
                    a.name,
                    a.data.len(),
                    a.shape
                ),
            });
        }
    }
    let err = h5_err(path);
    let file = hdf5_pure::File::open_rw(path).map_err(&err)?;
    let root = file.root();
    if root.groups().map_err(&err)?.iter().any(|g| g == group) {
        root.delete(group).map_err(&err)?;
        file.commit().map_err(&err)?;
    }
    root.create_group_with(group, |g| {
        for (k, v) in attrs {
            g.set_attr(k, AttrValue::String(v.clone()));
        }
        for a in arrays {
            let shape: Vec<u64> = a.shape.iter().map(|&s| s as u64).collect();
            g.create_dataset(&a.name, |b| {
                b.with_f64_data(&a.data).with_shape(&shape);
                b.set_attr("columns", AttrValue::String(a.columns.clone()));
            });
        }
    })
    .map_err(&err)?;
    file.commit().map_err(&err)?;
    file.close().map_err(&err)
}

/// Reads `/measurements/<name>` back (tests, tools).
pub fn read_measurement(path: &Path, name: &str) -> Result<Vec<f64>, EnsembleError> {
    let file = hdf5_pure::File::open(path).map_err(h5_err(path))?;
    let ds = file
        .dataset(&format!("{MEASUREMENTS_GROUP}/{name}"))
        .map_err(h5_err(path))?;
    ds.read_f64().map_err(h5_err(path))
}

/// The arrays (sorted by name) and string attributes (sorted by key) of a stored group,
/// ready to be stored again.
pub type StoredGroup = (Vec<StoredArray>, Vec<(String, String)>);

/// The group `group` of the file at `path`, if it has one.
pub fn load_group(path: &Path, group_name: &str) -> Result<Option<StoredGroup>, EnsembleError> {
    let err = h5_err(path);
    let file = hdf5_pure::File::open_streaming(path).map_err(&err)?;
    if !file
        .root()
        .groups()
        .map_err(&err)?
        .iter()
        .any(|g| g == group_name)
    {
        return Ok(None);
    }
    let group = file.group(group_name).map_err(&err)?;
    let string = |v: &AttrValue| match v {
        AttrValue::String(s) | AttrValue::AsciiString(s) => Some(s.clone()),
        _ => None,
    };
    let mut attrs: Vec<(String, String)> = group
        .attrs()
        .map_err(&err)?
        .iter()
        .filter_map(|(k, v)| string(v).map(|s| (k.clone(), s)))
        .collect();
    attrs.sort();
    let mut names = group.datasets().map_err(&err)?;
    names.sort();
    let mut arrays = Vec::new();
    for name in names {
        let ds = file
            .dataset(&format!("{group_name}/{name}"))
            .map_err(&err)?;
        let shape = ds
            .shape()
            .map_err(&err)?
            .iter()
            .map(|&s| s as usize)
            .collect();
        let data = ds.read_f64().map_err(&err)?;
        let columns = ds
            .attrs()
            .map_err(&err)?
            .get("columns")
            .and_then(string)
            .unwrap_or_default();
        arrays.push(StoredArray {
            name,
            shape,
            data,
            columns,
        });
    }
    Ok(Some((arrays, attrs)))
}
