// SPDX-License-Identifier: Apache-2.0
// Topology: an owned weighted digraph (bf_topology*), its generators and queries.
use std::fmt;
use std::os::raw::c_int;
use std::ptr::{self, NonNull};

use bluefog_sys as sys;

use crate::error::{check, Error, Result};

/// Direction of a ring topology.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingStyle {
    /// i <-> i-1 and i <-> i+1, weights 1/3.
    Bidirectional,
    /// i sends to i-1, weights 1/2.
    Left,
    /// i sends to i+1, weights 1/2.
    Right,
}

/// One neighbor of a rank and the weight of the edge between them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Neighbor {
    /// The neighbor's rank.
    pub rank: i32,
    /// `W[neighbor][rank]` for in-neighbors, `W[rank][neighbor]` for out-neighbors.
    pub weight: f64,
}

/// A weighted digraph on `size` ranks. Edge i -> j with weight `W[i][j]` means "i sends to j and
/// j weighs i's value by `W[i][j]`"; `W[i][i]` is i's self weight. Plain values owned by the
/// caller, independent of initialization; every rank builds the same graph deterministically.
pub struct Topology {
    raw: NonNull<sys::bf_topology>,
}

// SAFETY: a bf_topology is a plain value; the library only reads it through const pointers,
// and mutation happens only through `&mut self` (drop).
unsafe impl Send for Topology {}
unsafe impl Sync for Topology {}

/// Runs a C constructor that writes a `bf_topology*`.
fn build(make: impl FnOnce(*mut *mut sys::bf_topology) -> sys::bf_status) -> Result<Topology> {
    let mut out = ptr::null_mut();
    check(make(&mut out))?;
    NonNull::new(out)
        .map(|raw| Topology { raw })
        .ok_or_else(|| Error::new(crate::Status::Internal, "the library returned a NULL topology"))
}

fn c_len(n: usize, what: &str) -> Result<c_int> {
    c_int::try_from(n).map_err(|_| Error::invalid(format!("{what}: {n} does not fit a C int")))
}

impl Topology {
    /// BlueFog's exponential graph: rank i sends to i + base^k (mod size).
    pub fn exponential(size: i32, base: i32) -> Result<Topology> {
        build(|out| unsafe { sys::bf_topology_exponential(size, base, out) })
    }

    /// The exponential graph with base 2 (BlueFog's default topology).
    pub fn exponential_two(size: i32) -> Result<Topology> {
        build(|out| unsafe { sys::bf_topology_exponential_two(size, out) })
    }

    /// The symmetric exponential graph: i <-> i ± base^k.
    pub fn symmetric_exponential(size: i32, base: i32) -> Result<Topology> {
        build(|out| unsafe { sys::bf_topology_symmetric_exponential(size, base, out) })
    }

    /// A ring in the given direction.
    pub fn ring(size: i32, style: RingStyle) -> Result<Topology> {
        let style = match style {
            RingStyle::Bidirectional => sys::BF_RING_BIDIRECTIONAL,
            RingStyle::Left => sys::BF_RING_LEFT,
            RingStyle::Right => sys::BF_RING_RIGHT,
        };
        build(|out| unsafe { sys::bf_topology_ring(size, style, out) })
    }

    /// A star around `center_rank`.
    pub fn star(size: i32, center_rank: i32) -> Result<Topology> {
        build(|out| unsafe { sys::bf_topology_star(size, center_rank, out) })
    }

    /// A 2-D mesh with Metropolis–Hastings weights; `shape` is `(rows, cols)`, or `None` for
    /// BlueFog's default (the largest divisor of size that is at most sqrt(size) rows).
    pub fn mesh_grid_2d(size: i32, shape: Option<(i32, i32)>) -> Result<Topology> {
        let (rows, cols) = shape.unwrap_or((0, 0));
        build(|out| unsafe { sys::bf_topology_mesh_grid_2d(size, rows, cols, out) })
    }

    /// Every rank sends to every other rank.
    pub fn fully_connected(size: i32) -> Result<Topology> {
        build(|out| unsafe { sys::bf_topology_fully_connected(size, out) })
    }

    /// From a dense row-major `size * size` matrix: each non-zero `W[i][j]` is an edge i -> j.
    pub fn from_matrix(size: i32, weights: &[f64]) -> Result<Topology> {
        let n = usize::try_from(size).unwrap_or(0);
        if weights.len() != n * n {
            return Err(Error::invalid(format!(
                "from_matrix: {} weights given for size {size}, which needs {}",
                weights.len(),
                n * n
            )));
        }
        build(|out| unsafe { sys::bf_topology_from_matrix(size, weights.as_ptr(), out) })
    }

