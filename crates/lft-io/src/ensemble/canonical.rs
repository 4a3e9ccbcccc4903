//! The canonical rewrite: a fresh copy of an ensemble whose bytes depend only on its contents.

use super::layout;
use super::writer::write_skeleton;
use super::{EnsembleError, EnsembleReader, EnsembleWriter};
use std::path::{Path, PathBuf};

/// `FILE.tmp` beside `FILE`: where new files are written before they are renamed into place.
pub fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Rewrites the ensemble at `path` canonically: skeleton first, then every dataset appended in
/// fixed-size batches, then an atomic rename over the original. With `lengths`, chain c keeps
/// only its first `lengths[c]` trajectories (repairing datasets a crash left uneven); without,
/// each chain keeps its complete trajectories. Stored measurements are carried over. With `config_text`, the stored config is
/// replaced (a run extended to more trajectories). A crash during the rewrite leaves the
/// original.
pub fn rewrite_canonical(
    path: &Path,
    lengths: Option<&[usize]>,
    config_text: Option<&str>,
) -> Result<(), EnsembleError> {
    let reader = EnsembleReader::open(path)?;
    let mut meta = reader.meta().clone();
    if let Some(text) = config_text {
        meta.config_text = text.to_string();
    }
    let chains = (0..meta.n_chains)
        .map(|c| reader.chain_meta(c))
        .collect::<Result<Vec<_>, _>>()?;
    let lens: Vec<usize> = match lengths {
        Some(l) => l.to_vec(),
        None => (0..meta.n_chains)
            .map(|c| reader.chain_len(c))
            .collect::<Result<_, _>>()?,
    };
    for (c, &n) in lens.iter().enumerate() {
        if n > reader.chain_len(c)? {
            return Err(EnsembleError::Usage {
                path: path.to_path_buf(),
                message: format!("chain {c} has fewer than {n} trajectories"),
            });
        }
    }
    let stored = super::measurements::load_measurements(path)?;
    let tmp = tmp_path(path);
    let io = |source| EnsembleError::Io {
        path: tmp.clone(),
        source,
    };
    if tmp.exists() {
        // Left by an earlier rewrite that was interrupted; the original is intact.
        std::fs::remove_file(&tmp).map_err(io)?;
    }
    let staged = tmp_path(&tmp);
    write_skeleton(&staged, &meta, &chains)?;
    std::fs::rename(&staged, &tmp).map_err(io)?;
    let mut writer = EnsembleWriter::open_append(&tmp)?;
    for (c, &n) in lens.iter().enumerate() {
        for (i, name) in layout::record_datasets(meta.sampler).iter().enumerate() {
            let batch = 16 * layout::chunk_rows(layout::row_bytes(name, meta.volume())) as usize;
            for start in (0..n).step_by(batch) {
                let bytes = reader.raw_rows(c, name, start, batch.min(n - start))?;
                writer.append_raw(c, i, &bytes)?;
            }
        }
    }
    writer.close()?;
    drop(reader);
    if let Some((arrays, attrs)) = stored {
        // Stored results survive (their `n_configs` attribute tells what they were made from).
        super::store_measurements(&tmp, &arrays, &attrs)?;
    }
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(io)?;
    std::fs::rename(&tmp, path).map_err(|source| EnsembleError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Make the rename itself durable; not all platforms can open a directory.
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}
