//! The canonical rewrite: a fresh copy of an ensemble whose bytes depend only on its contents.

use super::layout;
use super::layout::tmp_path;
use super::rounds::RoundWriter;
use super::writer::write_skeleton;
use super::{ChainMeta, EnsembleError, EnsembleMeta, EnsembleReader, EnsembleWriter};
use lft_records::RecordBlock;
use std::path::{Path, PathBuf};

/// Rewrites the ensemble at `path` canonically: skeleton first, then every record in the
/// canonical append order (docs/FORMAT.md: rounds of B rows, chain after chain, then each
/// chain's remaining rows), then an atomic rename over the original. This is the file a run
/// that was never interrupted writes in place. With `lengths`, chain c keeps only its first
/// `lengths[c]` records (repairing datasets a crash left uneven); without, each chain keeps
/// its complete records. Stored measurements are carried over. With `config_text`, the
/// stored config is replaced (a run extended to more trajectories). A crash during the
/// rewrite leaves the original.
pub fn rewrite_canonical(
    path: &Path,
    lengths: Option<&[usize]>,
    config_text: Option<&str>,
) -> Result<(), EnsembleError> {
    rewrite(path, lengths, config_text, true).map(|_| ())
}

/// As [`rewrite_canonical`], but only the complete rounds are written; the remaining rows of
/// each chain are returned, to be appended by a run that continues the chains (so that the
/// continued file is the one an uninterrupted run writes). Returns the reopened writer.
pub(super) fn rewrite_for_resume(
    path: &Path,
    lengths: &[usize],
    config_text: &str,
) -> Result<RoundWriter, EnsembleError> {
    let pending = rewrite(path, Some(lengths), Some(config_text), false)?;
    let writer = EnsembleWriter::open_append(path)?;
    let meta = writer.meta().clone();
    Ok(RoundWriter::new(
        writer,
        meta.sampler,
        meta.volume(),
        meta.n_chains,
        Some(pending),
    ))
}

fn rewrite(
    path: &Path,
    lengths: Option<&[usize]>,
    config_text: Option<&str>,
    tails: bool,
) -> Result<Vec<RecordBlock>, EnsembleError> {
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
    let side: Vec<(&str, super::measurements::StoredGroup)> = super::measurements::SIDE_GROUPS
        .iter()
        .filter_map(|&g| {
            super::measurements::load_group(path, g)
                .transpose()
                .map(|r| r.map(|s| (g, s)))
        })
        .collect::<Result<_, _>>()?;
    let (tmp, mut rounds) = begin_staged(path, &meta, &chains)?;
    let b = layout::round_rows(meta.volume());
    let longest = lens.iter().copied().max().unwrap_or(0);
    for start in (0..longest).step_by(b) {
        for (c, &n) in lens.iter().enumerate() {
            if start < n {
                rounds.push(&reader.read_block(c, start, b.min(n - start))?)?;
            }
        }
    }
    if tails {
        rounds.flush_tails()?;
    }
    let (writer, pending) = rounds.into_pending();
    writer.close()?;
    drop(reader);
    for (group, (arrays, attrs)) in &side {
        // Stored results survive (their `n_configs` attribute tells what they were made from).
        super::measurements::store_group(&tmp, group, arrays, attrs)?;
    }
    commit_staged(&tmp, path)?;
    Ok(pending)
}

/// Starts a new file for `path` beside it (at `tmp_path(path)`, replacing one an interrupted
/// rewrite left): the skeleton of `meta` and `chains`, then a [`RoundWriter`] to push the
/// records in the canonical order. Returns the staging path and the writer.
pub(super) fn begin_staged(
    path: &Path,
    meta: &EnsembleMeta,
    chains: &[ChainMeta],
) -> Result<(PathBuf, RoundWriter), EnsembleError> {
    let tmp = tmp_path(path);
    let io = |source| EnsembleError::Io {
        path: tmp.clone(),
        source,
    };
    if tmp.exists() {
        // Left by an earlier rewrite or merge that was interrupted; `path` is intact.
        std::fs::remove_file(&tmp).map_err(io)?;
    }
    let staged = tmp_path(&tmp);
    write_skeleton(&staged, meta, chains)?;
    std::fs::rename(&staged, &tmp).map_err(io)?;
    let writer = EnsembleWriter::open_append(&tmp)?;
    let rounds = RoundWriter::new(writer, meta.sampler, meta.volume(), meta.n_chains, None);
    Ok((tmp, rounds))
}

/// Makes the staged file `tmp` durable and renames it over `path` (durably too, where the
/// platform can open a directory).
pub(super) fn commit_staged(tmp: &Path, path: &Path) -> Result<(), EnsembleError> {
    std::fs::File::open(tmp)
        .and_then(|f| f.sync_all())
        .map_err(|source| EnsembleError::Io {
            path: tmp.to_path_buf(),
            source,
        })?;
    std::fs::rename(tmp, path).map_err(|source| EnsembleError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}
