//! The entry point of a measurement: the observables of the field a file holds, a scalar
//! field's ([`crate::measure_files`]) or a U(1) gauge field's ([`crate::GaugeMeasurement`]).

use crate::Measurement;
use crate::ensemble::{
    FermionChoice, MeasureError, MeasureOptions, check_compatible, measure_files,
};
use crate::gauge::GaugeMeasurement;
use lft_io::EnsembleReader;
use std::path::PathBuf;

/// What a measurement gives: the observables of a scalar field, or of a gauge field.
#[derive(Debug, Clone)]
pub enum Measured {
    Scalar(Box<Measurement>),
    Gauge(Box<GaugeMeasurement>),
}

/// Measures the files as replicas of one ensemble, the observables of their field: φ⁴ (and
/// Yukawa) observables for scalar ensembles ([`measure_files`]), gauge observables for U(1)
/// ones. Options of the scalar analysis (a pole-mass fit range, a condensate method) given
/// for a gauge ensemble are named errors.
pub fn measure(paths: &[PathBuf], options: &MeasureOptions) -> Result<Measured, MeasureError> {
    let first = paths
        .first()
        .ok_or_else(|| MeasureError::Analysis("no files given".into()))?;
    let gauge = EnsembleReader::open(first)?.meta().is_gauge();
    if !gauge {
        return measure_files(paths, options).map(|m| Measured::Scalar(Box::new(m)));
    }
    let readers = paths
        .iter()
        .map(|p| EnsembleReader::open_with(p, options.on_damage))
        .collect::<Result<Vec<_>, _>>()?;
    for r in &readers[1..] {
        check_compatible(readers[0].path(), readers[0].meta(), r.path(), r.meta())?;
    }
    // Pure U(1) has no fermions: the options of fermionic observables are named errors.
    let no_fermions = |what: &str| MeasureError::Incompatible {
        path: first.clone(),
        message: format!(
            "{what} belongs to ensembles with fermions (Yukawa, Schwinger); this file holds \
             pure U(1) link angles"
        ),
    };
    if readers[0].meta().gauge_fermions().is_none() {
        if options.fit_range.is_some() {
            return Err(no_fermions("--fit-range (a pole-mass fit)"));
        }
        if let FermionChoice::Method(_) = options.fermions {
            return Err(no_fermions("--condensate (the chiral condensate)"));
        }
    }
    crate::gauge::measure_gauge(&readers, options).map(|m| Measured::Gauge(Box::new(m)))
}
