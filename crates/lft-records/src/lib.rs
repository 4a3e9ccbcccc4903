//! The seam between samplers and storage.
//!
//! A sampler hands [`RecordBlock`]s (configurations, named float columns, accepted flags and
//! generator states, column by column) to a [`Sink`]; a [`Store`] is a sink that also tells
//! what it already holds, so a run can resume. [`SamplerKind`] names the sampler and fixes the
//! columns its blocks carry; [`ChainMeta`] holds the settings a chain ran with. The ensemble
//! file of lft-io is one `Store`, [`MemoryStore`] another (tests, small runs).
//!
//! This crate knows no sampler and no file format: both sides depend on it, not on each
//! other.

mod block;
mod kind;
mod memory;
mod settings;

pub use block::{RecordBlock, Sink, Store, StoredChain, StoredRow};
pub use kind::{SamplerKind, UnknownName};
pub use memory::MemoryStore;
pub use settings::{ChainMeta, ChainSettings, Integrator, OMELYAN_LAMBDA};
