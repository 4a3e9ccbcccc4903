//! Where a command computes: `--device cpu|cuda[:N]` on the command line, `[run] device` in a
//! config.

use std::fmt;
use std::str::FromStr;

/// The CPU (the reference path) or CUDA device N.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Device {
    #[default]
    Cpu,
    Cuda(usize),
    /// The host emulator of the kernels, as if it were a device: slow (every launch list is
    /// compiled with g++), for testing the device paths of the commands without a GPU.
    Emulator,
}

impl FromStr for Device {
    type Err = String;

    /// "cpu", "cuda" (device 0) or "cuda:N".
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("unknown device {s:?} (expected \"cpu\", \"cuda\" or \"cuda:N\")");
        match s {
            "cpu" => Ok(Device::Cpu),
            "emulator" => Ok(Device::Emulator),
            "cuda" => Ok(Device::Cuda(0)),
            _ => {
                let n = s.strip_prefix("cuda:").ok_or_else(bad)?;
                n.parse().map(Device::Cuda).map_err(|_| bad())
            }
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
            Device::Cuda(n) => write!(f, "cuda:{n}"),
            Device::Emulator => f.write_str("emulator"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse_and_print() {
        assert_eq!("cpu".parse(), Ok(Device::Cpu));
        assert_eq!("cuda".parse(), Ok(Device::Cuda(0)));
        assert_eq!("cuda:3".parse(), Ok(Device::Cuda(3)));
        for bad in ["gpu", "cuda:", "cuda:x", "cuda:-1", "CPU"] {
            let e = bad.parse::<Device>().unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
        assert_eq!(Device::Cuda(2).to_string(), "cuda:2");
        assert_eq!(
            "emulator".parse::<Device>().unwrap().to_string(),
            "emulator"
        );
        assert_eq!("cuda:2".parse::<Device>().unwrap().to_string(), "cuda:2");
    }
}
