//! Files of lft: run configurations (TOML), ensembles and flow checkpoints (HDF5, docs/FORMAT.md).
//!
//! Every call into the HDF5 library (hdf5-pure, pinned exactly) stays inside this crate.

pub mod checkpoint;
pub mod config;
pub mod ensemble;

pub use config::{Config, ConfigError};
pub use ensemble::{
    ChainMeta, ChainSampler, ChainState, EnsembleError, EnsembleMeta, EnsembleReader,
    EnsembleWriter, FORMAT_NAME, FORMAT_VERSION, FermionMeta, MEASUREMENTS_GROUP, RecordBlock,
    StoredArray, read_measurement, rewrite_canonical, store_measurements,
};
