//! Reads an ensemble from Rust: every chain's configurations as an ndarray of shape
//! (N, L0, L1, …) and a column by name.
//!
//!     cargo run --release -p lft-io --example read_ensemble -- ensembles/quickstart.h5

use lft_io::EnsembleReader;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path: PathBuf = std::env::args()
        .nth(1)
        .ok_or("usage: read_ensemble FILE.h5")?
        .into();
    let reader = EnsembleReader::open(&path)?;
    let meta = reader.meta();
    let volume = meta.volume() as f64;
    println!(
        "{}: {} on {:?}, sampler {}",
        path.display(),
        meta.action_kind,
        meta.shape,
        meta.sampler
    );
    for c in 0..meta.n_chains {
        let phi = reader.configs_array(c)?; // (N, L0, L1, …)
        let n = phi.shape()[0];
        // M = Σ_x φ_x of each configuration, then χ₂ ≈ ⟨M²⟩/V.
        let m = phi.to_shape((n, meta.volume()))?.sum_axis(ndarray::Axis(1));
        let chi2 = m.mapv(|m| m * m).mean().unwrap_or(f64::NAN) / volume;
        let action = reader.column(c, "action")?;
        println!(
            "chain {c}: {:?}, chi2 ~ {chi2:.4}, <S> = {:.3}",
            phi.shape(),
            action.mean().unwrap_or(f64::NAN)
        );
    }
    Ok(())
}
