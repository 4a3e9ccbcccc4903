//! Reading ensembles: metadata, chain lengths, configurations and records.

use super::attrs::Attrs;
use super::chain_index::ChainIndex;
use super::checksums::{START_CONFIG_CRC, crc32};
use super::damage::{Damage, DamageKind};
use super::layout::{self, ACCEPTED, CONFIGS, RNG_STATE};
use super::{
    EnsembleError, EnsembleMeta, FORMAT_NAME, FORMAT_VERSION, FermionMeta, GaugeFermionMeta,
    StoredCouplings,
};
use lft_lattice::RngState;
use lft_records::{ChainMeta, ChainSettings, Integrator, RecordBlock, SamplerKind, StoredRow};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// An ensemble opened for reading. Data are fetched on demand (the file is not loaded whole).
///
/// Every read is checked: the rounds it touches are compared with the CRC-32 stored when they
/// were written (once per round and reader), and damage is an [`EnsembleError::Corrupt`]
/// naming the chain, dataset and rows, or, opened with [`OnDamage::Skip`], the damaged rounds
/// are left out of the chains ([`EnsembleReader::skipped`] lists them). Files written before
/// checksums are read unchecked.
pub struct EnsembleReader {
    pub(super) file: hdf5_pure::File,
    pub(super) path: PathBuf,
    pub(super) meta: EnsembleMeta,
    pub(super) on_damage: OnDamage,
    /// Per chain: its rounds and the rows it is read as (loaded on first use).
    pub(super) chains: Vec<OnceLock<ChainIndex>>,
    /// (chain, dataset index, round) of every round checked so far.
    pub(super) verified: Mutex<HashSet<(usize, usize, usize)>>,
}

/// What a reader does with a round whose data fail their checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnDamage {
    /// Stop: the read fails with [`EnsembleError::Corrupt`].
    #[default]
    Stop,
    /// Leave the round out: every chain is read without its damaged rounds (all rounds are
    /// checked when a chain is first used).
    Skip,
}

