//! The ensemble file (HDF5), layout in docs/FORMAT.md.
//!
//! During a run the writer appends to the file in place; every append is crash-atomic, so a
//! killed process leaves a readable file with whole configurations. A chain's usable length is
//! that of its shortest per-trajectory dataset. When a run finishes (and when a run resumes),
//! the file is rewritten canonically: a fresh file written in one fixed order, so its bytes
//! depend only on its contents, not on when flushes happened or whether the run was resumed.

mod attrs;
mod canonical;
mod chain_index;
mod checked;
mod checksums;
mod damage;
mod layout;
mod measurements;
mod merge;
mod reader;
mod rounds;
mod store;
mod verify;
mod writer;

pub use canonical::rewrite_canonical;
pub use checksums::{CHECKSUMS, RoundChecksum, crc32};
pub use damage::{Damage, DamageKind, Verification};
pub use layout::tmp_path;
pub use measurements::{
    ANNEAL_GROUP, MEASUREMENTS_GROUP, StoredArray, StoredGroup, load_group, read_measurement,
    store_group, store_measurements,
};
pub use merge::merge_ensembles;
pub use reader::{EnsembleReader, OnDamage};
pub use store::EnsembleStore;
#[doc(hidden)]
pub use verify::row_offset;
pub use writer::EnsembleWriter;

pub use lft_records::{ChainMeta, ChainSettings, Integrator, RecordBlock, SamplerKind};
use std::path::PathBuf;
use thiserror::Error;

/// Value of the root attribute `format`.
pub const FORMAT_NAME: &str = "lft-ensemble";
/// Value of the root attribute `format_version`; bumped on any incompatible layout change.
pub const FORMAT_VERSION: u64 = 1;

/// Why an ensemble file could not be read or written; every variant names the file.
#[derive(Debug, Error)]
pub enum EnsembleError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a readable HDF5 file ({message})")]
    NotHdf5 { path: PathBuf, message: String },
    #[error("{path}: not an lft ensemble (no root attribute format = \"{FORMAT_NAME}\")")]
    Foreign { path: PathBuf },
    #[error("{path}: ensemble format version {found}, but this lft reads version {FORMAT_VERSION}")]
    Version { path: PathBuf, found: u64 },
    #[error("{path}: damaged ensemble: {message}")]
    Damaged { path: PathBuf, message: String },
    /// Stored data that fail their check: the file, chain, dataset and rows are named.
    #[error("{path}: damaged data: {damage}")]
    Corrupt { path: PathBuf, damage: Box<Damage> },
    #[error("{path}: HDF5 error: {message}")]
    Hdf5 { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Usage { path: PathBuf, message: String },
    #[error(transparent)]
    Locked(#[from] crate::lock::LockError),
}

/// File-level metadata (root attributes).
#[derive(Debug, Clone, PartialEq)]
pub struct EnsembleMeta {
    /// Version of lft that wrote the file.
    pub lft_version: String,
    /// The effective run config (TOML), every default written out.
    pub config_text: String,
    pub seed: u64,
    /// The lattice.
    pub shape: Vec<usize>,
    /// "phi4", "yukawa", "u1" or "schwinger".
    pub action_kind: String,
    /// The couplings, and with them the kind of field a configuration is.
    pub couplings: StoredCouplings,
    pub sampler: SamplerKind,
    pub n_chains: usize,
}

/// The couplings of an ensemble: a scalar field's (φ⁴, or the Yukawa model with its fermion
/// couplings), or a U(1) gauge field's β (with the fermions of the Schwinger model).
#[derive(Debug, Clone, PartialEq)]
pub enum StoredCouplings {
    /// A real scalar field, one value per site: φ⁴ in both forms.
    Scalar {
        m2: f64,
        lambda: f64,
        kappa: f64,
        lambda_tilde: f64,
        /// The external field h of φ⁴ (root attribute `h`, written only when not 0).
        h: f64,
        /// The fermion couplings (Yukawa ensembles only).
        fermions: Option<FermionMeta>,
    },
    /// U(1) link angles, d per site (root attribute `field = "u1"`): the Wilson action's β,
    /// and for the Schwinger model (`action = "schwinger"`) its staggered fermions.
    U1 {
        beta: f64,
        fermions: Option<GaugeFermionMeta>,
    },
}

impl StoredCouplings {
    /// The couplings that define the physics, by name (m², λ and the fermions' g and mass,
    /// 0 without fermions; or β, and the Schwinger model's mass): ensembles are replicas of one another only where these agree.
    pub fn named_values(&self) -> Vec<(&'static str, f64)> {
        match self {
            StoredCouplings::Scalar {
                m2,
                lambda,
                h,
                fermions,
                ..
            } => {
                let (g, mass) = fermions.as_ref().map_or((0.0, 0.0), |f| (f.g, f.mass));
                let mut values = vec![("m2", *m2), ("lambda", *lambda), ("g", g), ("mass", mass)];
                values.extend((*h != 0.0).then_some(("h", *h)));
                values
            }
            StoredCouplings::U1 { beta, fermions } => {
                let mut values = vec![("beta", *beta)];
                values.extend(fermions.as_ref().map(|f| ("mass", f.mass)));
                values
            }
        }
    }
}

impl EnsembleMeta {
    /// Values per configuration: the product of [`EnsembleMeta::config_shape`].
    pub fn volume(&self) -> usize {
        self.config_shape().iter().product()
    }

    /// Lattice sites.
    pub fn sites(&self) -> usize {
        self.shape.iter().product()
    }

    /// The element shape of a stored configuration: (L0, L1, …) for a scalar field,
    /// (d, L0, L1, …) for link angles.
    pub fn config_shape(&self) -> Vec<usize> {
        match self.couplings {
            StoredCouplings::Scalar { .. } => self.shape.clone(),
            StoredCouplings::U1 { .. } => {
                let mut s = vec![self.shape.len()];
                s.extend_from_slice(&self.shape);
                s
            }
        }
    }

    /// The field kind as stored (root attribute `field`): "scalar" or "u1".
    pub fn field(&self) -> &'static str {
        match self.couplings {
            StoredCouplings::Scalar { .. } => "scalar",
            StoredCouplings::U1 { .. } => "u1",
        }
    }

    /// Whether configurations are U(1) link angles.
    pub fn is_gauge(&self) -> bool {
        matches!(self.couplings, StoredCouplings::U1 { .. })
    }

    /// The fermion couplings of a Yukawa ensemble.
    pub fn fermions(&self) -> Option<&FermionMeta> {
        match &self.couplings {
            StoredCouplings::Scalar { fermions, .. } => fermions.as_ref(),
            StoredCouplings::U1 { .. } => None,
        }
    }

    /// The fermions of a Schwinger-model ensemble.
    pub fn gauge_fermions(&self) -> Option<&GaugeFermionMeta> {
        match &self.couplings {
            StoredCouplings::U1 { fermions, .. } => fermions.as_ref(),
            StoredCouplings::Scalar { .. } => None,
        }
    }
}

