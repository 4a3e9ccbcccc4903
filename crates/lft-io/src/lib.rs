//! Files of lft: ensembles, flow checkpoints and stored measurements (HDF5, docs/FORMAT.md).
//! The file format alone: this crate depends on no sampler, flow or action crate, and knows a
//! run's config only as the text it stores (lft-config reads it).
//!
//! Every call into the HDF5 library (hdf5-pure, pinned exactly) stays inside this crate.

pub mod checkpoint;
pub mod ensemble;
pub mod lock;

pub use ensemble::{
    ANNEAL_GROUP, ChainMeta, ChainSettings, Damage, DamageKind, EnsembleError, EnsembleMeta,
    EnsembleReader, EnsembleStore, EnsembleWriter, FORMAT_NAME, FORMAT_VERSION, FermionMeta,
    GaugeFermionMeta, Integrator, MEASUREMENTS_GROUP, OnDamage, RecordBlock, SamplerKind,
    StoredArray, StoredCouplings, StoredGroup, Verification, load_group, merge_ensembles,
    read_measurement, rewrite_canonical, store_group, store_measurements,
};
pub use lock::{FileLock, LockError};
