// SPDX-License-Identifier: Apache-2.0
// Operation arguments as owned Rust values, and their C forms: a `Prepared` value owns the C
// struct together with everything it points to, so it can travel with an operation in flight.
use std::ffi::CString;
use std::os::raw::{c_double, c_int};
use std::ptr;

use bluefog_sys as sys;

use crate::error::{Error, Result};

fn c_name(name: &Option<String>) -> Result<Option<CString>> {
    name.as_deref()
        .map(|n| {
            CString::new(n).map_err(|_| Error::invalid(format!("name {n:?} contains a NUL byte")))
        })
        .transpose()
}

fn name_ptr(name: &Option<CString>) -> *const std::os::raw::c_char {
    name.as_ref().map_or(ptr::null(), |n| n.as_ptr())
}

/// Arguments of broadcast, allgather and pair_gossip: an optional name matched across ranks.
/// Without a name, operations match by issue order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OpArgs {
    name: Option<String>,
}

impl OpArgs {
    /// Default arguments (automatic name).
    pub fn new() -> OpArgs {
        OpArgs::default()
    }

    /// Names the operation; every rank must use the same name.
    pub fn named(mut self, name: impl Into<String>) -> OpArgs {
        self.name = Some(name.into());
        self
    }

    pub(crate) fn prepare(&self) -> Result<Prepared> {
        let name = c_name(&self.name)?;
        let raw = Box::new(sys::bf_op_args { name: name_ptr(&name), ..Default::default() });
        Ok(Prepared { raw: Raw::Op(raw), _name: name, _arrays: Vec::new(), _weights: Vec::new() })
    }
}

/// How allreduce combines the ranks' tensors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReduceOp {
    /// The mean over ranks (floating types only), BlueFog's default.
    #[default]
    Average,
    /// The sum over ranks.
    Sum,
}

/// Arguments of allreduce.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AllreduceArgs {
    name: Option<String>,
    op: ReduceOp,
    machine_local: bool,
}

impl AllreduceArgs {
    /// Average over all ranks, automatic name.
    pub fn new() -> AllreduceArgs {
        AllreduceArgs::default()
    }

    /// Names the operation; every rank must use the same name.
    pub fn named(mut self, name: impl Into<String>) -> AllreduceArgs {
        self.name = Some(name.into());
        self
    }

    /// Chooses the reduction.
    pub fn op(mut self, op: ReduceOp) -> AllreduceArgs {
        self.op = op;
        self
    }

    /// Reduces over this machine's ranks only (averages divide by the local size).
    pub fn machine_local(mut self, machine_local: bool) -> AllreduceArgs {
        self.machine_local = machine_local;
        self
    }

    pub(crate) fn prepare(&self) -> Result<Prepared> {
        let name = c_name(&self.name)?;
        let raw = Box::new(sys::bf_allreduce_args {
            name: name_ptr(&name),
            op: match self.op {
                ReduceOp::Average => sys::BF_REDUCE_AVERAGE,
                ReduceOp::Sum => sys::BF_REDUCE_SUM,
            },
            machine_local: c_int::from(self.machine_local),
            ..Default::default()
        });
        Ok(Prepared {
            raw: Raw::Allreduce(raw),
            _name: name,
            _arrays: Vec::new(),
            _weights: Vec::new(),
        })
    }
}

/// How `neighbor_allreduce` sends this rank's tensor (docs/compression.md). The combine always
/// runs in the tensor's own precision.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Compression {
    /// The tensor as it is.
    None,
    /// Cast to bfloat16 on the wire (2 bytes per element).
    BFloat16,
    /// Cast to float16 on the wire (2 bytes per element).
    Float16,
    /// int8 with one f32 scale per 256 elements (about 1 byte per element).
    Int8,
    /// The `ratio` fraction of largest magnitudes, as index/value pairs.
    TopK {
        /// Fraction kept, in (0, 1].
        ratio: f64,
    },
}

