//! Finding a usable GPU without panicking: cudarc panics when it calls into a library that is
//! absent, so the driver and NVRTC are looked for first, then the device.

use crate::error::CudaError;

/// A CUDA device the backend can use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gpu {
    pub index: usize,
    pub name: String,
    /// (major, minor): the kernels are compiled for sm_{major}{minor}.
    pub compute_capability: (i32, i32),
}

/// Device `index`, if this build has CUDA and the machine has the driver, NVRTC and the
/// device; otherwise the error that names what is missing.
pub fn probe(index: usize) -> Result<Gpu, CudaError> {
    #[cfg(feature = "cuda")]
    {
        use cudarc::driver::CudaContext;
        // SAFETY: only tries to open the library, which cudarc would otherwise panic on.
        if !unsafe { cudarc::driver::sys::is_culib_present() } {
            return Err(CudaError::NoDriver);
        }
        if !crate::kernels::nvrtc_available() {
            return Err(CudaError::NoNvrtc);
        }
        let driver = |e: cudarc::driver::DriverError| CudaError::Driver(e.to_string());
        let count = CudaContext::device_count().map_err(driver)?.max(0) as usize;
        if index >= count {
            return Err(CudaError::NoDevice { index, count });
        }
        let ctx = CudaContext::new(index).map_err(driver)?;
        Ok(Gpu {
            index,
            name: ctx.name().map_err(driver)?,
            compute_capability: ctx.compute_capability().map_err(driver)?,
        })
    }
    #[cfg(not(feature = "cuda"))]
    {
        let _ = index;
        Err(CudaError::BuiltWithoutCuda)
    }
}
