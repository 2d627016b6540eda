// SPDX-License-Identifier: Apache-2.0
//! Safe Rust API of BlueFog-C, a neighbor-collective engine for decentralized training.
//!
//! Every rank talks only to its neighbors in a virtual topology: [`Context::neighbor_allreduce`]
//! replaces a rank's tensor by a weighted average of its own and its in-neighbors' tensors, which
//! is what makes decentralized SGD scale. Programs run under `mpirun` (or `bfrun`), one process
//! per rank.
//!
//! ```no_run
//! use bluefog::{Context, NeighborArgs, Topology};
//!
//! let bf = Context::init()?;
//! bf.set_topology(&Topology::exponential_two(bf.size())?, false)?;
//! let mut x = vec![bf.rank() as f64; 4];
//! for _ in 0..20 {
//!     bf.neighbor_allreduce_in_place(&mut x, &NeighborArgs::new())?;
//! }
//! # Ok::<(), bluefog::Error>(())
//! ```
//!
//! * Operations take `&[T]` / `&mut [T]` for the [`Element`] types (weighted averages need a
//!   [`FloatElement`]), owned `Vec<T>` for asynchronous forms that return a [`Pending`], and raw
//!   DLPack tensors (e.g. device memory) through `unsafe fn *_raw` forms.
//! * Failures are [`Error`]s carrying the library's [`Status`] and its message, which names the
//!   argument and the rank. A collective mismatch fails on every rank involved.
//! * Operations are collective over the ranks they involve and must be issued in the same order on
//!   each of them.
//! * [`Window`] exposes a tensor it owns to one-sided puts, accumulates and gets by the
//!   neighbors (BlueFog's `win_*` operations); creating and freeing it are collective.
#![warn(missing_docs)]

mod args;
mod context;
mod element;
mod error;
mod pending;
pub mod schedule;
mod tensor;
mod topology;
mod window;

pub use args::{AllreduceArgs, Compression, NeighborArgs, OpArgs, ReduceOp};
pub use bluefog_sys as sys;
pub use context::{Context, InitOptions, MatchingMode, MpiComm, TimelineActivity};
pub use element::{Bf16, Element, FloatElement, F16};
pub use error::{Error, Result, Status};
pub use pending::Pending;
pub use schedule::SendRecv;
pub use tensor::{Gathered, ManagedTensor};
pub use topology::{Neighbor, RingStyle, Topology};
pub use window::{PeerLock, WinOpArgs, WinUpdateArgs, Window, WindowLock};

/// The version of the loaded library as `(major, minor, patch)`.
pub fn version() -> (i32, i32, i32) {
    // SAFETY: bf_get_version never fails.
    let code = unsafe { sys::bf_get_version() };
    (code / 10000, code / 100 % 100, code % 100)
}

/// True between a successful initialization and finalization in this process.
pub fn is_initialized() -> bool {
    // SAFETY: a plain query.
    unsafe { sys::bf_initialized() == 1 }
}

/// The CUDA devices the engine can use for GPU tensors: 0 when the library was built without
/// CUDA or no GPU is visible. Needs no initialization.
pub fn cuda_device_count() -> usize {
    // SAFETY: a plain query.
    usize::try_from(unsafe { sys::bf_cuda_device_count() }).unwrap_or(0)
}

/// Whether this build has the NCCL backend for GPU tensors (false: they are all staged through
/// host memory; docs/gpu.md says which operations take NCCL).
pub fn nccl_built() -> bool {
    // SAFETY: a plain query.
    unsafe { sys::bf_nccl_built() == 1 }
}
