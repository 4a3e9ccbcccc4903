//! `--device`: the CPU runs everything; a CUDA device is looked for (without panicking where
//! there is none) before any work starts.

use lft_cuda::Device;

/// Ok for the CPU. For `cuda[:N]`, the probe's named error where this build or machine has no
/// usable GPU; where it has one, an error too, since no command runs on the GPU yet
/// (issue 14 brings the kernels in).
pub fn check(device: Device, command: &str) -> anyhow::Result<()> {
    let Device::Cuda(index) = device else {
        return Ok(());
    };
    let gpu = lft_cuda::probe(index).map_err(|e| anyhow::anyhow!("--device {device}: {e}"))?;
    anyhow::bail!(
        "--device {device}: found {} (sm_{}{}), but `lft {command}` does not run on a GPU yet; \
         use --device cpu",
        gpu.name,
        gpu.compute_capability.0,
        gpu.compute_capability.1
    )
}
