//! Merging ensembles: the chains of several files, one file after another, into one new
//! file in the canonical layout (docs/FORMAT.md), so that merging the task files of a job
//! array gives the bytes of one run with all their chains.

use super::canonical::{begin_staged, commit_staged};
use super::layout;
use super::{EnsembleError, EnsembleMeta, EnsembleReader, OnDamage};
use std::path::Path;

/// Writes `out` with the chains of `inputs` in order (chain c of input k becomes chain
/// Σ_{j<k} n_j + c) and the root attributes `meta` (whose `n_chains` must be the total).
/// Every input must be of `meta`'s sampler and volume. `out` must not exist; it appears only
/// when complete (written beside it, then renamed), and no input is changed. Inputs are read
/// checked: damage stops the merge, or with [`OnDamage::Skip`] the damaged rounds are left
/// out. The merged file carries checksums of its own.
pub fn merge_ensembles(
    out: &Path,
    inputs: &[&Path],
    meta: &EnsembleMeta,
    on_damage: OnDamage,
) -> Result<(), EnsembleError> {
    let usage = |path: &Path, message: String| EnsembleError::Usage {
        path: path.to_path_buf(),
        message,
    };
    if out.exists() {
        return Err(usage(out, "exists; a merge never overwrites a file".into()));
    }
    let readers = inputs
        .iter()
        .map(|p| EnsembleReader::open_with(p, on_damage))
        .collect::<Result<Vec<_>, _>>()?;
    // (reader, chain within it) of every merged chain.
    let mut sources = Vec::new();
    let mut chains = Vec::new();
    let mut lens = Vec::new();
    for (k, r) in readers.iter().enumerate() {
        let m = r.meta();
        if m.sampler != meta.sampler || m.config_shape() != meta.config_shape() {
            return Err(usage(
                inputs[k],
                format!(
                    "holds `{}` records of shape {:?}, not `{}` of {:?}",
                    m.sampler,
                    m.config_shape(),
                    meta.sampler,
                    meta.config_shape()
                ),
            ));
        }
        for c in 0..m.n_chains {
            sources.push((k, c));
            chains.push(r.chain_meta(c)?);
            lens.push(r.chain_len(c)?);
        }
    }
    if chains.len() != meta.n_chains {
        return Err(usage(
            out,
            format!(
                "the inputs hold {} chains, the merged file is to have {}",
                chains.len(),
                meta.n_chains
            ),
        ));
    }
    let (tmp, mut rounds) = begin_staged(out, meta, &chains)?;
    let b = layout::round_rows(meta.volume());
    let longest = lens.iter().copied().max().unwrap_or(0);
    for start in (0..longest).step_by(b) {
        for (g, (&(k, c), &n)) in sources.iter().zip(&lens).enumerate() {
            if start < n {
                let mut block = readers[k].read_block(c, start, b.min(n - start))?;
                block.chain = g;
                rounds.push(&block)?;
            }
        }
    }
    rounds.flush_tails()?;
    let (writer, _) = rounds.into_pending();
    writer.close()?;
    drop(readers);
    commit_staged(&tmp, out)?;
    Ok(())
}
