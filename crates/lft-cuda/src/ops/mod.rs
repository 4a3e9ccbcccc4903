//! The backend's operations as [`KernelCall`](crate::call::KernelCall)s on buffers of the
//! caller's table: what a GPU flow, a GPU HMC and their tests launch. Each builder checks sizes
//! and picks the launch geometry ([`crate::launch`]); the runtime and the host emulator run
//! the calls it returns.

pub mod conv;
pub mod coupling;
pub mod phi4;
pub mod random;
pub mod reduce;

use crate::call::{Arg, BufId};

/// `Arg::Buf`, or `Arg::Null` for an output left out.
pub(crate) fn optional(buf: Option<BufId>) -> Arg {
    buf.map_or(Arg::Null, Arg::Buf)
}
