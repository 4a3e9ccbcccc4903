//! The CUDA runtime: one device, its stream, every kernel compiled by NVRTC for the device's own
//! architecture and loaded once, and a table of device buffers on which it launches
//! [`KernelCall`]s — the same calls the host emulator runs in the tests. Buffers keep the
//! indices of the [`HostTable`] they were uploaded from, so a test builds one table and runs it
//! on either.
//!
//! Built without the `cuda` feature, [`CudaRuntime::new`] returns
//! [`CudaError::BuiltWithoutCuda`] and no value of the type can exist.

use crate::CudaError;
use crate::call::{BufId, HostBuffer, HostTable, KernelCall};
use crate::probe::Gpu;

/// A device with the backend's kernels loaded and a table of buffers.
pub struct CudaRuntime {
    inner: imp::Runtime,
}

impl CudaRuntime {
    /// Device `index`: probed first (a named error where there is none), then every kernel is
    /// compiled and loaded. Takes a second or so, once per process.
    pub fn new(index: usize) -> Result<Self, CudaError> {
        Ok(Self {
            inner: imp::Runtime::new(index)?,
        })
    }

    pub fn gpu(&self) -> &Gpu {
        self.inner.gpu()
    }

    /// Dynamic shared memory a block may use (the device's opt-in maximum, raised for the
    /// convolution kernels at load).
    pub fn shared_limit(&self) -> usize {
        self.inner.shared_limit()
    }

    /// Copies a buffer to the device and returns its id (ids count up from 0, in upload order).
    pub fn upload(&mut self, buffer: &HostBuffer) -> Result<BufId, CudaError> {
        self.inner.upload(buffer)
    }

    /// Uploads every buffer of `table`, which keeps its ids if this runtime's table was empty.
    pub fn upload_table(&mut self, table: &HostTable) -> Result<Vec<BufId>, CudaError> {
        table.buffers.iter().map(|b| self.upload(b)).collect()
    }

    /// Overwrites buffer `id` (same type and length) from the host.
    pub fn write(&mut self, id: BufId, buffer: &HostBuffer) -> Result<(), CudaError> {
        self.inner.write(id, buffer)
    }

    /// Copies buffer `id` back (waiting for the stream).
    pub fn download(&self, id: BufId) -> Result<HostBuffer, CudaError> {
        self.inner.download(id)
    }

    /// Copies the first `len` elements of buffer `id` back (waiting for the stream).
    pub fn download_prefix(&self, id: BufId, len: usize) -> Result<HostBuffer, CudaError> {
        self.inner.download_prefix(id, len)
    }

    /// Launches the calls in order on the stream (asynchronously: a download waits for them).
    pub fn run(&mut self, calls: &[KernelCall]) -> Result<(), CudaError> {
        self.inner.run(calls)
    }

    /// Waits for every launch so far.
    pub fn synchronize(&self) -> Result<(), CudaError> {
        self.inner.synchronize()
    }
}

impl crate::call::BufferTable for CudaRuntime {
    fn alloc(&mut self, buffer: HostBuffer) -> Result<BufId, CudaError> {
        self.upload(&buffer)
    }
}

#[cfg(not(feature = "cuda"))]
mod imp {
    use super::*;

    /// No value: without CUDA a runtime cannot be made.
    pub enum Runtime {}

    impl Runtime {
        pub fn new(_index: usize) -> Result<Self, CudaError> {
            Err(CudaError::BuiltWithoutCuda)
        }
        pub fn gpu(&self) -> &Gpu {
            match *self {}
        }
        pub fn shared_limit(&self) -> usize {
            match *self {}
        }
        pub fn upload(&mut self, _: &HostBuffer) -> Result<BufId, CudaError> {
            match *self {}
        }
        pub fn write(&mut self, _: BufId, _: &HostBuffer) -> Result<(), CudaError> {
            match *self {}
        }
        pub fn download(&self, _: BufId) -> Result<HostBuffer, CudaError> {
            match *self {}
        }
        pub fn download_prefix(&self, _: BufId, _: usize) -> Result<HostBuffer, CudaError> {
            match *self {}
        }
        pub fn run(&mut self, _: &[KernelCall]) -> Result<(), CudaError> {
            match *self {}
        }
        pub fn synchronize(&self) -> Result<(), CudaError> {
            match *self {}
        }
    }
}

