//! Observables of φ⁴ ensembles (docs/PHYSICS.md) with Γ-method errors, and of U(1) gauge
//! ensembles ([`GaugeMeasurement`]: plaquette, topological charge, Wilson loops, Creutz ratios,
//! Polyakov loops).
//!
//! Per configuration: M, M², M⁴, the site averages of φ² and of nearest-neighbour products, S,
//! the zero-momentum slice correlator c(t) and the two-point function g(x) (FFT). Over an
//! ensemble (several chains and files as replicas, or importance-weighted samples): ⟨M⟩/V,
//! ⟨|M|⟩/V, ⟨φ²⟩, χ₂, the Ising energy, the Binder cumulant, ⟨S⟩/V, C(t), m_eff(t), the pole
//! mass from a cosh fit, and G_c(x).

mod ensemble;
mod fermion;
mod fit;
mod gauge;
mod measure;
mod modes;
mod observables;
pub mod plot;
pub mod plot_scan;
mod results;
pub mod reweighting;
mod schwinger;
mod summary;
pub mod warnings;

pub use ensemble::{FermionChoice, MeasureError, MeasureOptions, SeriesBuilder, measure_files};
pub use fermion::{CondensateMethod, FermionMeasurer, FermionObservables};
pub use fit::{choose_plateau, cosh_fit};
pub use gauge::{ChargeCount, GaugeMeasurement, LoopResult, SeparationResult};
pub use measure::{Measured, measure};
pub use modes::mode_weights;
pub use observables::{ConfigObservables, config_observables, two_point};
pub use results::{
    AnalysisOptions, ChainSeries, Geometry, History, LogZ, Measurement, ObservableResult,
    PointResult, PoleMass, Propagator, SamplerSummary,
};
pub use reweighting::{
    Curves, LinearCoupling, PointSeries, ReweightedFamily, coupling_grid, read_point,
};
pub use schwinger::SchwingerResults;
pub use summary::analyze;