    /// From an edge list `(src, dst, weight)`. Duplicate edges are rejected.
    pub fn from_edges(size: i32, edges: &[(i32, i32, f64)]) -> Result<Topology> {
        let src: Vec<c_int> = edges.iter().map(|e| e.0).collect();
        let dst: Vec<c_int> = edges.iter().map(|e| e.1).collect();
        let weights: Vec<f64> = edges.iter().map(|e| e.2).collect();
        let count = c_len(edges.len(), "from_edges")?;
        build(|out| unsafe {
            sys::bf_topology_from_edges(
                size,
                count,
                src.as_ptr(),
                dst.as_ptr(),
                weights.as_ptr(),
                out,
            )
        })
    }

    /// Number of ranks.
    pub fn size(&self) -> i32 {
        // SAFETY: self.raw is a live topology.
        unsafe { sys::bf_topology_size(self.raw.as_ptr()) }
    }

    /// `W[from][to]`, 0.0 when there is no edge.
    pub fn weight(&self, from: i32, to: i32) -> Result<f64> {
        let mut weight = 0.0;
        check(unsafe { sys::bf_topology_weight(self.raw.as_ptr(), from, to, &mut weight) })?;
        Ok(weight)
    }

    /// The dense row-major `size * size` weight matrix.
    pub fn to_matrix(&self) -> Result<Vec<f64>> {
        let n = self.size() as usize;
        let mut matrix = vec![0.0; n * n];
        check(unsafe { sys::bf_topology_to_matrix(self.raw.as_ptr(), matrix.as_mut_ptr()) })?;
        Ok(matrix)
    }

    fn neighbors(
        &self,
        rank: i32,
        query: unsafe extern "C" fn(
            *const sys::bf_topology,
            c_int,
            *mut c_int,
            *mut f64,
            c_int,
            *mut c_int,
        ) -> sys::bf_status,
    ) -> Result<Vec<Neighbor>> {
        let capacity = (self.size() - 1).max(0);
        let mut ranks = vec![0; capacity as usize];
        let mut weights = vec![0.0; capacity as usize];
        let mut count = 0;
        check(unsafe {
            query(
                self.raw.as_ptr(),
                rank,
                ranks.as_mut_ptr(),
                weights.as_mut_ptr(),
                capacity,
                &mut count,
            )
        })?;
        Ok((0..count as usize).map(|k| Neighbor { rank: ranks[k], weight: weights[k] }).collect())
    }

    /// In-neighbors of `rank` (ranks j != rank with an edge j -> rank), ascending, with
    /// `W[j][rank]`.
    pub fn in_neighbors(&self, rank: i32) -> Result<Vec<Neighbor>> {
        self.neighbors(rank, sys::bf_topology_in_neighbors)
    }

    /// Out-neighbors of `rank` (ranks j != rank with an edge rank -> j), ascending, with
    /// `W[rank][j]`.
    pub fn out_neighbors(&self, rank: i32) -> Result<Vec<Neighbor>> {
        self.neighbors(rank, sys::bf_topology_out_neighbors)
    }

    /// `rho = max(|lambda_2|, |lambda_n|)` of W: the per-step contraction of repeated averaging
    /// (smaller mixes faster; 1 means no mixing). Needs a row- or column-stochastic W.
    pub fn spectral_gap(&self) -> Result<f64> {
        let mut rho = 0.0;
        check(unsafe { sys::bf_topology_spectral_gap(self.raw.as_ptr(), &mut rho) })?;
        Ok(rho)
    }

    /// The underlying `bf_topology*`, still owned by `self`.
    pub fn as_ptr(&self) -> *const sys::bf_topology {
        self.raw.as_ptr()
    }

    /// Releases ownership; free the result with `bf_topology_free`.
    pub fn into_raw(self) -> *mut sys::bf_topology {
        let raw = self.raw.as_ptr();
        std::mem::forget(self);
        raw
    }

    /// Takes ownership of a topology from the C API.
    ///
    /// # Safety
    /// `raw` must come from a `bf_topology_*` constructor, not be freed elsewhere, and not be used
    /// through any other pointer afterwards.
    pub unsafe fn from_raw(raw: NonNull<sys::bf_topology>) -> Topology {
        Topology { raw }
    }
}

impl Clone for Topology {
    fn clone(&self) -> Topology {
        build(|out| unsafe { sys::bf_topology_copy(self.raw.as_ptr(), out) })
            .expect("bf_topology_copy failed (out of memory)")
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        // SAFETY: we own the topology and nothing else refers to it.
        unsafe { sys::bf_topology_free(self.raw.as_ptr()) }
    }
}

impl fmt::Debug for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Topology").field("size", &self.size()).finish_non_exhaustive()
    }
}