pub(super) fn h5_err(path: &Path) -> impl Fn(hdf5_pure::Error) -> EnsembleError + '_ {
    move |e| EnsembleError::Hdf5 {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

impl EnsembleReader {
    /// Opens `path`, checking that it is an lft ensemble of a format version this lft reads;
    /// reads stop at damaged data.
    pub fn open(path: &Path) -> Result<Self, EnsembleError> {
        Self::open_with(path, OnDamage::Stop)
    }

    /// Opens `path`; reads treat damaged rounds as `on_damage` says.
    pub fn open_with(path: &Path, on_damage: OnDamage) -> Result<Self, EnsembleError> {
        if let Err(source) = std::fs::metadata(path) {
            return Err(EnsembleError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
        let file = hdf5_pure::File::open_streaming(path).map_err(|e| EnsembleError::NotHdf5 {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let map = file.root().attrs().map_err(|e| EnsembleError::NotHdf5 {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let root = Attrs {
            path,
            object: "/",
            map,
        };
        if root.string("format").ok().as_deref() != Some(FORMAT_NAME) {
            return Err(EnsembleError::Foreign {
                path: path.to_path_buf(),
            });
        }
        let version = root.u64("format_version")?;
        if version != FORMAT_VERSION {
            return Err(EnsembleError::Version {
                path: path.to_path_buf(),
                found: version,
            });
        }
        let action_kind = root.string("action")?;
        let field = if root.map.contains_key("field") {
            root.string("field")?
        } else {
            "scalar".to_string()
        };
        let couplings = match field.as_str() {
            "scalar" => StoredCouplings::Scalar {
                m2: root.f64("m2")?,
                lambda: root.f64("lambda")?,
                kappa: root.f64("kappa")?,
                lambda_tilde: root.f64("lambda_tilde")?,
                h: if root.map.contains_key("h") {
                    root.f64("h")?
                } else {
                    0.0
                },
                fermions: if action_kind == "yukawa" {
                    Some(FermionMeta {
                        g: root.f64("g")?,
                        mass: root.f64("mass")?,
                        treatment: root.string("fermions")?,
                    })
                } else {
                    None
                },
            },
            "u1" => StoredCouplings::U1 {
                beta: root.f64("beta")?,
                fermions: if action_kind == "schwinger" {
                    // A Schwinger file without its fermion couplings would be measured as
                    // pure U(1), without the fermion observables: a named error instead.
                    let named = |e: EnsembleError| EnsembleError::Damaged {
                        path: path.to_path_buf(),
                        message: format!(
                            "action = \"schwinger\" but the fermion couplings (root attributes \
                             `mass` and `fermions`) cannot be read ({e}); it cannot be measured as \
                             pure U(1) without its fermions"
                        ),
                    };
                    Some(GaugeFermionMeta {
                        mass: root.f64("mass").map_err(named)?,
                        treatment: root.string("fermions").map_err(named)?,
                    })
                } else {
                    None
                },
            },
            other => {
                return Err(EnsembleError::Damaged {
                    path: path.to_path_buf(),
                    message: format!(
                        "root attribute `field` is \"{other}\"; this lft reads \"scalar\" and \"u1\""
                    ),
                });
            }
        };
        let meta = EnsembleMeta {
            lft_version: root.string("lft_version")?,
            config_text: root.string("config")?,
            seed: root.u64("seed")?,
            shape: root
                .u64_array("lattice_shape")?
                .iter()
                .map(|&l| l as usize)
                .collect(),
            action_kind,
            couplings,
            sampler: {
                let name = root.string("sampler")?;
                SamplerKind::from_name(&name).map_err(|e| EnsembleError::Damaged {
                    path: path.to_path_buf(),
                    message: format!("root attribute `sampler`: {e}"),
                })?
            },
            n_chains: root.u64("n_chains")? as usize,
        };
        let n_chains = meta.n_chains;
        Ok(Self {
            file,
            path: path.to_path_buf(),
            meta,
            on_damage,
            chains: (0..n_chains).map(|_| OnceLock::new()).collect(),
            verified: Mutex::new(HashSet::new()),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn meta(&self) -> &EnsembleMeta {
        &self.meta
    }

    pub(super) fn damaged(&self, message: String) -> EnsembleError {
        EnsembleError::Damaged {
            path: self.path.clone(),
            message,
        }
    }

    pub(super) fn check_chain(&self, chain: usize) -> Result<(), EnsembleError> {
        if chain >= self.meta.n_chains {
            return Err(EnsembleError::Usage {
                path: self.path.clone(),
                message: format!("no chain {chain} (the file has {})", self.meta.n_chains),
            });
        }
        Ok(())
    }

    pub(super) fn dataset(
        &self,
        chain: usize,
        name: &str,
    ) -> Result<hdf5_pure::Dataset, EnsembleError> {
        self.check_chain(chain)?;
        let p = layout::chain_dataset(chain, name);
        self.file
            .dataset(&p)
            .map_err(|e| self.damaged(format!("dataset `{p}`: {e}")))
    }

    /// Per-chain metadata (sampler parameters, starting state).
    pub fn chain_meta(&self, chain: usize) -> Result<ChainMeta, EnsembleError> {
        self.check_chain(chain)?;
        let g = layout::chain_group(chain);
        let group = self
            .file
            .group(&g)
            .map_err(|e| self.damaged(format!("group `{g}`: {e}")))?;
        let map = group.attrs().map_err(h5_err(&self.path))?;
        let a = Attrs {
            path: &self.path,
            object: &g,
            map,
        };
        let words = a.u64_array("start_rng_state")?;
        let words: [u64; 4] = words
            .try_into()
            .map_err(|_| self.damaged(format!("`{g}` start_rng_state must have 4 entries")))?;
        let start_config = self
            .dataset(chain, layout::START_CONFIG)?
            .read_f64()
            .map_err(h5_err(&self.path))?;
        if start_config.len() != self.meta.volume() {
            return Err(self.damaged(format!("`{g}/start_config` has the wrong size")));
        }
        if a.map.contains_key(START_CONFIG_CRC) {
            let stored = a.u64(START_CONFIG_CRC)?;
            let bytes: Vec<u8> = start_config.iter().flat_map(|x| x.to_le_bytes()).collect();
            let computed = crc32(&bytes);
            if stored != u64::from(computed) {
                return Err(EnsembleError::Corrupt {
                    path: self.path.clone(),
                    damage: Box::new(Damage {
                        chain,
                        dataset: layout::START_CONFIG.into(),
                        rows: 0..0,
                        round: None,
                        kind: DamageKind::Checksum,
                        detail: format!(
                            "CRC-32 {computed:#010x}, stored {stored:#010x}: the field the chain \
                             started from is damaged"
                        ),
                    }),
                });
            }
        }
        Ok(ChainMeta {
            settings: match self.meta.sampler {
                SamplerKind::FlowImh | SamplerKind::FlowReweight | SamplerKind::NeMcmc => {
                    ChainSettings::Flow {
                        proposal_batch: a.u64("proposal_batch")?,
                        flow_step: a.u64("flow_step")?,
                    }
                }
                SamplerKind::FlowHmc => ChainSettings::FlowHmc {
                    step_size: a.f64("step_size")?,
                    n_steps: a.u64("n_steps")?,
                    integrator: integrator(&a)?,
                    length_jitter: a.f64("length_jitter")?,
                    hmc_per_step: a.u64("hmc_per_step")?,
                    flow_step: a.u64("flow_step")?,
                },
                SamplerKind::Hmc => ChainSettings::Hmc {
                    step_size: a.f64("step_size")?,
                    n_steps: a.u64("n_steps")?,
                    integrator: integrator(&a)?,
                    length_jitter: a.f64("length_jitter")?,
                    fa_mass: match a.map.contains_key("fa_mass") {
                        true => Some(a.f64("fa_mass")?),
                        false => None,
                    },
                },
                SamplerKind::Smc | SamplerKind::Ais | SamplerKind::Craft | SamplerKind::Pimh => {
                    ChainSettings::Anneal {
                        particles: a.u64("particles")?,
                        pass: a.u64("pass")?,
                        flow_step: a.u64("flow_step")?,
                    }
                }
                SamplerKind::Heatbath => ChainSettings::Heatbath {
                    overrelaxation: a.u64("overrelaxation")?,
                },
            },
            save_every: if a.map.contains_key("save_every") {
                a.u64("save_every")?.max(1)
            } else {
                1
            },
            start_config,
            start_rng: RngState::from_words(words),
        })
    }

    /// The sampler's per-configuration datasets, in append order.
    pub fn record_names(&self) -> Vec<&'static str> {
        layout::record_datasets(self.meta.sampler)
    }

    /// Rows stored in each per-configuration dataset, in the order of `record_names`.
    pub fn dataset_lengths(&self, chain: usize) -> Result<Vec<usize>, EnsembleError> {
        self.record_names()
            .iter()
            .map(|name| {
                let shape = self
                    .dataset(chain, name)?
                    .shape()
                    .map_err(h5_err(&self.path))?;
                Ok(shape.first().copied().unwrap_or(0) as usize)
            })
            .collect()
    }

    /// Raw little-endian bytes of rows [start, start + count) of a per-trajectory dataset as
    /// stored (no check).
    pub(super) fn stored_rows(
        &self,
        chain: usize,
        name: &str,
        start: usize,
        count: usize,
    ) -> Result<Vec<u8>, EnsembleError> {
        if count == 0 {
            return Ok(Vec::new());
        }
        self.dataset(chain, name)?
            .read_raw_rows(start as u64, count as u64)
            .map_err(h5_err(&self.path))
    }

    pub(super) fn corrupt(&self, damage: Damage) -> EnsembleError {
        EnsembleError::Corrupt {
            path: self.path.clone(),
            damage: Box::new(damage),
        }
    }

    /// Configurations [start, start + count) of a chain, `[count, V]` row-major.
    pub fn read_configs(
        &self,
        chain: usize,
        start: usize,
        count: usize,
    ) -> Result<Vec<f64>, EnsembleError> {
        let bytes = self.raw_rows(chain, CONFIGS, start, count)?;
        if bytes.len() != count * self.meta.volume() * 8 {
            return Err(self.damaged(format!(
                "chain {chain}: configuration rows have the wrong size"
            )));
        }
        Ok(le_f64(&bytes))
    }

    /// A float column (`action`, `delta_h`, `log_q`, …) of a chain's complete records.
    pub fn read_f64_records(&self, chain: usize, name: &str) -> Result<Vec<f64>, EnsembleError> {
        let n = self.chain_len(chain)?;
        Ok(le_f64(&self.raw_rows(chain, name, 0, n)?))
    }

    /// S of every stored configuration of a chain.
    pub fn read_action(&self, chain: usize) -> Result<Vec<f64>, EnsembleError> {
        self.read_f64_records(chain, "action")
    }

    /// ΔH of every trajectory of an HMC chain.
    pub fn read_delta_h(&self, chain: usize) -> Result<Vec<f64>, EnsembleError> {
        self.read_f64_records(chain, "delta_h")
    }

    /// Whether each trajectory of a chain was accepted.
    pub fn read_accepted(&self, chain: usize) -> Result<Vec<bool>, EnsembleError> {
        let n = self.chain_len(chain)?;
        Ok(self
            .raw_rows(chain, ACCEPTED, 0, n)?
            .iter()
            .map(|&b| b != 0)
            .collect())
    }

    /// The generator state stored with row `i` of a chain.
    pub fn rng_state_at(&self, chain: usize, i: usize) -> Result<RngState, EnsembleError> {
        let bytes = self.raw_rows(chain, RNG_STATE, i, 1)?;
        let w: Vec<u64> = bytes
            .chunks_exact(8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
            .collect();
        let words: [u64; 4] = w
            .try_into()
            .map_err(|_| self.damaged(format!("chain {chain}: bad rng_state row {i}")))?;
        Ok(RngState::from_words(words))
    }

    /// Every stored configuration of a chain as an array of shape (N, L0, L1, …), the layout
    /// h5py gives too (last axis fastest).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = std::env::temp_dir().join(format!("lft-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// # let path = dir.join("e.h5");
    /// # lft_io::ensemble::write_example(&path)?;
    /// use lft_io::EnsembleReader;
    ///
    /// let r = EnsembleReader::open(&path)?;
    /// let phi = r.configs_array(0)?;                  // (N, 4, 6)
    /// assert_eq!(phi.shape(), &[3, 4, 6]);
    /// let s = r.column(0, "action")?;                 // S of each configuration
    /// let m: Vec<f64> = phi.outer_iter().map(|c| c.sum()).collect();
    /// assert_eq!((s.len(), m.len()), (3, 3));
    /// assert!(r.column(0, "log_q").is_err());         // an HMC chain has no log q
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn configs_array(&self, chain: usize) -> Result<ndarray::ArrayD<f64>, EnsembleError> {
        let n = self.chain_len(chain)?;
        let mut shape = vec![n];
        shape.extend_from_slice(&self.meta.config_shape());
        let data = self.read_configs(chain, 0, n)?;
        ndarray::ArrayD::from_shape_vec(shape, data)
            .map_err(|e| self.damaged(format!("chain {chain}: {e}")))
    }

    /// The float column `name` of a chain's complete records (the sampler's columns:
    /// [`SamplerKind::columns`]), as an array of shape (N,).
    pub fn column(&self, chain: usize, name: &str) -> Result<ndarray::Array1<f64>, EnsembleError> {
        if self.meta.sampler.column(name).is_none() {
            return Err(EnsembleError::Usage {
                path: self.path.clone(),
                message: format!(
                    "a `{}` ensemble has no column `{name}` (it has {:?})",
                    self.meta.sampler,
                    self.meta.sampler.columns()
                ),
            });
        }
        Ok(ndarray::Array1::from(self.read_f64_records(chain, name)?))
    }

    /// Records [start, start + count) of a chain as a block.
    pub fn read_block(
        &self,
        chain: usize,
        start: usize,
        count: usize,
    ) -> Result<RecordBlock, EnsembleError> {
        let kind = self.meta.sampler;
        let mut b = RecordBlock::new(chain, kind, self.meta.volume());
        if count == 0 {
            return Ok(b);
        }
        b.configs = self.read_configs(chain, start, count)?;
        for (i, name) in kind.columns().iter().enumerate() {
            b.columns[i] = le_f64(&self.raw_rows(chain, name, start, count)?);
        }
        b.accepted = self
            .raw_rows(chain, ACCEPTED, start, count)?
            .iter()
            .map(|&a| a != 0)
            .collect();
        let words = self.raw_rows(chain, RNG_STATE, start, count)?;
        b.rng_after = words
            .chunks_exact(32)
            .map(|r| {
                let w: [u64; 4] = std::array::from_fn(|j| {
                    u64::from_le_bytes(r[8 * j..8 * j + 8].try_into().unwrap())
                });
                RngState::from_words(w)
            })
            .collect();
        if !b.is_consistent() || b.len() != count {
            return Err(self.damaged(format!(
                "chain {chain}: rows {start}..{} are incomplete",
                start + count
            )));
        }
        Ok(b)
    }

    /// Record `i` of a chain: its configuration, column values, accepted flag and generator.
    pub fn read_row(&self, chain: usize, i: usize) -> Result<StoredRow, EnsembleError> {
        let values = self
            .meta
            .sampler
            .columns()
            .iter()
            .map(|name| {
                let v = le_f64(&self.raw_rows(chain, name, i, 1)?);
                v.first()
                    .copied()
                    .ok_or_else(|| self.damaged(format!("chain {chain}: no row {i} of `{name}`")))
            })
            .collect::<Result<Vec<f64>, _>>()?;
        let accepted = self.raw_rows(chain, ACCEPTED, i, 1)?;
        Ok(StoredRow {
            config: self.read_configs(chain, i, 1)?,
            values,
            accepted: accepted.first().is_some_and(|&b| b != 0),
            rng: self.rng_state_at(chain, i)?,
        })
    }
}

/// The integrator attribute of a chain group.
fn integrator(a: &Attrs<'_>) -> Result<Integrator, EnsembleError> {
    let name = a.string("integrator")?;
    Integrator::from_name(&name).map_err(|e| EnsembleError::Damaged {
        path: a.path.to_path_buf(),
        message: format!("`{}`: {e}", a.object),
    })
}

fn le_f64(bytes: &[u8]) -> Vec<f64> {
    bytes
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
        .collect()
}
