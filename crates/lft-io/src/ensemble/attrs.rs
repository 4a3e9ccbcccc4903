//! Typed access to HDF5 attributes, with errors naming the file and attribute.

use super::EnsembleError;
use hdf5_pure::AttrValue;
use std::collections::HashMap;
use std::path::Path;

pub struct Attrs<'a> {
    pub path: &'a Path,
    pub object: &'a str,
    pub map: HashMap<String, AttrValue>,
}

impl Attrs<'_> {
    fn missing(&self, name: &str, what: &str) -> EnsembleError {
        EnsembleError::Damaged {
            path: self.path.to_path_buf(),
            message: format!(
                "attribute `{name}` of `{}` is missing or not {what}",
                self.object
            ),
        }
    }

    pub fn string(&self, name: &str) -> Result<String, EnsembleError> {
        match self.map.get(name) {
            Some(AttrValue::String(s)) | Some(AttrValue::AsciiString(s)) => Ok(s.clone()),
            Some(AttrValue::StringSized { value, .. }) => Ok(value.clone()),
            Some(AttrValue::AsciiStringSized { value, .. }) => Ok(value.clone()),
            Some(AttrValue::VarLenString(s)) | Some(AttrValue::VarLenAsciiString(s)) => {
                Ok(s.clone())
            }
            _ => Err(self.missing(name, "a string")),
        }
    }

    pub fn f64(&self, name: &str) -> Result<f64, EnsembleError> {
        match self.map.get(name) {
            Some(AttrValue::F64(x)) => Ok(*x),
            Some(AttrValue::F32(x)) => Ok(f64::from(*x)),
            _ => Err(self.missing(name, "a number")),
        }
    }

    pub fn u64(&self, name: &str) -> Result<u64, EnsembleError> {
        match self.map.get(name) {
            Some(AttrValue::U64(x)) => Ok(*x),
            Some(AttrValue::I64(x)) if *x >= 0 => Ok(*x as u64),
            Some(AttrValue::U32(x)) => Ok(u64::from(*x)),
            Some(AttrValue::I32(x)) if *x >= 0 => Ok(*x as u64),
            _ => Err(self.missing(name, "a non-negative integer")),
        }
    }

    pub fn u64_array(&self, name: &str) -> Result<Vec<u64>, EnsembleError> {
        match self.map.get(name) {
            Some(AttrValue::U64Array(v)) => Ok(v.clone()),
            Some(AttrValue::I64Array(v)) if v.iter().all(|&x| x >= 0) => {
                Ok(v.iter().map(|&x| x as u64).collect())
            }
            _ => Err(self.missing(name, "an integer array")),
        }
    }
}