/// Root attributes of a Schwinger-model ensemble: D = m + K(θ), N_f = 2 staggered.
#[derive(Debug, Clone, PartialEq)]
pub struct GaugeFermionMeta {
    pub mass: f64,
    /// "exact" (Cholesky of the even-site block) or "pseudofermion".
    pub treatment: String,
}

/// Root attributes of a Yukawa ensemble: D = K + m + gφ.
#[derive(Debug, Clone, PartialEq)]
pub struct FermionMeta {
    pub g: f64,
    pub mass: f64,
    /// "exact" (dense-LU determinant) or "pseudofermion".
    pub treatment: String,
}

/// Metadata of a φ⁴ HMC ensemble of one chain on `shape`, for examples and benchmarks.
#[doc(hidden)]
pub fn example_meta(shape: &[usize]) -> (EnsembleMeta, ChainMeta) {
    let meta = EnsembleMeta {
        lft_version: env!("CARGO_PKG_VERSION").into(),
        config_text: "seed = 1\n".into(),
        seed: 1,
        shape: shape.to_vec(),
        action_kind: "phi4".into(),
        couplings: StoredCouplings::Scalar {
            m2: -4.0,
            lambda: 8.0,
            kappa: 0.2,
            lambda_tilde: 0.3,
            h: 0.0,
            fermions: None,
        },
        sampler: SamplerKind::Hmc,
        n_chains: 1,
    };
    let chain = ChainMeta {
        settings: ChainSettings::Hmc {
            step_size: 0.1,
            n_steps: 10,
            integrator: Integrator::Leapfrog,
            length_jitter: 0.5,
            fa_mass: None,
        },
        save_every: 1,
        start_config: vec![0.0; meta.volume()],
        start_rng: lft_lattice::RngState {
            state: 1,
            stream: 1,
        },
    };
    (meta, chain)
}

/// Writes a tiny HMC ensemble (one chain of three 4 × 6 configurations) to `path`: the file
/// the documentation examples read.
#[doc(hidden)]
pub fn write_example(path: &std::path::Path) -> Result<(), EnsembleError> {
    use lft_records::{Sink, Store};
    let (meta, chain) = example_meta(&[4, 6]);
    let rng = chain.start_rng;
    let mut store = EnsembleStore::new(path, meta)?;
    store.begin(SamplerKind::Hmc, &[chain])?;
    let mut block = RecordBlock::new(0, SamplerKind::Hmc, 24);
    for i in 0..3 {
        let phi: Vec<f64> = (0..24).map(|x| (x * (i + 1)) as f64 * 0.01).collect();
        block.push(&phi, &[i as f64, 0.1], true, rng);
    }
    store.write_block(&block)?;
    store.flush()?;
    store.finish()
}
