//! Writing ensembles: the file skeleton and in-place, crash-atomic appends.

use super::checksums::{self, CHECKSUMS, RoundChecksum, START_CONFIG_CRC, crc32};
use super::layout::{self, ACCEPTED, CONFIGS, RNG_STATE};
use super::reader::{EnsembleReader, h5_err};
use super::{EnsembleError, EnsembleMeta, FORMAT_NAME, FORMAT_VERSION, StoredCouplings};
use hdf5_pure::{
    AttrValue, FileAccessProperties, FileBuilder, MaxExtent, SyncPolicy, make_f64_type,
    make_u8_type, make_u64_type,
};
use lft_records::{ChainMeta, ChainSettings, RecordBlock, SamplerKind, Sink};
use std::path::{Path, PathBuf};

/// An ensemble open for appending. Appends reach the operating system at once (a killed
/// process loses nothing appended); [`EnsembleWriter::flush`] also makes them durable against
/// power loss.
pub struct EnsembleWriter {
    file: hdf5_pure::File,
    path: PathBuf,
    volume: usize,
    kind: SamplerKind,
    meta: EnsembleMeta,
    /// The sampler's per-configuration datasets, in append order.
    names: Vec<&'static str>,
    /// Little-endian bytes of the rows being appended (reused).
    scratch: Vec<u8>,
    /// Per chain, the handles of `names` in order.
    datasets: Vec<Vec<hdf5_pure::Dataset>>,
    /// Per chain, the handle of its `checksums` dataset.
    checksums: Vec<hdf5_pure::Dataset>,
    /// Per chain, the rows appended so far.
    rows: Vec<usize>,
    /// Rows per round: an append of more is split into rounds, each with its checksum record.
    round: usize,
}