impl Compression {
    pub(crate) fn raw(self) -> (sys::bf_compression, c_double) {
        match self {
            Compression::None => (sys::BF_COMPRESSION_NONE, 0.0),
            Compression::BFloat16 => (sys::BF_COMPRESSION_BFLOAT16, 0.0),
            Compression::Float16 => (sys::BF_COMPRESSION_FLOAT16, 0.0),
            Compression::Int8 => (sys::BF_COMPRESSION_INT8, 0.0),
            Compression::TopK { ratio } => (sys::BF_COMPRESSION_TOPK, ratio),
        }
    }
}

/// Arguments of the neighbor operations: who sends to whom, with which weights.
///
/// * Static (the default): send to the topology's out-neighbors, receive from its in-neighbors,
///   with the topology's weights (weighted topology) or uniform `1/(in-degree+1)`.
/// * [`with_weights`](Self::with_weights): explicit self weight and per-source weights; in
///   static mode the sources must be in-neighbors, and in-neighbors left out weigh 0.
/// * [`dynamic`](Self::dynamic) / [`dynamic_scaled`](Self::dynamic_scaled): this call's own
///   destinations replace the topology (any ranks, possibly none); the sources and their
///   weights come from `with_weights`, which dynamic mode requires.
///
/// For rank i, `neighbor_allreduce` computes
/// `out_i = self_weight * in_i + sum_j src_weight[j] * dst_weight_j[i] * in_j`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NeighborArgs {
    name: Option<String>,
    weights: Option<(f64, Vec<i32>, Vec<f64>)>,
    destinations: Option<(Vec<i32>, Option<Vec<f64>>)>,
    check_topology: bool,
    compression: Option<Compression>,
    error_feedback: Option<bool>,
    consensus_step: Option<f64>,
}

impl NeighborArgs {
    /// Static mode with the topology's weights, automatic name.
    pub fn new() -> NeighborArgs {
        NeighborArgs::default()
    }

    /// Names the operation; every rank must use the same name.
    pub fn named(mut self, name: impl Into<String>) -> NeighborArgs {
        self.name = Some(name.into());
        self
    }

    /// Sets this rank's self weight and the ranks it receives from with their weights.
    pub fn with_weights(mut self, self_weight: f64, sources: &[(i32, f64)]) -> NeighborArgs {
        let (ranks, weights) = sources.iter().copied().unzip();
        self.weights = Some((self_weight, ranks, weights));
        self
    }

    /// Dynamic mode: this call sends to `destinations` (unscaled) instead of the topology.
    pub fn dynamic(mut self, destinations: &[i32]) -> NeighborArgs {
        self.destinations = Some((destinations.to_vec(), None));
        self
    }

    /// Dynamic mode with the copy sent to each destination scaled by its weight (at the sender).
    pub fn dynamic_scaled(mut self, destinations: &[(i32, f64)]) -> NeighborArgs {
        let (ranks, weights) = destinations.iter().copied().unzip();
        self.destinations = Some((ranks, Some(weights)));
        self
    }

    /// Verifies the dynamic send/receive lists of every rank against each other first (one
    /// allgather), failing on every rank with a message naming the inconsistent pairs.
    pub fn check_topology(mut self, check: bool) -> NeighborArgs {
        self.check_topology = check;
        self
    }

    /// Compresses what this rank sends (`neighbor_allreduce`; every rank of an exchange alike).
    /// Lossy modes keep error feedback by default, which needs a [`named`](Self::named)
    /// operation with the same shape every call. Without a call: the `bf_init` default.
    pub fn compression(mut self, compression: Compression) -> NeighborArgs {
        self.compression = Some(compression);
        self
    }

    /// Turns error feedback on or off (default: on for lossy compression). Off sends the encoded
    /// tensor itself, and repeated averaging drifts from the mean.
    pub fn error_feedback(mut self, on: bool) -> NeighborArgs {
        self.error_feedback = Some(on);
        self
    }

