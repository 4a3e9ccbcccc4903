//! Where a table of [`KernelCall`]s runs: a CUDA device ([`CudaRuntime`]) or the host
//! emulator ([`Emulator`], for tests). Code that drives the kernels — a training loop, a
//! sampler — is written once over [`Executor`] and tested on the emulator.

use crate::CudaError;
use crate::call::{BufId, BufferTable, HostBuffer, HostTable, KernelCall};
use crate::runtime::CudaRuntime;

/// Buffers, transfers and launches.
pub trait Executor: BufferTable {
    /// Overwrites buffer `id` from the host (same type and length).
    fn write(&mut self, id: BufId, buffer: &HostBuffer) -> Result<(), CudaError>;
    /// Copies buffer `id` to the host, after every launch so far.
    fn read(&mut self, id: BufId) -> Result<HostBuffer, CudaError>;
    /// The first `len` elements of buffer `id` (at most its length), after every launch so far.
    fn read_prefix(&mut self, id: BufId, len: usize) -> Result<HostBuffer, CudaError>;
    /// Launches the calls in order.
    fn execute(&mut self, calls: &[KernelCall]) -> Result<(), CudaError>;
    /// Dynamic shared memory a block may use.
    fn shared_limit(&self) -> usize;
}

impl Executor for CudaRuntime {
    fn write(&mut self, id: BufId, buffer: &HostBuffer) -> Result<(), CudaError> {
        CudaRuntime::write(self, id, buffer)
    }
    fn read(&mut self, id: BufId) -> Result<HostBuffer, CudaError> {
        self.download(id)
    }
    fn read_prefix(&mut self, id: BufId, len: usize) -> Result<HostBuffer, CudaError> {
        self.download_prefix(id, len)
    }
    fn execute(&mut self, calls: &[KernelCall]) -> Result<(), CudaError> {
        self.run(calls)
    }
    fn shared_limit(&self) -> usize {
        CudaRuntime::shared_limit(self)
    }
}

/// The host emulator as an executor: every [`Executor::execute`] compiles and runs one
/// program (seconds), so it suits tests of a few steps.
#[derive(Debug, Clone, Default)]
pub struct Emulator {
    pub table: HostTable,
}

impl BufferTable for Emulator {
    fn alloc(&mut self, buffer: HostBuffer) -> Result<BufId, CudaError> {
        Ok(self.table.push(buffer))
    }
}

impl Executor for Emulator {
    fn write(&mut self, id: BufId, buffer: &HostBuffer) -> Result<(), CudaError> {
        self.table.set(id, buffer.clone());
        Ok(())
    }
    fn read(&mut self, id: BufId) -> Result<HostBuffer, CudaError> {
        Ok(self.table.buffers[id.0].clone())
    }
    fn read_prefix(&mut self, id: BufId, len: usize) -> Result<HostBuffer, CudaError> {
        Ok(self.table.buffers[id.0].prefix(len))
    }
    fn execute(&mut self, calls: &[KernelCall]) -> Result<(), CudaError> {
        crate::emulate::run(&mut self.table.buffers, calls)
            .map_err(|e| CudaError::Emulation(e.to_string()))
    }
    fn shared_limit(&self) -> usize {
        crate::launch::SHARED_LIMIT
    }
}