/// Writes a complete file with empty per-trajectory datasets. Refuses to replace an existing
/// file; the file appears whole or not at all (written beside it, then renamed).
pub(super) fn write_skeleton(
    path: &Path,
    meta: &EnsembleMeta,
    chains: &[ChainMeta],
) -> Result<(), EnsembleError> {
    assert_eq!(chains.len(), meta.n_chains);
    let mut fb = FileBuilder::new();
    let s = |v: &str| AttrValue::String(v.to_string());
    fb.set_attr("format", s(FORMAT_NAME));
    fb.set_attr("format_version", AttrValue::U64(FORMAT_VERSION));
    fb.set_attr("lft_version", s(&meta.lft_version));
    fb.set_attr("config", s(&meta.config_text));
    fb.set_attr("seed", AttrValue::U64(meta.seed));
    fb.set_attr(
        "lattice_shape",
        AttrValue::U64Array(meta.shape.iter().map(|&l| l as u64).collect()),
    );
    fb.set_attr("action", s(&meta.action_kind));
    match &meta.couplings {
        StoredCouplings::Scalar {
            m2,
            lambda,
            kappa,
            lambda_tilde,
            h,
            fermions,
        } => {
            // Scalar files carry no `field` attribute (their bytes are those of files written
            // before gauge fields existed).
            fb.set_attr("m2", AttrValue::F64(*m2));
            fb.set_attr("lambda", AttrValue::F64(*lambda));
            fb.set_attr("kappa", AttrValue::F64(*kappa));
            fb.set_attr("lambda_tilde", AttrValue::F64(*lambda_tilde));
            if *h != 0.0 {
                fb.set_attr("h", AttrValue::F64(*h));
            }
            if let Some(f) = fermions {
                fb.set_attr("g", AttrValue::F64(f.g));
                fb.set_attr("mass", AttrValue::F64(f.mass));
                fb.set_attr("fermions", s(&f.treatment));
            }
        }
        StoredCouplings::U1 { beta, fermions } => {
            fb.set_attr("field", s(meta.field()));
            fb.set_attr("beta", AttrValue::F64(*beta));
            if let Some(f) = fermions {
                fb.set_attr("mass", AttrValue::F64(f.mass));
                fb.set_attr("fermions", s(&f.treatment));
            }
        }
    }
    fb.set_attr("sampler", s(meta.sampler.name()));
    fb.set_attr("n_chains", AttrValue::U64(meta.n_chains as u64));

    let config_shape = meta.config_shape();
    let dims: Vec<u32> = config_shape.iter().map(|&l| l as u32).collect();
    let shape_u64: Vec<u64> = config_shape.iter().map(|&l| l as u64).collect();
    let volume = meta.volume();
    let mut group = fb.create_group(layout::CHAINS_GROUP);
    for (c, cm) in chains.iter().enumerate() {
        let mut g = group.create_group(&c.to_string());
        match cm.settings {
            ChainSettings::Hmc {
                step_size,
                n_steps,
                integrator,
                length_jitter,
                fa_mass,
            } => {
                g.set_attr("step_size", AttrValue::F64(step_size));
                g.set_attr("n_steps", AttrValue::U64(n_steps));
                g.set_attr("integrator", s(integrator.name()));
                g.set_attr("length_jitter", AttrValue::F64(length_jitter));
                if let Some(mu) = fa_mass {
                    g.set_attr("fa_mass", AttrValue::F64(mu));
                }
            }
            ChainSettings::Flow {
                proposal_batch,
                flow_step,
            } => {
                g.set_attr("proposal_batch", AttrValue::U64(proposal_batch));
                g.set_attr("flow_step", AttrValue::U64(flow_step));
            }
            ChainSettings::FlowHmc {
                step_size,
                n_steps,
                integrator,
                length_jitter,
                hmc_per_step,
                flow_step,
            } => {
                g.set_attr("step_size", AttrValue::F64(step_size));
                g.set_attr("n_steps", AttrValue::U64(n_steps));
                g.set_attr("integrator", s(integrator.name()));
                g.set_attr("length_jitter", AttrValue::F64(length_jitter));
                g.set_attr("hmc_per_step", AttrValue::U64(hmc_per_step));
                g.set_attr("flow_step", AttrValue::U64(flow_step));
            }
            ChainSettings::Anneal {
                particles,
                pass,
                flow_step,
            } => {
                g.set_attr("particles", AttrValue::U64(particles));
                g.set_attr("pass", AttrValue::U64(pass));
                g.set_attr("flow_step", AttrValue::U64(flow_step));
            }
            ChainSettings::Heatbath { overrelaxation } => {
                g.set_attr("overrelaxation", AttrValue::U64(overrelaxation));
            }
        }
        if cm.save_every != 1 {
            // Written only when thinning, so files of every-step chains keep their bytes.
            g.set_attr("save_every", AttrValue::U64(cm.save_every));
        }
        g.set_attr(
            "start_rng_state",
            AttrValue::U64Array(cm.start_rng.to_words().to_vec()),
        );
        g.create_dataset(layout::START_CONFIG)
            .with_f64_data(&cm.start_config)
            .with_shape(&shape_u64);
        let start_bytes: Vec<u8> = cm
            .start_config
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        g.set_attr(
            START_CONFIG_CRC,
            AttrValue::U64(u64::from(crc32(&start_bytes))),
        );
        let unlimited = [MaxExtent::Unlimited];
        for name in layout::record_datasets(meta.sampler) {
            let chunks = [layout::record_chunk_rows(name, volume)];
            let d = g.create_dataset(name);
            match name {
                CONFIGS => d.with_array_data(make_f64_type(), &dims, Vec::new(), 0),
                ACCEPTED => d.with_raw_data(make_u8_type(), Vec::new(), 0),
                RNG_STATE => d.with_array_data(make_u64_type(), &[4], Vec::new(), 0),
                _ => d.with_f64_data(&[]),
            }
            .with_shape(&[0])
            .with_maxshape(&unlimited)
            .with_chunks(&chunks);
        }
        let names = layout::record_datasets(meta.sampler);
        let width = RoundChecksum::width(names.len());
        g.create_dataset(CHECKSUMS)
            .with_array_data(make_u64_type(), &[width as u32], Vec::new(), 0)
            .with_shape(&[0])
            .with_maxshape(&unlimited)
            .with_chunks(&[(8192 / (8 * width)) as u64])
            .set_attr("algorithm", s(checksums::ALGORITHM))
            .set_attr("columns", s(&checksums::record_columns(&names)));
        group.add_group(g.finish());
    }
    fb.add_group(group.finish());
    let bytes = fb.finish().map_err(|e| EnsembleError::Hdf5 {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    write_new_file(path, &bytes)
}

/// Writes `bytes` to `path` atomically (temporary file, fsync, rename); refuses to replace.
fn write_new_file(path: &Path, bytes: &[u8]) -> Result<(), EnsembleError> {
    use std::io::Write;
    let io = |source| EnsembleError::Io {
        path: path.to_path_buf(),
        source,
    };
    if path.exists() {
        return Err(EnsembleError::Usage {
            path: path.to_path_buf(),
            message: "already exists; refusing to overwrite it".into(),
        });
    }
    let tmp = layout::tmp_path(path);
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io)?;
    Ok(())
}

impl EnsembleWriter {
    /// Creates a new ensemble at `path` (which must not exist) and opens it for appending.
    pub fn create(
        path: &Path,
        meta: &EnsembleMeta,
        chains: &[ChainMeta],
    ) -> Result<Self, EnsembleError> {
        write_skeleton(path, meta, chains)?;
        Self::open_append(path)
    }

    /// Opens an existing ensemble for appending (takes an exclusive lock on it). The file must
    /// carry checksums and hold whole rounds only (as a finished or rewritten file does).
    pub fn open_append(path: &Path) -> Result<Self, EnsembleError> {
        let meta = EnsembleReader::open(path)?.meta().clone();
        let fapl = FileAccessProperties::new().with_sync_policy(SyncPolicy::OnClose);
        let file = hdf5_pure::File::open_rw_with_options(path, fapl).map_err(|e| match e {
            hdf5_pure::Error::FileLocked { .. } => EnsembleError::Usage {
                path: path.to_path_buf(),
                message: "is locked by another process writing it".into(),
            },
            e => h5_err(path)(e),
        })?;
        let names = layout::record_datasets(meta.sampler);
        let open = |c: usize, name: &str| {
            file.dataset(&layout::chain_dataset(c, name))
                .map_err(h5_err(path))
        };
        let datasets = (0..meta.n_chains)
            .map(|c| names.iter().map(|name| open(c, name)).collect())
            .collect::<Result<Vec<Vec<_>>, _>>()?;
        let checksums = (0..meta.n_chains)
            .map(|c| {
                open(c, CHECKSUMS).map_err(|_| EnsembleError::Usage {
                    path: path.to_path_buf(),
                    message: "was written before lft stored checksums; appending to it would \
                              leave rounds without them (a resume rewrites it with checksums)"
                        .into(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        // Every dataset must end where the last checksum record does (a file a crash left
        // uneven is rewritten by the resume first).
        let mut rows = Vec::new();
        for (c, (handles, sums)) in datasets.iter().zip(&checksums).enumerate() {
            let length = |d: &hdf5_pure::Dataset| -> Result<usize, EnsembleError> {
                let shape = d.shape().map_err(h5_err(path))?;
                Ok(shape.first().copied().unwrap_or(0) as usize)
            };
            let records = length(sums)?;
            let covered = match records {
                0 => 0,
                r => {
                    let bytes = sums.read_raw_rows(r as u64 - 1, 1).map_err(h5_err(path))?;
                    let last = RoundChecksum::from_bytes(&bytes, names.len()).map_err(|e| {
                        EnsembleError::Damaged {
                            path: path.to_path_buf(),
                            message: format!("chain {c}: the last checksum record: {e}"),
                        }
                    })?;
                    last.row_range().end
                }
            };
            let lengths = handles.iter().map(length).collect::<Result<Vec<_>, _>>()?;
            if lengths.iter().any(|&l| l != covered) {
                return Err(EnsembleError::Damaged {
                    path: path.to_path_buf(),
                    message: format!(
                        "chain {c}: datasets of {lengths:?} rows, {covered} complete (an \
                         interrupted append; a resume rewrites the file)"
                    ),
                });
            }
            rows.push(covered);
        }
        Ok(Self {
            path: path.to_path_buf(),
            volume: meta.volume(),
            kind: meta.sampler,
            round: layout::round_rows(meta.volume()),
            meta,
            names,
            datasets,
            checksums,
            rows,
            scratch: Vec::new(),
            file,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's metadata.
    pub fn meta(&self) -> &EnsembleMeta {
        &self.meta
    }

    /// Appends raw rows to one per-trajectory dataset.
    pub(super) fn append_raw(
        &mut self,
        chain: usize,
        index: usize,
        bytes: &[u8],
    ) -> Result<(), EnsembleError> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.datasets[chain][index]
            .append_raw(bytes)
            .map_err(h5_err(&self.path))
    }

    /// Appends a block of records to its chain. Datasets are extended in the sampler's order
    /// (configurations first, generator states last, then the round's checksum record), so a
    /// crash leaves the later ones shorter and the interrupted round without its record.
    pub fn append_block(&mut self, block: &RecordBlock) -> Result<(), EnsembleError> {
        self.append_rows(block.chain, block, 0..block.len())
    }

    /// Appends records `rows` of `block` to chain `chain`: one round (with its checksum
    /// record) per [`layout::round_rows`] rows.
    pub(super) fn append_rows(
        &mut self,
        chain: usize,
        block: &RecordBlock,
        rows: std::ops::Range<usize>,
    ) -> Result<(), EnsembleError> {
        if chain >= self.datasets.len()
            || block.kind != self.kind
            || block.volume != self.volume
            || !block.is_consistent()
            || rows.start > rows.end
            || rows.end > block.len()
        {
            return Err(EnsembleError::Usage {
                path: self.path.clone(),
                message: format!("append to chain {chain}: the block does not fit the file"),
            });
        }
        let mut a = rows.start;
        while a < rows.end {
            let b = rows.end.min(a + self.round);
            self.append_round(chain, block, a..b)?;
            a = b;
        }
        Ok(())
    }

    /// Appends rows `rows` of `block` to every dataset of the chain, then their checksum record
    /// (the CRC-32 of each dataset's bytes, computed as they are appended).
    fn append_round(
        &mut self,
        chain: usize,
        block: &RecordBlock,
        rows: std::ops::Range<usize>,
    ) -> Result<(), EnsembleError> {
        let v = self.volume;
        let (a, b) = (rows.start, rows.end);
        let mut column = 0;
        let mut record = RoundChecksum {
            first_row: self.rows[chain],
            rows: b - a,
            crcs: Vec::with_capacity(self.names.len()),
        };
        let mut bytes = std::mem::take(&mut self.scratch);
        for i in 0..self.names.len() {
            bytes.clear();
            match self.names[i] {
                CONFIGS => le_bytes(&block.configs[a * v..b * v], &mut bytes),
                ACCEPTED => bytes.extend(block.accepted[a..b].iter().map(|&x| u8::from(x))),
                RNG_STATE => block.rng_after[a..b]
                    .iter()
                    .flat_map(|s| s.to_words())
                    .for_each(|w| bytes.extend_from_slice(&w.to_le_bytes())),
                _ => {
                    le_bytes(&block.columns[column][a..b], &mut bytes);
                    column += 1;
                }
            }
            record.crcs.push(crc32(&bytes));
            if let Err(e) = self.append_raw(chain, i, &bytes) {
                self.scratch = bytes;
                return Err(e);
            }
        }
        bytes.clear();
        record.write_bytes(&mut bytes);
        let done = self.checksums[chain]
            .append_raw(&bytes)
            .map_err(h5_err(&self.path));
        self.scratch = bytes;
        done?;
        self.rows[chain] += b - a;
        Ok(())
    }

    /// Makes every append so far durable (fsync).
    pub fn flush(&mut self) -> Result<(), EnsembleError> {
        self.file.sync().map_err(h5_err(&self.path))
    }

    /// Flushes and closes the file.
    pub fn close(self) -> Result<(), EnsembleError> {
        let path = self.path.clone();
        drop(self.datasets);
        drop(self.checksums);
        self.file.close().map_err(h5_err(&path))
    }
}

/// Appends the little-endian bytes of `xs` to `out`.
fn le_bytes(xs: &[f64], out: &mut Vec<u8>) {
    out.reserve(8 * xs.len());
    for x in xs {
        out.extend_from_slice(&x.to_le_bytes());
    }
}

impl Sink for EnsembleWriter {
    type Error = EnsembleError;

    fn write_block(&mut self, block: &RecordBlock) -> Result<(), EnsembleError> {
        self.append_block(block)
    }

    fn flush(&mut self) -> Result<(), EnsembleError> {
        EnsembleWriter::flush(self)
    }
}