#[cfg(feature = "cuda")]
mod imp {
    use super::*;
    use crate::call::Arg;
    use crate::kernels::{KERNELS, architecture, compile_ptx};
    use cudarc::driver::sys::{CUdevice_attribute, CUfunction_attribute};
    use cudarc::driver::{
        CudaContext, CudaFunction, CudaSlice, CudaStream, CudaView, DriverError, LaunchConfig,
        PushKernelArg,
    };
    use cudarc::nvrtc::Ptx;
    use std::collections::HashMap;
    use std::sync::Arc;

    fn driver(e: DriverError) -> CudaError {
        CudaError::Driver(e.to_string())
    }

    enum DeviceBuffer {
        F64(CudaSlice<f64>),
        F32(CudaSlice<f32>),
        I32(CudaSlice<i32>),
    }

    pub struct Runtime {
        gpu: Gpu,
        _ctx: Arc<CudaContext>,
        stream: Arc<CudaStream>,
        functions: HashMap<&'static str, CudaFunction>,
        buffers: Vec<DeviceBuffer>,
        shared_limit: usize,
    }

    /// A null device pointer, for an optional output left out.
    static NULL: u64 = 0;

    impl Runtime {
        pub fn new(index: usize) -> Result<Self, CudaError> {
            let gpu = crate::probe::probe(index)?;
            let ctx = CudaContext::new(index).map_err(driver)?;
            let stream = ctx.default_stream();
            let arch = architecture(gpu.compute_capability);
            let shared_limit = ctx
                .attribute(
                    CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN,
                )
                .map_err(driver)?
                .max(0) as usize;
            let mut functions = HashMap::new();
            for kernel in KERNELS {
                let module = ctx
                    .load_module(Ptx::from_src(compile_ptx(kernel, arch)?))
                    .map_err(driver)?;
                for &name in kernel.functions {
                    let f = module.load_function(name).map_err(driver)?;
                    if kernel.name == "conv" {
                        f.set_attribute(
                            CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                            shared_limit as i32,
                        )
                        .map_err(driver)?;
                    }
                    functions.insert(name, f);
                }
            }
            Ok(Self {
                gpu,
                _ctx: ctx,
                stream,
                functions,
                buffers: Vec::new(),
                shared_limit,
            })
        }

        pub fn gpu(&self) -> &Gpu {
            &self.gpu
        }

        pub fn shared_limit(&self) -> usize {
            self.shared_limit
        }

        pub fn upload(&mut self, buffer: &HostBuffer) -> Result<BufId, CudaError> {
            let s = &self.stream;
            let b = match buffer {
                HostBuffer::F64(v) => DeviceBuffer::F64(s.clone_htod(v).map_err(driver)?),
                HostBuffer::F32(v) => DeviceBuffer::F32(s.clone_htod(v).map_err(driver)?),
                HostBuffer::I32(v) => DeviceBuffer::I32(s.clone_htod(v).map_err(driver)?),
            };
            self.buffers.push(b);
            Ok(BufId(self.buffers.len() - 1))
        }

        pub fn write(&mut self, id: BufId, buffer: &HostBuffer) -> Result<(), CudaError> {
            let s = &self.stream;
            let mismatch =
                || CudaError::Driver(format!("buffer {} has another type or length", id.0));
            match (&mut self.buffers[id.0], buffer) {
                (DeviceBuffer::F64(d), HostBuffer::F64(v)) if d.len() == v.len() => {
                    s.memcpy_htod(v, d).map_err(driver)
                }
                (DeviceBuffer::F32(d), HostBuffer::F32(v)) if d.len() == v.len() => {
                    s.memcpy_htod(v, d).map_err(driver)
                }
                (DeviceBuffer::I32(d), HostBuffer::I32(v)) if d.len() == v.len() => {
                    s.memcpy_htod(v, d).map_err(driver)
                }
                _ => Err(mismatch()),
            }
        }

