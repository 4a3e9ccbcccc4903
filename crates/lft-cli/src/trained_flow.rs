//! The trained flow a sampling command starts from: its checkpoint, or before there is one the
//! flow of `flow.init_from` (another lattice size) as it is.

use crate::pipeline::check_belongs;
use crate::train::INIT_STREAM;
use anyhow::{Context, Result};
use lft_config::{Config, Reuse};
use lft_flow::Flow;
use lft_io::checkpoint::read_checkpoint;
use tracing::info;

/// The trained flow of `config` (from its checkpoint, or, before there is one, from the flow
/// of `flow.init_from` on another lattice) and the training steps it had.
pub(crate) fn load_flow(config: &Config) -> Result<(Flow, u64)> {
    let plan = config.flow()?;
    let checkpoint = &plan.train.checkpoint;
    let mut flow = Flow::new(
        config.lattice().clone(),
        &plan.spec,
        config.seed() ^ INIT_STREAM,
    )
    .context("flow")?;
    if let (false, Some(path)) = (checkpoint.exists(), &plan.init_from) {
        let from = crate::transfer::load_into(config, path, &mut flow)?;
        info!(
            "no {} yet: sampling with the flow of {} as it is ({} steps on {:?})",
            checkpoint.display(),
            path.display(),
            from.steps,
            from.shape
        );
        return Ok((flow, 0));
    }
    let ckpt = read_checkpoint(checkpoint).with_context(|| {
        format!(
            "train.checkpoint {}: train the flow first (lft train CONFIG)",
            checkpoint.display()
        )
    })?;
    check_belongs(
        config,
        &ckpt.config_text,
        checkpoint,
        "train.checkpoint",
        Reuse::Sampling,
    )?;
    flow.set_params(ckpt.params)
        .with_context(|| format!("{}", checkpoint.display()))?;
    Ok((flow, ckpt.step))
}
