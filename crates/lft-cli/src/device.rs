//! Where a command computes: `--device cpu|cuda[:N]` on the command line, else `[run] device`
//! of the config, else the CPU. A CUDA device is probed (without panicking where there is
//! none) before any work starts.

use lft_config::Config;
use lft_cuda::Device;

/// The device a command runs on, and the setting that chose it (for error messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    pub device: Device,
    pub setting: &'static str,
}

impl std::fmt::Display for Choice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.setting {
            "--device" => write!(f, "--device {}", self.device),
            s => write!(f, "{s} = \"{}\"", self.device),
        }
    }
}

/// The flag if given, else the config's `[run] device`, else the CPU.
pub fn choose(flag: Option<Device>, config: &Config) -> Choice {
    if let Some(device) = flag {
        return Choice {
            device,
            setting: "--device",
        };
    }
    Choice {
        device: config.device().unwrap_or(Device::Cpu),
        setting: "run.device",
    }
}

/// The device of a command that can use one, opened: None for the CPU; else the engine, or
/// the probe's named error.
pub fn engine(choice: Choice, config: &Config) -> anyhow::Result<Option<lft_cuda::Engine>> {
    if choice.device == Device::Cpu {
        return Ok(None);
    }
    let named = |e: lft_cuda::CudaError| anyhow::anyhow!("{choice}: {e}");
    if let Ok(plan) = config.flow() {
        lft_cuda::flow_program::FlowProgram::check(&plan.spec).map_err(named)?;
    }
    let engine = lft_cuda::Engine::open(choice.device).map_err(named)?;
    if let Some(e) = &engine {
        tracing::info!("on {}", e.describe());
    }
    Ok(engine)
}
