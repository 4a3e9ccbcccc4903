//! Files of lft: run configurations (TOML), ensembles and flow checkpoints (HDF5, docs/FORMAT.md).
//!
//! Every call into the HDF5 library (hdf5-pure, pinned exactly) stays inside this crate.

pub mod checkpoint;
pub mod config;
pub mod ensemble;
pub mod lock;

pub use config::{Config, ConfigError};
pub use ensemble::{
    ChainMeta, ChainSettings, EnsembleError, EnsembleMeta, EnsembleReader, EnsembleStore,
    EnsembleWriter, FORMAT_NAME, FORMAT_VERSION, FermionMeta, Integrator, MEASUREMENTS_GROUP,
    RecordBlock, SamplerKind, StoredArray, read_measurement, rewrite_canonical, store_measurements,
};
pub use lock::{FileLock, LockError};
