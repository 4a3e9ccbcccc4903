//! A kernel launch as data: the function, its geometry and its arguments, the buffers named by
//! index into the caller's buffer table. The operations ([`crate::ops`]) build these; the CUDA
//! runtime launches them through cudarc and the host emulator ([`crate::emulate`]) runs the very
//! same calls on the CPU, so the code that decides what runs on the GPU is tested without one.

use crate::launch::Launch;

/// A buffer of the caller's table, by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BufId(pub usize);

/// One kernel argument.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arg {
    /// A device pointer to a buffer of the table.
    Buf(BufId),
    /// A device pointer `offset` elements into a buffer (a layer's slice of the parameters).
    BufAt(BufId, usize),
    /// A null pointer (an optional output left out).
    Null,
    F64(f64),
    F32(f32),
    I32(i32),
    I64(i64),
    U32(u32),
}

/// One launch of `function` (defined in the kernel file `kernel`).
#[derive(Debug, Clone, PartialEq)]
pub struct KernelCall {
    pub function: &'static str,
    pub launch: Launch,
    pub args: Vec<Arg>,
}

/// The contents of one buffer on the host.
#[derive(Debug, Clone, PartialEq)]
pub enum HostBuffer {
    F64(Vec<f64>),
    F32(Vec<f32>),
    I32(Vec<i32>),
}

impl HostBuffer {
    pub fn len(&self) -> usize {
        match self {
            HostBuffer::F64(v) => v.len(),
            HostBuffer::F32(v) => v.len(),
            HostBuffer::I32(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Its first `len` elements (all of them if it has fewer).
    pub fn prefix(&self, len: usize) -> HostBuffer {
        match self {
            HostBuffer::F64(v) => HostBuffer::F64(v[..len.min(v.len())].to_vec()),
            HostBuffer::F32(v) => HostBuffer::F32(v[..len.min(v.len())].to_vec()),
            HostBuffer::I32(v) => HostBuffer::I32(v[..len.min(v.len())].to_vec()),
        }
    }

    /// The values as float64 (exact for every element type).
    pub fn to_f64(&self) -> Vec<f64> {
        match self {
            HostBuffer::F64(v) => v.clone(),
            HostBuffer::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            HostBuffer::I32(v) => v.iter().map(|&x| f64::from(x)).collect(),
        }
    }
}

/// Integer kernel arguments: sizes are `int` in the kernels, so every size must fit.
pub fn int(what: &'static str, n: usize) -> Result<i32, crate::CudaError> {
    i32::try_from(n).map_err(|_| crate::CudaError::TooLarge { what, size: n })
}

/// Somewhere buffers can be made: the host table (tests, the emulator) or a device.
pub trait BufferTable {
    /// A new buffer holding `buffer`, and its id.
    fn alloc(&mut self, buffer: HostBuffer) -> Result<BufId, crate::CudaError>;

    fn alloc_f64(&mut self, values: &[f64]) -> Result<BufId, crate::CudaError> {
        self.alloc(HostBuffer::F64(values.to_vec()))
    }

    fn alloc_i32(&mut self, values: &[i32]) -> Result<BufId, crate::CudaError> {
        self.alloc(HostBuffer::I32(values.to_vec()))
    }

    /// `len` zeros of float64, or of `float`'s type.
    fn zeros(&mut self, len: usize, f32: bool) -> Result<BufId, crate::CudaError> {
        self.alloc(if f32 {
            HostBuffer::F32(vec![0.0; len])
        } else {
            HostBuffer::F64(vec![0.0; len])
        })
    }
}

impl BufferTable for HostTable {
    fn alloc(&mut self, buffer: HostBuffer) -> Result<BufId, crate::CudaError> {
        Ok(self.push(buffer))
    }
}

/// A table of host buffers, the emulator's (and the tests') counterpart of the device's.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostTable {
    pub buffers: Vec<HostBuffer>,
}

impl HostTable {
    pub fn push(&mut self, buffer: HostBuffer) -> BufId {
        self.buffers.push(buffer);
        BufId(self.buffers.len() - 1)
    }

    pub fn f64(&mut self, values: &[f64]) -> BufId {
        self.push(HostBuffer::F64(values.to_vec()))
    }

    pub fn f32(&mut self, values: &[f32]) -> BufId {
        self.push(HostBuffer::F32(values.to_vec()))
    }

    pub fn i32(&mut self, values: &[i32]) -> BufId {
        self.push(HostBuffer::I32(values.to_vec()))
    }

    /// `len` float64 zeros.
    pub fn zeros(&mut self, len: usize) -> BufId {
        self.push(HostBuffer::F64(vec![0.0; len]))
    }

    /// `len` float32 zeros.
    pub fn zeros_f32(&mut self, len: usize) -> BufId {
        self.push(HostBuffer::F32(vec![0.0; len]))
    }

    /// Replaces the contents of buffer `id`.
    pub fn set(&mut self, id: BufId, buffer: HostBuffer) {
        assert_eq!(
            self.buffers[id.0].len(),
            buffer.len(),
            "buffer {} length",
            id.0
        );
        self.buffers[id.0] = buffer;
    }

    /// The values of buffer `id` as float64.
    pub fn get(&self, id: BufId) -> Vec<f64> {
        self.buffers[id.0].to_f64()
    }
}