        pub fn download(&self, id: BufId) -> Result<HostBuffer, CudaError> {
            let s = &self.stream;
            Ok(match &self.buffers[id.0] {
                DeviceBuffer::F64(d) => HostBuffer::F64(s.clone_dtoh(d).map_err(driver)?),
                DeviceBuffer::F32(d) => HostBuffer::F32(s.clone_dtoh(d).map_err(driver)?),
                DeviceBuffer::I32(d) => HostBuffer::I32(s.clone_dtoh(d).map_err(driver)?),
            })
        }

        pub fn download_prefix(&self, id: BufId, len: usize) -> Result<HostBuffer, CudaError> {
            let s = &self.stream;
            Ok(match &self.buffers[id.0] {
                DeviceBuffer::F64(d) => {
                    HostBuffer::F64(s.clone_dtoh(&d.slice(..len.min(d.len()))).map_err(driver)?)
                }
                DeviceBuffer::F32(d) => {
                    HostBuffer::F32(s.clone_dtoh(&d.slice(..len.min(d.len()))).map_err(driver)?)
                }
                DeviceBuffer::I32(d) => {
                    HostBuffer::I32(s.clone_dtoh(&d.slice(..len.min(d.len()))).map_err(driver)?)
                }
            })
        }

        pub fn run(&mut self, calls: &[KernelCall]) -> Result<(), CudaError> {
            for call in calls {
                self.launch(call)?;
            }
            Ok(())
        }

        fn launch(&self, call: &KernelCall) -> Result<(), CudaError> {
            let f = self.functions.get(call.function).ok_or_else(|| {
                CudaError::Driver(format!("no kernel function {}", call.function))
            })?;
            // Offsets into float64 buffers (a layer's parameters) as views, made before the
            // builder borrows them.
            let mut views: Vec<CudaView<'_, f64>> = Vec::new();
            for arg in &call.args {
                if let Arg::BufAt(id, offset) = *arg {
                    match &self.buffers[id.0] {
                        DeviceBuffer::F64(d) => views.push(d.slice(offset..)),
                        _ => {
                            return Err(CudaError::Driver(format!(
                                "{}: an offset into a buffer that is not float64",
                                call.function
                            )));
                        }
                    }
                }
            }
            let mut builder = self.stream.launch_builder(f);
            let mut next_view = views.iter();
            for arg in &call.args {
                match arg {
                    Arg::Buf(id) => match &self.buffers[id.0] {
                        DeviceBuffer::F64(d) => builder.arg(d),
                        DeviceBuffer::F32(d) => builder.arg(d),
                        DeviceBuffer::I32(d) => builder.arg(d),
                    },
                    Arg::BufAt(..) => builder.arg(next_view.next().expect("one view per offset")),
                    Arg::Null => builder.arg(&NULL),
                    Arg::F64(v) => builder.arg(v),
                    Arg::F32(v) => builder.arg(v),
                    Arg::I32(v) => builder.arg(v),
                    Arg::I64(v) => builder.arg(v),
                    Arg::U32(v) => builder.arg(v),
                };
            }
            let l = call.launch;
            let cfg = LaunchConfig {
                grid_dim: l.grid,
                block_dim: l.block,
                shared_mem_bytes: l.shared_bytes,
            };
            // SAFETY: every call comes from crate::ops, whose builders give each kernel its
            // arguments in the order and types of its CUDA signature, with buffers sized by the
            // same counts the launch geometry covers (tested on the host emulator).
            unsafe { builder.launch(cfg) }.map_err(driver)?;
            Ok(())
        }

        pub fn synchronize(&self) -> Result<(), CudaError> {
            self.stream.synchronize().map_err(driver)
        }
    }
}