    /// The consensus step of compressed averaging, in (0, 1] (default 1; top-k: min(1, 2 ratio)).
    pub fn consensus_step(mut self, step: f64) -> NeighborArgs {
        self.consensus_step = Some(step);
        self
    }

    pub(crate) fn prepare(&self) -> Result<Prepared> {
        let name = c_name(&self.name)?;
        let count = |n: usize| {
            c_int::try_from(n).map_err(|_| Error::invalid(format!("{n} ranks do not fit a C int")))
        };
        let mut arrays: Vec<Vec<c_int>> = Vec::new();
        let mut weights: Vec<Vec<c_double>> = Vec::new();
        let mut raw = sys::bf_neighbor_args { name: name_ptr(&name), ..Default::default() };
        if let Some((self_weight, ranks, src_weights)) = &self.weights {
            raw.has_weights = 1;
            raw.self_weight = *self_weight;
            raw.src_count = count(ranks.len())?;
            arrays.push(ranks.clone());
            weights.push(src_weights.clone());
            // Moving a Vec into the outer Vec keeps its heap buffer where it is.
            raw.src_ranks = arrays.last().unwrap().as_ptr();
            raw.src_weights = weights.last().unwrap().as_ptr();
        }
        if let Some((ranks, scales)) = &self.destinations {
            raw.dynamic = 1;
            raw.dst_count = count(ranks.len())?;
            arrays.push(ranks.clone());
            raw.dst_ranks = arrays.last().unwrap().as_ptr();
            if let Some(scales) = scales {
                weights.push(scales.clone());
                raw.dst_weights = weights.last().unwrap().as_ptr();
            }
        }
        raw.check_topology = c_int::from(self.check_topology);
        if let Some(compression) = self.compression {
            (raw.compression, raw.topk_ratio) = compression.raw();
        }
        raw.error_feedback = match self.error_feedback {
            None => sys::BF_ERROR_FEEDBACK_DEFAULT,
            Some(true) => sys::BF_ERROR_FEEDBACK_ON,
            Some(false) => sys::BF_ERROR_FEEDBACK_OFF,
        };
        raw.consensus_step = self.consensus_step.unwrap_or(0.0);
        Ok(Prepared {
            raw: Raw::Neighbor(Box::new(raw)),
            _name: name,
            _arrays: arrays,
            _weights: weights,
        })
    }
}

/// The C struct of one operation's arguments.
pub(crate) enum Raw {
    Op(Box<sys::bf_op_args>),
    Allreduce(Box<sys::bf_allreduce_args>),
    Neighbor(Box<sys::bf_neighbor_args>),
}

/// A C argument struct with the name and arrays it points into. The heap buffers never move,
/// so the pointers stay valid however the `Prepared` value is moved.
pub(crate) struct Prepared {
    pub(crate) raw: Raw,
    _name: Option<CString>,
    _arrays: Vec<Vec<c_int>>,
    _weights: Vec<Vec<c_double>>,
}

// SAFETY: the raw pointers point into buffers this value owns and nobody mutates.
unsafe impl Send for Prepared {}
unsafe impl Sync for Prepared {}

impl Prepared {
    pub(crate) fn op(&self) -> *const sys::bf_op_args {
        match &self.raw {
            Raw::Op(raw) => &**raw,
            _ => unreachable!("not bf_op_args"),
        }
    }

    pub(crate) fn allreduce(&self) -> *const sys::bf_allreduce_args {
        match &self.raw {
            Raw::Allreduce(raw) => &**raw,
            _ => unreachable!("not bf_allreduce_args"),
        }
    }

    pub(crate) fn neighbor(&self) -> *const sys::bf_neighbor_args {
        match &self.raw {
            Raw::Neighbor(raw) => &**raw,
            _ => unreachable!("not bf_neighbor_args"),
        }
    }
}
