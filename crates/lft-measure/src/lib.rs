//! Observables of φ⁴ ensembles (docs/PHYSICS.md) with autocorrelation-aware errors.
//!
//! Per configuration: M = Σ_x φ_x, |M|, M², the site averages of φ² and of the nearest-neighbour
//! products, and S. Over an ensemble (one or several chains, several files as replicas):
//! ⟨|M|⟩/V, ⟨φ²⟩, χ₂ = (⟨M²⟩ − ⟨M⟩²)/V, the Ising energy (1/d) Σ_μ G_c(μ̂) and ⟨S⟩/V.

mod ensemble;
mod observables;
mod summary;

pub use ensemble::{MeasureError, MeasureOptions, measure_files};
pub use observables::{ConfigObservables, config_observables};
pub use summary::{ChainSeries, Measurement, ObservableResult, SamplerSummary, analyze};
